//! `scim_tokens` and the SCIM side of the directory's tables: an account's SCIM token (its
//! hash, the previous one while a rotation overlaps), the last request it received; pushed
//! resources listed through a filter compiled to SQL; a push written with its feed events in one
//! transaction, taken in the account's order (the account's `dir_sync` row is locked first).

use std::collections::BTreeSet;

use scim_expr::Filter;
use serde_json::{Map, Value};

use super::directory::{BATCH, Bulk, NEW_FEED_STREAMS, UserRow, group_of, user_of, write_changes};
use super::scim_sql::{Dialect, Piece, compile};
use super::{Pool, Store, with_pool};
use crate::error::{Conflict, Error, Result};
use crate::model::scim::{ScimKind, ScimState};
use crate::model::{AccountName, ConnectionMethod, DirGroup, DirUser, DirectoryChanges, now};

/// A pushed user as kept: its directory row and its SCIM resource.
#[derive(Debug, Clone)]
pub struct ScimUser {
    pub user: DirUser,
    pub scim: Option<Map<String, Value>>,
}

/// A pushed group as kept.
#[derive(Debug, Clone)]
pub struct ScimGroup {
    pub group: DirGroup,
    pub scim: Option<Map<String, Value>>,
}

/// What a push reads before it decides what to write.
#[derive(Debug, Clone, Copy)]
pub enum ScimTarget<'a> {
    /// A user (`None`: one being made).
    User(Option<&'a str>),
    /// A group (`None`: one being made), its members when `members` (a replace or a change of
    /// them), and which of the users `candidates` exist.
    Group {
        id: Option<&'a str>,
        members: bool,
        candidates: &'a [String],
    },
}

/// What a push read.
#[derive(Debug, Clone, Default)]
pub struct ScimLoaded {
    pub user: Option<ScimUser>,
    pub group: Option<ScimGroup>,
    /// The group's members (read when asked for).
    pub members: BTreeSet<String>,
    /// Those of the candidates that are users of the account.
    pub known: BTreeSet<String>,
}

/// What a push writes: the directory's changes with their events, the resources as kept, and
/// the `userName` that must be no other user's.
#[derive(Debug, Clone, Default)]
pub struct ScimWrite {
    pub changes: DirectoryChanges,
    pub users: Vec<(String, Map<String, Value>)>,
    pub groups: Vec<(String, Map<String, Value>)>,
    /// (userName, the id of the user who has it).
    pub unique_login: Option<(String, String)>,
}

type ScimUserRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

fn split_user_row(r: ScimUserRow) -> (UserRow, Option<String>) {
    (
        (r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7, r.8, r.9, r.10, r.11, r.12),
        r.13,
    )
}

type ScimGroupRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn kept_json(table: &'static str, id: &str, text: Option<String>) -> Result<Option<Map<String, Value>>> {
    text.map(|t| {
        serde_json::from_str(&t).map_err(|_| Error::Unreadable {
            table,
            row: id.to_owned(),
            column: "scim",
            value: t.chars().take(80).collect(),
        })
    })
    .transpose()
}

fn scim_user(r: ScimUserRow) -> Result<ScimUser> {
    let (row, scim) = split_user_row(r);
    let user = user_of(row)?;
    let scim = kept_json("dir_users", &user.id, scim)?;
    Ok(ScimUser { user, scim })
}

fn scim_group(r: ScimGroupRow) -> Result<ScimGroup> {
    let group = group_of((r.0, r.1, r.2, r.3, r.4, r.5, r.6));
    let scim = kept_json("dir_groups", &group.id, r.7)?;
    Ok(ScimGroup { group, scim })
}

const SELECT_SCIM_USER: &str = "SELECT u.id, u.status, u.login, u.email, u.first_name, u.last_name, u.created, u.activated, u.status_changed, u.last_login, u.last_updated, u.profile, u.external_id, u.scim FROM dir_users u WHERE u.account = ";
const SELECT_SCIM_GROUP: &str = "SELECT g.id, g.group_type, g.name, g.description, g.created, g.last_updated, g.last_membership_updated, g.scim FROM dir_groups g WHERE g.account = ";

