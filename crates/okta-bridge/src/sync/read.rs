//! Reading an org through okta-client: the conversions from Okta's objects to the kept ones,
//! the System Log poll, apps with their groups and users, a group's members — what the full
//! pass (`service/pass.rs`) and the incremental read share.

use futures::{StreamExt, TryStreamExt};
use okta_client::expr::Attr;
use okta_client::{Client, LogCursor};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::model::{DirApp, DirGroup, DirUser, Directory};

/// Users a page (Okta's most), members a page, apps a page, app users a page, log events a
/// page.
pub(crate) const USERS_PAGE: u32 = 200;
pub(crate) const MEMBERS_PAGE: u32 = 1000;
pub(crate) const APPS_PAGE: u32 = 200;
pub(crate) const APP_USERS_PAGE: u32 = 500;
pub(crate) const LOG_PAGE: u32 = 1000;
/// Groups (or apps) whose members are read at once.
pub(crate) const CONCURRENT_READS: usize = 4;
/// How far before a run's start the System Log poll it sets up begins: events stored while a
/// full read ran (or shortly before) are read again by the next incremental run, which finds
/// them already applied.
pub(crate) const LOG_OVERLAP: time::Duration = time::Duration::minutes(5);

/// The System Log events an incremental read follows.
pub(crate) const LOG_EVENT_TYPES: &[&str] = &[
    "group.user_membership.add",
    "group.user_membership.remove",
    "user.lifecycle.delete.completed",
    "group.lifecycle.delete",
    "application.user_membership.add",
    "application.user_membership.remove",
];

pub(crate) fn text(t: Option<OffsetDateTime>) -> Option<String> {
    t.and_then(|t| t.format(&Rfc3339).ok())
}

pub(crate) fn dir_user(u: okta_client::User) -> DirUser {
    let mut profile = match serde_json::to_value(&u.profile) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    profile.retain(|_, v| !v.is_null());
    DirUser {
        status: u.status.as_str().to_owned(),
        login: u.profile.login.clone(),
        email: u.profile.email.clone(),
        first_name: u.profile.first_name.clone(),
        last_name: u.profile.last_name.clone(),
        created: text(u.created),
        activated: text(u.activated),
        status_changed: text(u.status_changed),
        last_login: text(u.last_login),
        last_updated: text(u.last_updated),
        profile,
        external_id: None,
        id: u.id,
    }
}

pub(crate) fn dir_group(g: okta_client::Group) -> DirGroup {
    DirGroup {
        group_type: g.group_type.unwrap_or_else(|| "OKTA_GROUP".to_owned()),
        name: g.profile.name,
        description: g.profile.description,
        created: text(g.created),
        last_updated: text(g.last_updated),
        last_membership_updated: text(g.last_membership_updated),
        id: g.id,
    }
}

pub(crate) fn dir_app(a: okta_client::Application) -> DirApp {
    DirApp {
        id: a.id,
        label: a.label,
        name: a.name,
        status: a.status,
        sign_on_mode: a.sign_on_mode,
    }
}

/// An instant parsed back from the text kept.
pub(crate) fn instant(t: Option<&str>) -> Option<OffsetDateTime> {
    t.and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
}

/// A System Log poll of the events incremental reads follow, from `since` on.
pub(crate) fn log_cursor(client: &Client, since: OffsetDateTime) -> LogCursor {
    let expr = LOG_EVENT_TYPES
        .iter()
        .map(|t| Attr::new("eventType").map(|a| a.eq(*t)))
        .filter_map(Result::ok)
        .reduce(okta_client::expr::Expr::or);
    let mut list = client.logs().query().since(since).ascending(true).limit(LOG_PAGE);
    if let Some(e) = expr {
        list = list.filter(e);
    }
    list.url()
        .to_string()
        .parse()
        .unwrap_or_else(|e: std::convert::Infallible| match e {})
}

