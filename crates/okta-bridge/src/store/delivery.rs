//! `webhook_streams`, `webhook_deliveries`: where each endpoint's delivery of each connection's
//! feed stands (the last event delivered, retries, the lease of the instance delivering it), and
//! the log of attempts.

use serde::Serialize;

use super::{Pool, Store, with_pool};
use crate::error::Result;
use crate::model::now;

/// One endpoint's delivery of one connection's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stream {
    pub webhook_id: String,
    pub account: String,
    /// The cursor of the last event delivered (or passed over: not for this endpoint).
    pub delivered: i64,
    /// Failed attempts at the next event.
    pub attempts: i64,
    /// Since when the next event fails (unix seconds).
    pub failing_since: Option<i64>,
    pub last_error: Option<String>,
}

/// One attempt at delivering an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub account: String,
    pub seq: i64,
    pub attempt: i64,
    pub at: i64,
    /// The receiver's HTTP status; `None` when it did not answer.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The start of its answer, or why there was none.
    pub excerpt: Option<String>,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Delivered (or not for this endpoint): the stream moves past the event.
    Delivered,
    /// Failed: tried again at `next_at`, or, past the retry window, the endpoint is marked
    /// failing.
    Failed { next_at: i64, error: String, give_up: bool },
}

type StreamRow = (String, String, i64, i64, Option<i64>, Option<String>);

fn stream_of((webhook_id, account, delivered, attempts, failing_since, last_error): StreamRow) -> Stream {
    Stream {
        webhook_id,
        account,
        delivered,
        attempts,
        failing_since,
        last_error,
    }
}

impl Store {
    /// Makes the missing streams: one per endpoint and connection, starting at the beginning
    /// of the connection's feed. A webhook made and a connection's first sync make theirs as
    /// they are written; this catches the two written at once (each did not see the other).
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn ensure_streams(&self) -> Result<()> {
        with_pool!(self, pool => {
            // (`WHERE true`: SQLite reads an `ON` right after a join as the join's.)
            sqlx::query(
                "INSERT INTO webhook_streams (webhook_id, account, delivered) \
                 SELECT w.id, s.account, 0 FROM webhooks w CROSS JOIN dir_sync s WHERE true \
                 ON CONFLICT (webhook_id, account) DO NOTHING",
            )
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The streams with events to deliver now, oldest due first: of active endpoints, behind
    /// their connection's feed, not waiting to retry, not held by any instance, the circuit of
    /// their endpoint not open. At most `per_endpoint` of one endpoint and `limit` in all, so a
    /// poll reads what can start, not every stream of a thousand connections.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn due_streams(&self, per_endpoint: usize, limit: usize) -> Result<Vec<Stream>> {
        let t = now();
        let per_endpoint = i64::try_from(per_endpoint.max(1)).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
        let rows: Vec<StreamRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT webhook_id, account, delivered, attempts, failing_since, last_error FROM ( \
                 SELECT st.webhook_id, st.account, st.delivered, st.attempts, st.failing_since, st.last_error, st.next_at, \
                 ROW_NUMBER() OVER (PARTITION BY st.webhook_id ORDER BY st.next_at, st.account) AS rank \
                 FROM webhook_streams st JOIN webhooks w ON w.id = st.webhook_id JOIN dir_sync s ON s.account = st.account \
                 WHERE w.status = 'active' AND s.next_seq - 1 > st.delivered AND st.next_at <= $1 \
                 AND (st.lease_owner IS NULL OR st.lease_until < $1) \
                 AND (w.circuit_open_until IS NULL OR w.circuit_open_until <= $1)) ranked \
                 WHERE rank <= $2 ORDER BY next_at, webhook_id, account LIMIT $3",
            )
            .bind(t)
            .bind(per_endpoint)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(stream_of).collect())
    }