/// The pieces of a compiled filter onto a query.
macro_rules! push_pieces {
    ($q:expr, $pieces:expr) => {
        for piece in $pieces {
            match piece {
                Piece::Sql(s) => {
                    $q.push(s);
                }
                Piece::Text(t) => {
                    $q.push_bind(t);
                }
                Piece::Number(n) => {
                    $q.push_bind(n);
                }
            }
        }
    };
}

/// A page of a listing: how many rows of `$from` (`… WHERE x.account = `) the compiled
/// filter selects, and up to `$count` of them from `$start` by `$select`, in the order of
/// `$order` (the ids).
macro_rules! page {
    ($store:expr, $a:expr, $pieces:expr, $from:expr, $select:expr, $order:expr, $start:expr, $count:expr) => {
        with_pool!($store, pool => {
            let mut q = sqlx::QueryBuilder::new(concat!("SELECT COUNT(*) FROM ", $from));
            q.push_bind($a).push(" AND (");
            push_pieces!(q, $pieces.clone());
            q.push(")");
            let (total,): (i64,) = q.build_query_as().persistent(false).fetch_one(pool).await?;
            let rows = if $count > 0 && $start < total {
                let mut q = sqlx::QueryBuilder::new($select);
                q.push_bind($a).push(" AND (");
                push_pieces!(q, $pieces);
                q.push(") ORDER BY ").push($order).push(" LIMIT ").push_bind($count).push(" OFFSET ").push_bind($start);
                q.build_query_as().persistent(false).fetch_all(pool).await?
            } else {
                Vec::new()
            };
            (total, rows)
        })
    };
}

