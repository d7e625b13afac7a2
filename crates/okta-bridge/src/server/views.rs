//! What pages and the JSON API show: the view structs of the templates, the one JSON shape of
//! an account and of a connection (never a secret), and times for people.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::{Account, AppKind, Connection, ConnectionMethod, ConnectionStatus, SyncState, status_of};

/// Formats unix seconds for people (RFC 3339).
pub fn fmt_time(secs: i64) -> String {
    crate::model::rfc3339(secs).unwrap_or_else(|| secs.to_string())
}

/// A connection as the API shows it: never a token.
pub fn connection_json(c: &Connection) -> Value {
    json!({
        "account": c.account,
        "orgUrl": c.org_url.to_string(),
        "scopes": c.scopes,
        "tokenType": c.token_type,
        "method": c.method.as_str(),
        "expiresAt": c.expires_at.at().map(fmt_time),
        "hasRefreshToken": c.refresh_token.is_some(),
        "created": fmt_time(c.created_at),
        "lastUpdated": fmt_time(c.updated_at),
        "status": c.status.as_str(),
        "statusReason": c.status.reason(),
    })
}

/// An account as the API shows it: never a secret, with its connection's status.
pub fn account_json(a: &Account, conn: Option<&Connection>) -> Value {
    let (status, reason) = status_of(conn);
    json!({
        "name": a.name,
        "orgUrl": a.org_url.to_string(),
        "kind": a.app.kind(),
        "clientId": a.app.client_id(),
        "keyId": a.app.key_id(),
        "issuer": a.issuer.as_ref().map(url::Url::as_str),
        "scopes": a.scopes,
        "dpop": a.dpop,
        "created": fmt_time(a.created_at),
        "lastUpdated": fmt_time(a.updated_at),
        "status": status,
        "statusReason": reason,
        "connection": conn.map(connection_json),
    })
}

/// Renders a template; a template that fails is logged and answered 500.
pub(crate) fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

/// An HTML error page.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let mut res = render(&ErrorPage { title, message });
    *res.status_mut() = status;
    res
}

/// A connection's status for the pages.
pub(crate) struct StatusView {
    status: &'static str,
    /// What Okta said, when it does not work.
    pub reason: String,
}

impl StatusView {
    fn of(s: &ConnectionStatus) -> Self {
        Self {
            status: s.as_str(),
            reason: s.reason().unwrap_or_default().to_owned(),
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.status == ConnectionStatus::Connected.as_str()
    }

    pub(crate) fn needs_reauth(&self) -> bool {
        matches!(
            ConnectionStatus::parse(self.status, None),
            Some(ConnectionStatus::NeedsReauth(_))
        )
    }

    pub(crate) fn app_rejected(&self) -> bool {
        matches!(
            ConnectionStatus::parse(self.status, None),
            Some(ConnectionStatus::AppRejected(_))
        )
    }

    pub(crate) fn token_refused(&self) -> bool {
        matches!(
            ConnectionStatus::parse(self.status, None),
            Some(ConnectionStatus::TokenRefused(_))
        )
    }
}

/// A row of the accounts table.
pub(crate) struct AccountRow {
    pub name: String,
    pub org_url: String,
    pub kind: AppKind,
    pub client_id: String,
    /// `None`: not connected.
    pub status: Option<StatusView>,
    /// How it is connected, for people.
    pub method: &'static str,
}

impl AccountRow {
    pub(crate) fn new(a: &Account, c: Option<&Connection>) -> Self {
        Self {
            name: a.name.to_string(),
            org_url: a.org_url.to_string(),
            kind: a.app.kind(),
            client_id: a.app.client_id().unwrap_or_default().to_owned(),
            status: c.map(|c| StatusView::of(&c.status)),
            method: match c.map(|c| c.method) {
                Some(ConnectionMethod::ApiToken) => "API token",
                Some(ConnectionMethod::ServiceApp) if a.dpop => "service app (DPoP)",
                Some(ConnectionMethod::ServiceApp) => "service app",
                Some(ConnectionMethod::Scim) => "SCIM push",
                Some(ConnectionMethod::AuthorizationCode) => "Okta sign-in",
                None => "",
            },
        }
    }
}

/// A row of the connections table.
pub(crate) struct ConnectionRow {
    pub account: String,
    pub org_url: String,
    pub expires_at: String,
    pub status: StatusView,
    /// The directory sync's status in words.
    pub sync: String,
}

/// A connection's sync state in words: the last run and what it found, the next one, an error
/// or why runs wait.
pub(crate) fn sync_words(s: &SyncState, interval: Option<std::time::Duration>) -> String {
    let Some(last) = s.last_run_at else {
        return match (&s.paused, s.running) {
            (Some(why), _) => format!("never synced; paused ({why})"),
            (None, true) => "first sync running".to_owned(),
            (None, false) => "never synced".to_owned(),
        };
    };
    let mut words = format!("last run {}", fmt_time(last));
    if let Some(summary) = &s.last_summary {
        let d = &summary["directory"];
        words.push_str(&format!(
            " ({}): {} users, {} groups, {} memberships; {} events",
            if summary["full"] == true { "full" } else { "incremental" },
            d["users"],
            d["groups"],
            d["memberships"],
            summary["events"]
        ));
    }
    if let Some(e) = &s.last_error {
        words.push_str(&format!("; last run failed: {e}"));
    }
    match (&s.paused, s.running, interval) {
        (Some(why), _, _) => words.push_str(&format!("; paused ({why})")),
        (None, true, _) => words.push_str("; running now"),
        (None, false, Some(every)) => {
            let next = last + i64::try_from(every.as_secs()).unwrap_or(i64::MAX / 2);
            words.push_str(&format!("; next {}", fmt_time(next)));
        }
        (None, false, None) => words.push_str("; on demand only"),
    }
    words
}

impl ConnectionRow {
    pub(crate) fn new(c: Connection) -> Self {
        Self {
            account: c.account.to_string(),
            org_url: c.org_url.to_string(),
            expires_at: c.expires_at.at().map_or_else(|| "never".to_owned(), fmt_time),
            status: StatusView::of(&c.status),
            sync: "never synced".to_owned(),
        }
    }
}

#[derive(Template)]
#[template(path = "connect.html")]
pub(crate) struct ConnectPage {
    pub account: Option<String>,
    pub org: String,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "index.html")]