    /// Takes the lease of the stream of `webhook_id` and `account` for `owner` for `seconds`,
    /// unless another owner holds it, and answers where the stream stands now (`None` when not
    /// taken): one statement, so what is read is what the lease was taken on.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn claim_stream(
        &self,
        webhook_id: &str,
        account: &str,
        owner: &str,
        seconds: i64,
    ) -> Result<Option<Stream>> {
        let t = now();
        let row: Option<StreamRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE webhook_streams SET lease_owner = $3, lease_until = $4 WHERE webhook_id = $1 AND account = $2 \
                 AND (lease_owner IS NULL OR lease_until < $5 OR lease_owner = $3) \
                 RETURNING webhook_id, account, delivered, attempts, failing_since, last_error",
            )
            .bind(webhook_id)
            .bind(account)
            .bind(owner)
            .bind(t + seconds)
            .bind(t)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(stream_of))
    }

    /// Whether a stream of endpoint `webhook_id` may be tried now: `Some(false)` when its
    /// circuit is closed (fewer than `after` consecutive failures), `Some(true)` when it is past
    /// its opening and this caller takes the one probe (the circuit stays shut to the others
    /// until `probe_until`), `None` when it is shut.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn pass_circuit(&self, webhook_id: &str, after: i64, probe_until: i64) -> Result<Option<bool>> {
        let t = now();
        let (failures, open_until) = self.circuit(webhook_id).await?;
        if failures < after {
            return Ok(Some(false));
        }
        if open_until.is_some_and(|u| u > t) {
            return Ok(None);
        }
        let taken = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhooks SET circuit_open_until = $2 WHERE id = $1 AND circuit_failures >= $3 \
                 AND (circuit_open_until IS NULL OR circuit_open_until <= $4)",
            )
            .bind(webhook_id)
            .bind(probe_until)
            .bind(after)
            .bind(t)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok((taken == 1).then_some(true))
    }

    /// Records an attempt's outcome in endpoint `webhook_id`'s circuit: a success closes it; a
    /// failure counts, and the `after`-th in a row, or a failed `probe`, opens it for
    /// `open_for(openings so far)` seconds (attempts already in flight when it opened fail
    /// without opening it again). Answers when it is open until, if it opened.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn circuit_outcome(
        &self,
        webhook_id: &str,
        ok: bool,
        probe: bool,
        after: i64,
        open_for: impl Fn(i64) -> i64,
    ) -> Result<Option<i64>> {
        if ok {
            with_pool!(self, pool => {
                sqlx::query(
                    "UPDATE webhooks SET circuit_failures = 0, circuit_open_until = NULL, circuit_opened = 0 \
                     WHERE id = $1 AND (circuit_failures > 0 OR circuit_opened > 0)",
                )
                .bind(webhook_id)
                .execute(pool)
                .await?;
            });
            return Ok(None);
        }
        let row: Option<(i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "UPDATE webhooks SET circuit_failures = circuit_failures + 1 WHERE id = $1 \
                 RETURNING circuit_failures, circuit_opened",
            )
            .bind(webhook_id)
            .fetch_optional(pool)
            .await?
        });
        let Some((failures, opened)) = row else {
            return Ok(None);
        };
        if !probe && failures != after {
            return Ok(None);
        }
        let until = now() + open_for(opened);
        with_pool!(self, pool => {
            sqlx::query("UPDATE webhooks SET circuit_open_until = $2, circuit_opened = circuit_opened + 1 WHERE id = $1")
                .bind(webhook_id)
                .bind(until)
                .execute(pool)
                .await?;
        });
        Ok(Some(until))
    }

    /// Endpoint `webhook_id`'s circuit: consecutive failures, and until when it is open.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn circuit(&self, webhook_id: &str) -> Result<(i64, Option<i64>)> {
        let row: Option<(i64, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT circuit_failures, circuit_open_until FROM webhooks WHERE id = $1")
                .bind(webhook_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.unwrap_or((0, None)))
    }

    /// How many endpoints' circuits are open now.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn open_circuits(&self) -> Result<i64> {
        let n: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhooks WHERE circuit_open_until > $1")
                .bind(now())
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// The endpoints whose circuit is open now: id, URL, consecutive failures and until when
    /// (unix seconds) none of their streams is tried.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn open_circuit_list(&self) -> Result<Vec<(String, String, i64, i64)>> {
        Ok(with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, url, circuit_failures, circuit_open_until FROM webhooks WHERE circuit_open_until > $1 \
                 ORDER BY circuit_open_until DESC, id",
            )
            .bind(now())
            .fetch_all(pool)
            .await?
        }))
    }

    /// Gives up every stream and sync lease whose owner starts with `prefix` (an instance's, at
    /// shutdown: another instance takes them over at once instead of when they run out);
    /// answers how many.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn release_leases_of(&self, prefix: &str) -> Result<u64> {
        // An INTEGER, as PostgreSQL's substr takes (a BIGINT matches no substr there).
        let len = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        let n = with_pool!(self, pool => {
            let streams = sqlx::query(
                "UPDATE webhook_streams SET lease_owner = NULL, lease_until = NULL WHERE substr(lease_owner, 1, $2) = $1",
            )
            .bind(prefix)
            .bind(len)
            .execute(pool)
            .await?
            .rows_affected();
            let syncs = sqlx::query(
                "UPDATE dir_sync SET lease_owner = NULL, lease_until = NULL WHERE substr(lease_owner, 1, $2) = $1",
            )
            .bind(prefix)
            .bind(len)
            .execute(pool)
            .await?
            .rows_affected();
            streams + syncs
        });
        Ok(n)
    }

    /// The webhook streams with events still to deliver (running ones included, backing-off
    /// ones not), and when the oldest first undelivered event among them was written: across
    /// instances, for `/metrics`.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn stream_backlog(&self) -> Result<(i64, Option<i64>)> {
        let row: (i64, Option<i64>) = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(e.recorded_at) FROM webhook_streams st \
                 JOIN webhooks w ON w.id = st.webhook_id JOIN dir_sync s ON s.account = st.account \
                 LEFT JOIN dir_events e ON e.account = st.account AND e.seq = st.delivered + 1 \
                 WHERE w.status = 'active' AND s.next_seq - 1 > st.delivered AND st.next_at <= $1",
            )
            .bind(now())
            .fetch_one(pool)
            .await?
        });
        Ok(row)
    }

    /// Gives a stream's lease back, if `owner` holds it.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn release_stream_lease(&self, webhook_id: &str, account: &str, owner: &str) -> Result<()> {
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE webhook_streams SET lease_owner = NULL, lease_until = NULL WHERE webhook_id = $1 AND account = $2 AND lease_owner = $3",
            )
            .bind(webhook_id)
            .bind(account)
            .bind(owner)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records an attempt at event `seq` of the stream of `webhook_id` and `account` (`None`
    /// for an event not for this endpoint, passed over) and its `outcome`, if `owner` still
    /// holds the lease and, delivered, the stream still stands at `from` (a replay meanwhile
    /// moved it): whether it was. Delivered, the lease is renewed to `lease_until` in the same
    /// write. One transaction: one commit per event.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    #[allow(clippy::too_many_arguments)]
    pub async fn record_attempt(
        &self,
        webhook_id: &str,
        account: &str,
        owner: &str,
        attempt: Option<&Attempt>,
        from: i64,
        seq: i64,
        outcome: &Outcome,
        lease_until: i64,
    ) -> Result<bool> {
        // A worker stopped mid-way (a process killed, a task aborted) leaves the transaction
        // rolled back: the event is delivered again, never skipped.
        let ok = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = match outcome {
                Outcome::Delivered => sqlx::query(
                    "UPDATE webhook_streams SET delivered = $3, attempts = 0, failing_since = NULL, last_error = NULL, next_at = 0, \
                     lease_until = $6 WHERE webhook_id = $1 AND account = $2 AND lease_owner = $4 AND delivered = $5",
                )
                .bind(webhook_id)
                .bind(account)
                .bind(seq)
                .bind(owner)
                .bind(from)
                .bind(lease_until)
                .execute(&mut *tx)
                .await?
                .rows_affected(),
                Outcome::Failed { next_at, error, give_up } => {
                    let t = now();
                    let n = sqlx::query(
                        "UPDATE webhook_streams SET attempts = attempts + 1, failing_since = COALESCE(failing_since, $3), \
                         last_error = $4, next_at = $5 WHERE webhook_id = $1 AND account = $2 AND lease_owner = $6 AND delivered = $7",
                    )
                    .bind(webhook_id)
                    .bind(account)
                    .bind(t)
                    .bind(error)
                    .bind(next_at)
                    .bind(owner)
                    .bind(from)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if *give_up && n == 1 {
                        sqlx::query("UPDATE webhooks SET status = 'failing', updated_at = $2 WHERE id = $1")
                            .bind(webhook_id)
                            .bind(t)
                            .execute(&mut *tx)
                            .await?;
                    }
                    n
                }
            };
            if moved == 1 && let Some(a) = attempt {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (webhook_id, account, seq, attempt, at, status, latency_ms, excerpt) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                )
                .bind(webhook_id)
                .bind(&a.account)
                .bind(a.seq)
                .bind(a.attempt)
                .bind(a.at)
                .bind(a.status)
                .bind(a.latency_ms)
                .bind(&a.excerpt)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            moved == 1
        });
        Ok(ok)
    }

    /// The newest `limit` attempts of endpoint `webhook_id`, newest first.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn webhook_attempts(&self, webhook_id: &str, limit: i64) -> Result<Vec<Attempt>> {
        type Row = (String, i64, i64, i64, Option<i64>, i64, Option<String>);
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT account, seq, attempt, at, status, latency_ms, excerpt FROM webhook_deliveries WHERE webhook_id = $1 \
                 ORDER BY at DESC, seq DESC, attempt DESC LIMIT $2",
            )
            .bind(webhook_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(account, seq, attempt, at, status, latency_ms, excerpt)| Attempt {
                account,
                seq,
                attempt,
                at,
                status,
                latency_ms,
                excerpt,
            })
            .collect())
    }

    /// The streams of endpoint `webhook_id`.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn webhook_streams(&self, webhook_id: &str) -> Result<Vec<Stream>> {
        let rows: Vec<StreamRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT webhook_id, account, delivered, attempts, failing_since, last_error FROM webhook_streams \
                 WHERE webhook_id = $1 ORDER BY account",
            )
            .bind(webhook_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(stream_of).collect())
    }

    /// Sets the stream of `webhook_id` and `account` back (or forward) to `after`: the events
    /// after it are delivered again, in order, from the next attempt on; a delivery in flight
    /// records nothing (its stream no longer stands where it started). Whether there is such
    /// a stream.
    ///
    /// # Errors
    /// [`crate::error::Error::Database`].
    pub async fn replay_stream(&self, webhook_id: &str, account: &str, after: i64) -> Result<bool> {
        let n = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO webhook_streams (webhook_id, account, delivered) SELECT $1, $2, $3 \
                 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1) \
                 ON CONFLICT (webhook_id, account) DO UPDATE SET delivered = excluded.delivered, attempts = 0, \
                 failing_since = NULL, last_error = NULL, next_at = 0",
            )
            .bind(webhook_id)
            .bind(account)
            .bind(after)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}