impl Store {
    pub(super) fn dialect(&self) -> Dialect {
        match self.pool {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Turns SCIM on for `account` of org `org_url`: a connection whose method is `scim` and the
    /// token's hash, in one transaction with the audit record.
    ///
    /// # Errors
    /// [`Conflict::ScimOn`] when it is on already; [`Conflict::OtherSource`] when the account
    /// is connected another way; [`Error::Database`].
    pub async fn enable_scim(&self, account: &AccountName, org_url: &str, token_hash: &str) -> Result<()> {
        let a = account.as_str();
        let t = now();
        let empty = self.key.seal(&super::keys::connection_ctx(a, "access_token"), b"");
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let method: Option<(String,)> = sqlx::query_as("SELECT method FROM connections WHERE account = $1")
                .bind(a)
                .fetch_optional(&mut *tx)
                .await?;
            match method {
                Some((m,)) if m == ConnectionMethod::Scim.as_str() => {
                    return Err(Conflict::ScimOn { account: a.to_owned() }.into());
                }
                Some((m,)) => {
                    return Err(Conflict::OtherSource {
                        account: a.to_owned(),
                        source_now: format!("the API sync (connected by {m})"),
                        what: format!(
                            "an account's directory has one source at a time: disconnect it first (okta-bridge connections disconnect {a}), then turn SCIM on"
                        ),
                    }
                    .into());
                }
                None => {}
            }
            sqlx::query(
                "INSERT INTO connections (account, org_url, scopes, token_type, access_token, refresh_token, expires_at, version, created_at, updated_at, method) \
                 VALUES ($1, $2, '', 'SCIM', $3, NULL, $4, 1, $5, $5, 'scim')",
            )
            .bind(a)
            .bind(org_url)
            .bind(empty)
            .bind(super::connections::NEVER)
            .bind(t)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO scim_tokens (account, token_hash, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (account) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at, \
                 previous_hash = NULL, previous_until = NULL, rotated_at = NULL, last_request_at = NULL, last_request = NULL, last_status = NULL",
            )
            .bind(a)
            .bind(token_hash)
            .bind(t)
            .execute(&mut *tx)
            .await?;
            sqlx::query(super::audit::INSERT)
                .bind(a)
                .bind(org_url)
                .bind("scim_enabled")
                .bind("SCIM push turned on: the customer's Okta provisions this account's directory")
                .bind(t)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives `account` a new SCIM token (`token_hash`); the current one keeps working until
    /// `previous_until`. Answers whether SCIM is on.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn rotate_scim(&self, account: &AccountName, token_hash: &str, previous_until: i64) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE scim_tokens SET previous_hash = token_hash, previous_until = $3, token_hash = $2, rotated_at = $4 WHERE account = $1",
            )
            .bind(account.as_str())
            .bind(token_hash)
            .bind(previous_until)
            .bind(now())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// Forgets `account`'s SCIM token (its connection goes the way every connection goes).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn disable_scim(&self, account: &AccountName) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query("DELETE FROM scim_tokens WHERE account = $1")
                .bind(account.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    /// `account`'s SCIM state, when SCIM is on.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn scim_state(&self, account: &AccountName) -> Result<Option<ScimState>> {
        type Row = (i64, Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<i64>);
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT created_at, rotated_at, previous_until, last_request_at, last_request, last_status FROM scim_tokens WHERE account = $1",
            )
            .bind(account.as_str())
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|r| ScimState {
            created_at: r.0,
            rotated_at: r.1,
            previous_until: r.2,
            last_request_at: r.3,
            last_request: r.4,
            last_status: r.5,
        }))
    }

    /// Whether `token_hash` is `account`'s SCIM token (or its previous one, within the
    /// rotation's overlap).
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn scim_token_matches(&self, account: &AccountName, token_hash: &str) -> Result<bool> {
        let (n,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*) FROM scim_tokens WHERE account = $1 AND (token_hash = $2 OR (previous_hash = $2 AND previous_until > $3))",
            )
            .bind(account.as_str())
            .bind(token_hash)
            .bind(now())
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// Records the last request `account`'s SCIM endpoint received (`request`: method and
    /// path, never a body) and the status it was answered with.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn record_scim_request(&self, account: &AccountName, request: &str, status: u16) -> Result<()> {
        // The same request answered the same within the same second is not written again (a
        // bulk push writes this row once a second, not once a request).
        const RECORD: &str = "UPDATE scim_tokens SET last_request_at = $2, last_request = $3, last_status = $4 WHERE account = $1 \
             AND NOT (last_request_at IS NOT NULL AND last_request_at = $2 AND last_request = $3 AND last_status = $4)";
        macro_rules! record {
            () => {
                sqlx::query(RECORD)
                    .bind(account.as_str())
                    .bind(now())
                    .bind(request)
                    .bind(i64::from(status))
            };
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                record!().execute(pool).await?;
            }
            // What the operator reads to see that Okta reached us, not data a push depends on:
            // committed without waiting for the WAL's flush (PostgreSQL's asynchronous commit;
            // a crash may lose the last few milliseconds of it, never a push), so a request
            // costs the one flush of its push, not two more.
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off")
                    .execute(&mut *tx)
                    .await?;
                record!().execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Up to `count` users of `account` that `filter` selects, from the `start`th (0-based) in
    /// the order of their ids, and how many it selects in all.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a filter on a schema users do not have; [`Error::Database`].
    pub async fn scim_users(
        &self,
        account: &AccountName,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Result<(i64, Vec<ScimUser>)> {
        let pieces = self.pieces(filter, ScimKind::User)?;
        // `userName eq` (Okta's check before every create) reads one row through the login
        // index; SQLite, without statistics, would rather walk the primary key in id order to
        // skip the sort, reading every user of the account. `+u.id` keeps the key out of it.
        let by_login = pieces
            .first()
            .is_some_and(|p| matches!(p, Piece::Sql(s) if s.starts_with("lower(u.login")));
        let order = if by_login && self.dialect() == Dialect::Sqlite {
            "+u.id"
        } else {
            "u.id"
        };
        let (total, rows): (i64, Vec<ScimUserRow>) = page!(
            self,
            account.as_str(),
            pieces,
            "dir_users u WHERE u.account = ",
            SELECT_SCIM_USER,
            order,
            start,
            count
        );
        Ok((total, rows.into_iter().map(scim_user).collect::<Result<_>>()?))
    }

    /// [`Store::scim_users`] for groups.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a filter on a schema groups do not have; [`Error::Database`].
    pub async fn scim_groups(
        &self,
        account: &AccountName,
        filter: Option<&Filter>,
        start: i64,
        count: i64,
    ) -> Result<(i64, Vec<ScimGroup>)> {
        let pieces = self.pieces(filter, ScimKind::Group)?;
        let (total, rows): (i64, Vec<ScimGroupRow>) = page!(
            self,
            account.as_str(),
            pieces,
            "dir_groups g WHERE g.account = ",
            SELECT_SCIM_GROUP,
            "g.id",
            start,
            count
        );
        Ok((total, rows.into_iter().map(scim_group).collect::<Result<_>>()?))
    }

    fn pieces(&self, filter: Option<&Filter>, kind: ScimKind) -> Result<Vec<Piece>> {
        match filter {
            None => Ok(vec![Piece::Sql("1 = 1".into())]),
            Some(f) => compile(f, kind, self.dialect()).map_err(|e| Error::invalid("filter", e)),
        }
    }

    /// One user of `account`.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn scim_user(&self, account: &AccountName, id: &str) -> Result<Option<ScimUser>> {
        let row: Option<ScimUserRow> = with_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(SELECT_SCIM_USER);
            q.push_bind(account.as_str()).push(" AND u.id = ").push_bind(id);
            q.build_query_as().fetch_optional(pool).await?
        });
        row.map(scim_user).transpose()
    }

    /// One group of `account`, with up to `limit` of its members (id, userName) in the order
    /// of their ids.
    ///
    /// # Errors
    /// [`Error::Database`]; [`Error::Unreadable`].
    pub async fn scim_group(&self, account: &AccountName, id: &str) -> Result<Option<ScimGroup>> {
        let row: Option<ScimGroupRow> = with_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(SELECT_SCIM_GROUP);
            q.push_bind(account.as_str()).push(" AND g.id = ").push_bind(id);
            q.build_query_as().fetch_optional(pool).await?
        });
        row.map(scim_group).transpose()
    }

    /// The members of group `id` of `account`: (user id, userName), in the order of their ids.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn scim_members(&self, account: &AccountName, id: &str) -> Result<Vec<(String, String)>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT m.user_id, u.login FROM dir_members m JOIN dir_users u ON u.account = m.account AND u.id = m.user_id \
                 WHERE m.account = $1 AND m.group_id = $2 ORDER BY m.user_id",
            )
            .bind(account.as_str())
            .bind(id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// A push to `account`: in one transaction, taken in the account's order, reads `target`,
    /// lets `plan` decide what to write from it, checks that the `userName` it keeps is no
    /// other user's, and writes the changes, their feed events (numbered after the account's
    /// last) and the resources as kept. Answers what `plan` answered.
    ///
    /// # Errors
    /// What `plan` returns (nothing is written then); [`Error::Scim`] `uniqueness` (409) for a
    /// `userName` another user has; [`Error::Database`].
    pub async fn scim_push<T>(
        &self,
        account: &AccountName,
        target: ScimTarget<'_>,
        plan: impl FnOnce(ScimLoaded) -> Result<(ScimWrite, T)>,
    ) -> Result<T> {
        let a = account.as_str();
        let at = now();
        let dialect = self.dialect();
        let answer = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let first = sqlx::query("INSERT INTO dir_sync (account) VALUES ($1) ON CONFLICT (account) DO NOTHING")
                .bind(a)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if first == 1 {
                sqlx::query(NEW_FEED_STREAMS).bind(a).execute(&mut *tx).await?;
            }
            // The account's row, locked for the transaction: pushes to one account are
            // written one after another, in the order of their events. (SQLite has no
            // FOR UPDATE: a write takes its lock, held until the commit.)
            sqlx::query(match dialect {
                Dialect::Sqlite => "UPDATE dir_sync SET next_seq = next_seq WHERE account = $1",
                Dialect::Postgres => "SELECT next_seq FROM dir_sync WHERE account = $1 FOR UPDATE",
            })
            .bind(a)
            .execute(&mut *tx)
            .await?;
            let mut loaded = ScimLoaded::default();
            match target {
                ScimTarget::User(Some(id)) => {
                    let mut q = sqlx::QueryBuilder::new(SELECT_SCIM_USER);
                    q.push_bind(a).push(" AND u.id = ").push_bind(id);
                    let row: Option<ScimUserRow> = q.build_query_as().fetch_optional(&mut *tx).await?;
                    loaded.user = row.map(scim_user).transpose()?;
                }
                ScimTarget::User(None) => {}
                ScimTarget::Group { id, members, candidates } => {
                    if let Some(id) = id {
                        let mut q = sqlx::QueryBuilder::new(SELECT_SCIM_GROUP);
                        q.push_bind(a).push(" AND g.id = ").push_bind(id);
                        let row: Option<ScimGroupRow> = q.build_query_as().fetch_optional(&mut *tx).await?;
                        loaded.group = row.map(scim_group).transpose()?;
                        if members && loaded.group.is_some() {
                            let ids: Vec<(String,)> =
                                sqlx::query_as("SELECT user_id FROM dir_members WHERE account = $1 AND group_id = $2")
                                    .bind(a)
                                    .bind(id)
                                    .fetch_all(&mut *tx)
                                    .await?;
                            loaded.members = ids.into_iter().map(|(u,)| u).collect();
                        }
                    }
                    for chunk in candidates.chunks(500) {
                        let mut q = sqlx::QueryBuilder::new("SELECT id FROM dir_users WHERE account = ");
                        q.push_bind(a).push(" AND id IN (");
                        let mut list = q.separated(", ");
                        for id in chunk {
                            list.push_bind(id);
                        }
                        list.push_unseparated(")");
                        let ids: Vec<(String,)> = q.build_query_as().persistent(false).fetch_all(&mut *tx).await?;
                        loaded.known.extend(ids.into_iter().map(|(u,)| u));
                    }
                }
            }
            let (write, answer) = plan(loaded)?;
            if let Some((login, id)) = &write.unique_login {
                let taken: Option<(String,)> = sqlx::query_as(match dialect {
                    Dialect::Sqlite => "SELECT id FROM dir_users WHERE account = $1 AND lower(login) = lower($2) AND id <> $3 LIMIT 1",
                    Dialect::Postgres => "SELECT id FROM dir_users WHERE account = $1 AND lower(login COLLATE \"C\") = lower($2 COLLATE \"C\") AND id <> $3 LIMIT 1",
                })
                .bind(a)
                .bind(login)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                if taken.is_some() {
                    return Err(Error::Scim {
                        status: 409,
                        scim_type: Some("uniqueness"),
                        detail: format!("userName {login:?} is another user's: find it with filter=userName eq \"{login}\" and update that one"),
                    });
                }
            }
            let n = i64::try_from(write.changes.events.len()).unwrap_or(i64::MAX);
            let (next,): (i64,) = sqlx::query_as("UPDATE dir_sync SET next_seq = next_seq + $2 WHERE account = $1 RETURNING next_seq")
                .bind(a)
                .bind(n)
                .fetch_one(&mut *tx)
                .await?;
            let none = Vec::new();
            let _roles_said = write_changes!(tx, a, next - n, at, &write.changes, 0, &none, &none);
            for (id, kept) in &write.users {
                sqlx::query("UPDATE dir_users SET scim = $3 WHERE account = $1 AND id = $2")
                    .bind(a)
                    .bind(id)
                    .bind(Value::Object(kept.clone()).to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            for (id, kept) in &write.groups {
                sqlx::query("UPDATE dir_groups SET scim = $3 WHERE account = $1 AND id = $2")
                    .bind(a)
                    .bind(id)
                    .bind(Value::Object(kept.clone()).to_string())
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            answer
        });
        Ok(answer)
    }
}
