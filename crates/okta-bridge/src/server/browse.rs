//! The console's pages of one connection: its health (the connection, the directory sync, the
//! org's rate-limit headroom, and what is wrong in plain words with what to do), the synced
//! directory (users with search and filters, a user with groups and recent events, groups with
//! members) and the change feed. Read from the database, never from Okta.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::auth::AdminPage;
use super::error::{PageContext, PageError};
use super::views::{UserRow, fmt_time, render, sync_words};
use crate::model::{AccountName, ConnectionMethod, ConnectionStatus, FeedEvent, now};
use crate::store::UserQuery;

const TITLE: &str = "Could not show the connection";

/// Rows a page of the directory shows.
const PAGE: i64 = 50;

/// Okta's user statuses, for the filter.
const STATUSES: [&str; 8] = [
    "ACTIVE",
    "STAGED",
    "PROVISIONED",
    "RECOVERY",
    "PASSWORD_EXPIRED",
    "LOCKED_OUT",
    "SUSPENDED",
    "DEPROVISIONED",
];

/// One rate-limit bucket's headroom.
pub(crate) struct RateRow {
    bucket: String,
    remaining: u32,
    limit: u32,
    percent: u32,
    reset: String,
}

#[derive(Template)]
#[template(path = "connection.html")]
pub(crate) struct ConnectionPage {
    account: String,
    org_url: String,
    tab: &'static str,
    csrf: String,
    /// What is wrong and what to do.
    problem: Option<(String, String)>,
    healthy: bool,
    status: String,
    method: &'static str,
    token_type: String,
    expiry: String,
    has_refresh_token: bool,
    updated_at: String,
    scopes: String,
    last_sync: String,
    last_full: String,
    counts: String,
    last_seq: i64,
    sync_error: Option<String>,
    rate_limits: Vec<RateRow>,
    /// A SCIM connection's base URL and its last request, in words.
    scim: Option<(String, String)>,
}

/// What is wrong with a connection, in plain words, and what to do about it.
fn problem_of(account: &str, status: &ConnectionStatus) -> Option<(String, String)> {
    match status {
        ConnectionStatus::Connected => None,
        ConnectionStatus::NeedsReauth(why) => Some((
            "Needs to be connected again.".to_owned(),
            format!(
                "Okta no longer accepts its credentials ({why}). Connect it again: Reconnect on the Connections page, or okta-bridge accounts connect {account}."
            ),
        )),
        ConnectionStatus::AppRejected(why) => Some((
            "Okta rejected the account's app.".to_owned(),
            format!(
                "Okta said: {why}. Give the account its app's current client secret or key (okta-bridge accounts add {account} --replace …); the connection works again at once."
            ),
        )),
        ConnectionStatus::TokenRefused(why) => Some((
            "The org refuses this connection's tokens.".to_owned(),
            format!(
                "Okta said: {why}. Tokens for Okta's API come from the org authorization server: point the account there (no issuer), then connect again."
            ),
        )),
    }
}

/// A sync's error as stored, with what to do about it in plain words.
fn sync_error_words(error: &str) -> String {
    let todo = if error.contains(" 403 ") || error.contains("E0000006") {
        "Okta refused a read: a sync reads users, groups, apps and the System Log, so the connection needs okta.users.read, okta.groups.read, okta.apps.read and okta.logs.read (grant them to the app in Okta's admin console, on its Okta API Scopes tab, then connect again), and whoever connected it a role that may read them."
    } else if error.contains(" 401 ") || error.contains("connected again") {
        "Okta no longer accepts the connection's credentials: connect it again."
    } else if error.contains("rate limit") || error.contains(" 429 ") {
        "The org's rate limit was spent: the next run continues where this one stopped."
    } else if error.contains("request to Okta failed") || error.contains("timed out") {
        "The org could not be reached: the next run tries again. Check the network path to the org if this lasts."
    } else {
        "The next run tries again; the log has the details."
    };
    format!("{error}. {todo}")
}