/// Reads the apps and their groups into `dir`, and the users of the apps `users_of` names
/// (every app when `None`); the other apps keep the users `dir` has.
pub(crate) async fn read_apps(
    client: &Client,
    dir: &mut Directory,
    users_of: Option<&(dyn Fn(&str) -> bool + Sync)>,
) -> Result<(), okta_client::Error> {
    let apps: Vec<okta_client::Application> = client.apps().list().limit(APPS_PAGE).stream().try_collect().await?;
    let app_ids: Vec<String> = apps.iter().map(|a| a.id.clone()).collect();
    let groups: Vec<(String, Vec<String>)> = futures::stream::iter(app_ids.clone())
        .map(app_group_ids(client.clone()))
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    dir.app_groups = groups
        .into_iter()
        .flat_map(|(aid, gids)| gids.into_iter().map(move |g| (aid.clone(), g)))
        .collect();
    let reread: Vec<String> = app_ids
        .iter()
        .filter(|a| users_of.is_none_or(|f| f(a)))
        .cloned()
        .collect();
    let app_users: Vec<AppUsers> = futures::stream::iter(reread.clone())
        .map(app_user_ids(client.clone()))
        .buffer_unordered(CONCURRENT_READS)
        .try_collect()
        .await?;
    dir.app_users
        .retain(|(aid, _), _| app_ids.contains(aid) && !reread.contains(aid));
    for (aid, users) in app_users {
        for (uid, scope) in users {
            dir.app_users.insert((aid.clone(), uid), scope);
        }
    }
    dir.apps = apps.into_iter().map(|a| (a.id.clone(), dir_app(a))).collect();
    Ok(())
}

/// Reads app `aid` and the groups assigned to it into `dir` (nothing when Okta no longer has
/// it).
pub(crate) async fn read_app(client: &Client, aid: &str, dir: &mut Directory) -> Result<(), okta_client::Error> {
    let app = match client.apps().get(aid).await {
        Ok(app) => app,
        Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => return Ok(()),
        Err(e) => return Err(e),
    };
    let (_, groups) = app_group_ids(client.clone())(aid.to_owned()).await?;
    dir.app_groups = groups.into_iter().map(|g| (aid.to_owned(), g)).collect();
    dir.apps.insert(app.id.clone(), dir_app(app));
    Ok(())
}

/// An app's id and its users' ids with their scopes.
pub(crate) type AppUsers = (String, Vec<(String, Option<String>)>);

type Read<T> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, okta_client::Error>> + Send>>;

/// Reads a group's member ids (a function of the group id, for a stream of groups).
pub(crate) fn member_ids(client: Client) -> impl FnMut(String) -> Read<(String, Vec<String>)> {
    move |gid| {
        let client = client.clone();
        Box::pin(async move {
            let ids: Vec<String> = client
                .groups()
                .members(&gid)
                .limit(MEMBERS_PAGE)
                .stream()
                .map_ok(|u| u.id)
                .try_collect()
                .await?;
            Ok((gid, ids))
        })
    }
}

/// An app's user as the sync keeps it: the id and how it is assigned.
#[derive(serde::Deserialize)]
struct AppUserRef {
    id: String,
    scope: Option<String>,
}

/// Reads an app's users and their scopes (a function of the app id).
pub(crate) fn app_user_ids(client: Client) -> impl FnMut(String) -> Read<AppUsers> {
    move |aid| {
        let client = client.clone();
        Box::pin(async move {
            let users: Vec<(String, Option<String>)> = client
                .apps()
                .users(&aid)
                .limit(APP_USERS_PAGE)
                .decode_as::<AppUserRef>()
                .stream()
                .map_ok(|u| (u.id, u.scope))
                .try_collect()
                .await?;
            Ok((aid, users))
        })
    }
}

/// Reads the ids of the groups assigned to an app (a function of the app id).
pub(crate) fn app_group_ids(client: Client) -> impl FnMut(String) -> Read<(String, Vec<String>)> {
    move |aid| {
        let client = client.clone();
        Box::pin(async move {
            let ids: Vec<String> = client
                .apps()
                .groups(&aid)
                .limit(APPS_PAGE)
                .stream()
                .map_ok(|g| g.id)
                .try_collect()
                .await?;
            Ok((aid, ids))
        })
    }
}