pub(crate) struct IndexPage {
    pub accounts: Vec<AccountRow>,
    pub connections: Vec<ConnectionRow>,
    pub org: String,
    pub has_default_app: bool,
    pub csrf: String,
}

/// A row of the users table.
pub(crate) struct UserRow {
    pub id: String,
    pub status: String,
    pub login: String,
    pub name: String,
    pub email: String,
    pub last_login: String,
}

impl UserRow {
    /// A user of the synced directory.
    pub(crate) fn stored(u: &crate::model::DirUser) -> Self {
        Self {
            id: u.id.clone(),
            status: u.status.clone(),
            login: u.login.clone(),
            name: [u.first_name.as_deref(), u.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: u.email.clone().unwrap_or_default(),
            last_login: u.last_login.clone().unwrap_or_default(),
        }
    }

    pub(crate) fn new(u: okta_client::User) -> Self {
        Self {
            name: [u.profile.first_name.as_deref(), u.profile.last_name.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            email: u.profile.email.clone().unwrap_or_default(),
            login: u.profile.login.clone(),
            status: u.status.to_string(),
            last_login: u.last_login.map(|t| fmt_time(t.unix_timestamp())).unwrap_or_default(),
            id: u.id,
        }
    }
}

#[derive(Template)]
#[template(path = "users.html")]
pub(crate) struct UsersPage {
    pub csrf: String,
    pub account: String,
    pub users: Vec<UserRow>,
    pub next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage<'a> {
    pub error: Option<&'a str>,
    pub csrf: &'a str,
    /// The console's OpenID provider (its host), when signing in with it is configured.
    pub provider: Option<String>,
}

/// One endpoint on the webhooks page.
pub(crate) struct WebhookView {
    pub id: String,
    pub url: String,
    pub status: &'static str,
    pub events: String,
    pub connections: String,
    pub streams: Vec<StreamView>,
    pub attempts: Vec<AttemptView>,
}

/// Where one connection's stream of an endpoint stands.
pub(crate) struct StreamView {
    pub account: String,
    pub delivered: i64,
    pub attempts: i64,
    pub failing_since: String,
    pub last_error: String,
}

/// One delivery attempt, for people.
pub(crate) struct AttemptView {
    pub at: String,
    pub account: String,
    pub seq: i64,
    pub attempt: i64,
    pub status: String,
    pub latency_ms: i64,
    pub excerpt: String,
}

impl WebhookView {
    pub(crate) fn new(
        h: &crate::model::Webhook,
        streams: Vec<crate::store::Stream>,
        attempts: Vec<crate::store::Attempt>,
    ) -> Self {
        let all_or = |names: Option<Vec<String>>| names.map_or_else(|| "all".to_owned(), |n| n.join(", "));
        Self {
            id: h.id.clone(),
            url: h.url.clone(),
            status: h.status.as_str(),
            events: all_or(
                h.filter
                    .events
                    .as_ref()
                    .map(|e| e.iter().map(|t| t.as_str().to_owned()).collect()),
            ),
            connections: all_or(
                h.filter
                    .connections
                    .as_ref()
                    .map(|c| c.iter().map(ToString::to_string).collect()),
            ),
            streams: streams
                .into_iter()
                .map(|s| StreamView {
                    account: s.account,
                    delivered: s.delivered,
                    attempts: s.attempts,
                    failing_since: s.failing_since.map(fmt_time).unwrap_or_default(),
                    last_error: s.last_error.unwrap_or_default(),
                })
                .collect(),
            attempts: attempts
                .into_iter()
                .map(|a| AttemptView {
                    at: fmt_time(a.at),
                    account: a.account,
                    seq: a.seq,
                    attempt: a.attempt,
                    status: a.status.map_or_else(|| "no answer".to_owned(), |s| s.to_string()),
                    latency_ms: a.latency_ms,
                    excerpt: a.excerpt.unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
pub(crate) struct WebhooksPage {
    pub csrf: String,
    pub hooks: Vec<WebhookView>,
}

/// Seconds for people: `42 s`, `3 min 5 s`, `2 h 10 min`.
pub fn fmt_seconds(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// One kind of background work on the work page.
#[derive(Debug)]
pub(crate) struct WorkKindView {
    pub kind: &'static str,
    pub running: usize,
    pub limit: usize,
    pub done: u64,
    pub failed: u64,
    /// Due across instances, and how long the oldest has waited (empty when not counted).
    pub due: String,
    pub lag: String,
    pub late: bool,
}

/// A kind of work is late when its oldest due item has waited longer than this.
pub(crate) const LATE_AFTER_SECS: i64 = 60;

impl WorkKindView {
    /// `stats` of this instance with what is due across instances (`counted`: how many, and
    /// since when the oldest; `None` when not counted), at `now` (unix seconds).
    pub(crate) fn of(stats: &crate::service::WorkStats, counted: Option<(i64, Option<i64>)>, now: i64) -> Self {
        let lag = counted.and_then(|(_, since)| since).map(|since| now - since);
        Self {
            kind: stats.kind,
            running: stats.running,
            limit: stats.limit,
            done: stats.done,
            failed: stats.failed,
            due: counted.map_or_else(|| "not counted".to_owned(), |(n, _)| n.to_string()),
            lag: match (counted, lag) {
                (None, _) => String::new(),
                (Some(_), None) => "none due".to_owned(),
                (Some(_), Some(l)) => fmt_seconds(l),
            },
            late: lag.is_some_and(|l| l > LATE_AFTER_SECS),
        }
    }
}

/// Whether every kind of work keeps up, and the page's headline saying so or what is late.
pub(crate) fn work_headline(kinds: &[WorkKindView]) -> (bool, String) {
    let late: Vec<String> = kinds
        .iter()
        .filter(|k| k.late)
        .map(|k| format!("{}: {} due, the oldest waiting {}", k.kind, k.due, k.lag))
        .collect();
    if late.is_empty() {
        (
            true,
            "Keeping up: no kind of work has waited more than a minute.".to_owned(),
        )
    } else {
        (false, format!("Behind: {}.", late.join("; ")))
    }
}

/// An item of background work on the work page: what, since when or for how long, and why.
#[derive(Debug)]
pub(crate) struct WorkItemView {
    pub kind: String,
    pub item: String,
    pub when: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "work.html")]
pub(crate) struct WorkPage {
    pub csrf: String,
    /// `Keeping up`, or what is late.
    pub headline: String,
    pub keeping_up: bool,
    pub kinds: Vec<WorkKindView>,
    pub longest: Vec<WorkItemView>,
    pub late_syncs: Vec<WorkItemView>,
    pub failed_syncs: Vec<WorkItemView>,
    pub circuits: Vec<WorkItemView>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::WorkStats;

    #[test]
    fn work_is_late_once_its_oldest_due_item_waited_over_a_minute() {
        let stats = |kind| WorkStats {
            kind,
            running: 4,
            limit: 4,
            done: 10,
            failed: 1,
            longest: Vec::new(),
        };
        let now = 10_000;
        let kinds = [
            WorkKindView::of(&stats("scheduled_sync"), Some((3, Some(now - 60))), now),
            WorkKindView::of(&stats("webhook_stream"), Some((0, None)), now),
        ];
        assert_eq!((kinds[0].late, kinds[0].lag.as_str()), (false, "1 min 0 s"));
        assert_eq!((kinds[1].late, kinds[1].lag.as_str()), (false, "none due"));
        assert!(work_headline(&kinds).0);
        let kinds = [
            WorkKindView::of(&stats("scheduled_sync"), Some((12, Some(now - 185))), now),
            WorkKindView::of(&stats("webhook_stream"), None, now),
        ];
        assert_eq!(
            work_headline(&kinds),
            (
                false,
                "Behind: scheduled_sync: 12 due, the oldest waiting 3 min 5 s.".to_owned()
            )
        );
        assert_eq!(kinds[1].due, "not counted");
        assert_eq!(fmt_seconds(7322), "2 h 2 min");
    }
}