/// `GET /connections/{account}`: the connection's health.
pub(crate) async fn connection(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Response, PageError> {
    let account = AccountName::parse(&account).page(TITLE)?;
    let conn = state
        .store()
        .connection(&account)
        .await
        .page(TITLE)?
        .ok_or_else(|| crate::error::Error::UnknownConnection(account.to_string()))
        .page(TITLE)?;
    let sync = state.service.sync_state(&account).await.page(TITLE)?;
    let summary = sync.last_summary.as_ref().map(|s| &s["directory"]);
    let counts = summary.map_or_else(
        || "not synced yet".to_owned(),
        |d| {
            format!(
                "{} users, {} groups, {} memberships",
                d["users"], d["groups"], d["memberships"]
            )
        },
    );
    let now = now();
    let rate_limits = state
        .service
        .clients_in_use()
        .into_iter()
        .filter(|(a, _)| a == account.as_str())
        .flat_map(|(_, c)| c.rate_limits())
        .filter(|(_, r)| r.reset > now && r.limit > 0)
        .map(|(bucket, r)| RateRow {
            bucket,
            remaining: r.remaining,
            limit: r.limit,
            percent: (u64::from(r.remaining) * 100 / u64::from(r.limit)) as u32,
            // The time of day (UTC) is enough: a window lasts a minute.
            reset: fmt_time(r.reset)
                .split_once('T')
                .map_or_else(|| fmt_time(r.reset), |(_, t)| format!("{t} UTC")),
        })
        .collect();
    let expiry = match conn.expires_at.at() {
        None => "does not expire".to_owned(),
        Some(t) if t <= now => format!("expired at {} (renewed at the next call)", fmt_time(t)),
        Some(t) => format!("valid until {}", fmt_time(t)),
    };
    let scim = match conn.method {
        ConnectionMethod::Scim => {
            let s = state.service.scim_state(&account).await.ok();
            let last = s.as_ref().and_then(|s| {
                s.last_request_at
                    .zip(s.last_request.clone())
                    .map(|(at, r)| format!("{r} answered {} at {}", s.last_status.unwrap_or_default(), fmt_time(at)))
            });
            Some((
                super::scim_api::base_url(&state, &account),
                last.unwrap_or_else(|| {
                    "none yet: paste the base URL and token in Okta, then Test API Credentials".to_owned()
                }),
            ))
        }
        _ => None,
    };
    Ok(render(&ConnectionPage {
        scim,
        problem: problem_of(account.as_str(), &conn.status),
        healthy: matches!(conn.status, ConnectionStatus::Connected),
        status: conn.status.as_str().replace('_', " "),
        method: match conn.method {
            ConnectionMethod::AuthorizationCode => "an admin's sign-in (authorization code)",
            ConnectionMethod::ApiToken => "an API token",
            ConnectionMethod::ServiceApp => "a service app",
            ConnectionMethod::Scim => "SCIM push from the customer's Okta",
        },
        token_type: conn.token_type.clone(),
        expiry,
        has_refresh_token: conn.refresh_token.is_some(),
        updated_at: fmt_time(conn.updated_at),
        scopes: conn.scopes.to_string(),
        last_sync: sync_words(&sync, state.service.sync_policy().interval),
        last_full: sync.last_full_at.map_or_else(|| "never".to_owned(), fmt_time),
        counts,
        last_seq: sync.last_seq,
        sync_error: sync.last_error.as_deref().map(sync_error_words),
        rate_limits,
        org_url: conn.org_url.to_string(),
        account: account.to_string(),
        tab: "overview",
        csrf: admin.csrf,
    }))
}

#[derive(Template)]
#[template(path = "directory_users.html")]
pub(crate) struct UsersPage {
    account: String,
    tab: &'static str,
    csrf: String,
    synced: String,
    q: String,
    status: String,
    statuses: Vec<&'static str>,
    group: String,
    groups: Vec<(String, String)>,
    users: Vec<UserRow>,
    next: Option<String>,
    searched: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct UsersParams {
    after: Option<String>,
    q: Option<String>,
    status: Option<String>,
    group: Option<String>,
}

/// A non-empty, trimmed parameter.
fn given(v: Option<&String>) -> Option<&str> {
    v.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// `GET /connections/{account}/directory?q=&status=&group=&after=`: the synced users.
pub(crate) async fn users(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<UsersParams>,
) -> Result<Response, PageError> {
    let account = AccountName::parse(&account).page(TITLE)?;
    state.service.check_connection(&account).await.page(TITLE)?;
    let (q, status, group) = (given(p.q.as_ref()), given(p.status.as_ref()), given(p.group.as_ref()));
    let query = UserQuery {
        after: p.after.as_deref(),
        prefix: q,
        status,
        group,
        ..UserQuery::default()
    };
    let mut users = state
        .store()
        .directory_users(&account, &query, PAGE + 1)
        .await
        .page(TITLE)?;
    let next = next_page(&mut users, |u| &u.id).map(|after| {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("q", q), ("status", status), ("group", group)] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        s.append_pair("after", &after);
        format!("/connections/{account}/directory?{}", s.finish())
    });
    let groups = state
        .store()
        .directory_groups(&account, None, 1000)
        .await
        .page(TITLE)?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let synced = state.service.sync_state(&account).await.page(TITLE)?;
    Ok(render(&UsersPage {
        tab: "users",
        csrf: admin.csrf,
        synced: sync_words(&synced, state.service.sync_policy().interval),
        searched: q.is_some() || status.is_some() || group.is_some(),
        q: q.unwrap_or_default().to_owned(),
        status: status.unwrap_or_default().to_owned(),
        statuses: STATUSES.to_vec(),
        group: group.unwrap_or_default().to_owned(),
        groups,
        users: users.iter().map(UserRow::stored).collect(),
        next,
        account: account.to_string(),
    }))
}

/// Cuts `items` (read as a page and one more) to a page: the cursor of the next page when more
/// remain.
fn next_page<T>(items: &mut Vec<T>, id: impl Fn(&T) -> &String) -> Option<String> {
    let page = usize::try_from(PAGE).unwrap_or(usize::MAX);
    let more = items.len() > page;
    items.truncate(page);
    items.last().filter(|_| more).map(|t| id(t).clone())
}

/// An event of the feed, for people.
pub(crate) struct EventRow {
    seq: i64,
    event_type: &'static str,
    about: String,
    link: Option<String>,
    occurred: String,
    recorded: String,
}

impl EventRow {
    fn new(account: &AccountName, e: &FeedEvent) -> Self {
        let d = &e.data;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let t = e.event_type.as_str();
        let (about, link) = if t.starts_with("user.") {
            (
                text(&d["login"]).unwrap_or_else(|| e.object_id.clone()),
                Some(format!("/connections/{account}/directory/users/{}", e.object_id)),
            )
        } else if t == "group.user_added" || t == "group.user_removed" {
            let group = text(&d["groupId"]).unwrap_or_default();
            (
                format!("user {} · group {group}", e.object_id),
                Some(format!("/connections/{account}/directory/groups/{group}")),
            )
        } else if t.starts_with("group.") {
            (
                text(&d["name"]).unwrap_or_else(|| e.object_id.clone()),
                Some(format!("/connections/{account}/directory/groups/{}", e.object_id)),
            )
        } else if t.starts_with("app.") {
            let app = text(&d["appId"]).unwrap_or_default();
            (
                format!("user {} · app {app}", e.object_id),
                Some(format!("/connections/{account}/directory/users/{}", e.object_id)),
            )
        } else {
            (e.object_id.clone(), None)
        };
        Self {
            seq: e.seq,
            event_type: t,
            about,
            link,
            occurred: e.occurred_at.clone().unwrap_or_default(),
            recorded: fmt_time(e.recorded_at),
        }
    }
}

#[derive(Template)]
#[template(path = "directory_user.html")]
pub(crate) struct UserPage {
    account: String,
    tab: &'static str,
    csrf: String,
    name: String,
    login: String,
    facts: Vec<(String, String)>,
    groups: Vec<(String, String)>,
    events: Vec<EventRow>,
}

/// `GET /connections/{account}/directory/users/{id}`: a synced user, its groups and its
/// recent events.
pub(crate) async fn user(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path((account, id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    const NOT_SHOWN: &str = "Could not show the user";
    let account = AccountName::parse(&account).page(NOT_SHOWN)?;
    let (u, group_ids) = state
        .store()
        .directory_user(&account, &id)
        .await
        .page(NOT_SHOWN)?
        .ok_or_else(|| crate::error::Error::NotFound {
            what: "user",
            id: id.clone(),
        })
        .page(NOT_SHOWN)?;
    let mut groups = Vec::new();
    for gid in group_ids {
        let name = state
            .store()
            .directory_group(&account, &gid)
            .await
            .page(NOT_SHOWN)?
            .map_or_else(|| gid.clone(), |g| g.name);
        groups.push((gid, name));
    }
    let events = state
        .store()
        .recent_events(&account, Some(&u.id), 20)
        .await
        .page(NOT_SHOWN)?;
    let row = UserRow::stored(&u);
    let mut facts = vec![
        ("Id".to_owned(), u.id.clone()),
        ("Status".to_owned(), u.status.clone()),
        ("Email".to_owned(), u.email.clone().unwrap_or_default()),
    ];
    for (label, v) in [
        ("Created", &u.created),
        ("Activated", &u.activated),
        ("Last login", &u.last_login),
        ("Last updated", &u.last_updated),
    ] {
        facts.push((label.to_owned(), v.clone().unwrap_or_else(|| "—".to_owned())));
    }
    for (k, v) in &u.profile {
        if !matches!(k.as_str(), "login" | "email" | "firstName" | "lastName") {
            let shown = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            facts.push((k.clone(), shown));
        }
    }
    Ok(render(&UserPage {
        name: if row.name.is_empty() { u.login.clone() } else { row.name },
        login: u.login.clone(),
        facts,
        groups,
        events: events.iter().map(|e| EventRow::new(&account, e)).collect(),
        account: account.to_string(),
        tab: "users",
        csrf: admin.csrf,
    }))
}

/// A group as the groups page lists it.
pub(crate) struct GroupRow {
    id: String,
    name: String,
    group_type: String,
    description: String,
}

#[derive(Template)]
#[template(path = "directory_groups.html")]
pub(crate) struct GroupsPage {
    account: String,
    tab: &'static str,
    csrf: String,
    groups: Vec<GroupRow>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AfterParams {
    after: Option<String>,
}

/// `GET /connections/{account}/directory/groups`: the synced groups.
pub(crate) async fn groups(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    Query(p): Query<AfterParams>,
) -> Result<Response, PageError> {
    let account = AccountName::parse(&account).page(TITLE)?;
    state.service.check_connection(&account).await.page(TITLE)?;
    let mut groups = state
        .store()
        .directory_groups(&account, p.after.as_deref(), PAGE + 1)
        .await
        .page(TITLE)?;
    let next =
        next_page(&mut groups, |g| &g.id).map(|after| format!("/connections/{account}/directory/groups?after={after}"));
    Ok(render(&GroupsPage {
        groups: groups
            .into_iter()
            .map(|g| GroupRow {
                id: g.id,
                name: g.name,
                group_type: g.group_type,
                description: g.description.unwrap_or_default(),
            })
            .collect(),
        next,
        account: account.to_string(),
        tab: "groups",
        csrf: admin.csrf,
    }))
}

#[derive(Template)]
#[template(path = "directory_group.html")]
pub(crate) struct GroupPage {
    account: String,
    tab: &'static str,
    csrf: String,
    name: String,
    group_type: String,
    description: String,
    users: Vec<UserRow>,
    next: Option<String>,
}

/// `GET /connections/{account}/directory/groups/{id}`: a synced group and its members.
pub(crate) async fn group(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path((account, id)): Path<(String, String)>,
    Query(p): Query<AfterParams>,
) -> Result<Response, PageError> {
    const NOT_SHOWN: &str = "Could not show the group";
    let account = AccountName::parse(&account).page(NOT_SHOWN)?;
    let g = state
        .store()
        .directory_group(&account, &id)
        .await
        .page(NOT_SHOWN)?
        .ok_or_else(|| crate::error::Error::NotFound {
            what: "group",
            id: id.clone(),
        })
        .page(NOT_SHOWN)?;
    let mut users = state
        .store()
        .directory_members(&account, &id, p.after.as_deref(), PAGE + 1)
        .await
        .page(NOT_SHOWN)?
        .unwrap_or_default();
    let next = next_page(&mut users, |u| &u.id)
        .map(|after| format!("/connections/{account}/directory/groups/{id}?after={after}"));
    Ok(render(&GroupPage {
        name: g.name,
        group_type: g.group_type,
        description: g.description.unwrap_or_default(),
        users: users.iter().map(UserRow::stored).collect(),
        next,
        account: account.to_string(),
        tab: "groups",
        csrf: admin.csrf,
    }))
}

#[derive(Template)]
#[template(path = "feed.html")]
pub(crate) struct FeedPage {
    account: String,
    tab: &'static str,
    csrf: String,
    shown: usize,
    events: Vec<EventRow>,
}

/// `GET /connections/{account}/events`: the newest events of the change feed.
pub(crate) async fn feed(
    admin: AdminPage,
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
) -> Result<Response, PageError> {
    let account = AccountName::parse(&account).page(TITLE)?;
    state.service.check_connection(&account).await.page(TITLE)?;
    let events = state.store().recent_events(&account, None, 100).await.page(TITLE)?;
    Ok(render(&FeedPage {
        shown: events.len(),
        events: events.iter().map(|e| EventRow::new(&account, e)).collect(),
        account: account.to_string(),
        tab: "feed",
        csrf: admin.csrf,
    }))
}

#[cfg(test)]
mod tests {
    use super::sync_error_words;

    #[test]
    fn sync_errors_say_what_to_do() {
        let scope =
            sync_error_words("Okta API error 403 E0000006: You do not have permission to perform the requested action");
        assert!(scope.contains("okta.groups.read"), "{scope}");
        assert!(sync_error_words("Okta's rate limit for /api/v1/users is spent").contains("next run continues"));
        assert!(sync_error_words("something else").ends_with("the log has the details."));
    }
}
