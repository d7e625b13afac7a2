//! `okta-client`: a typed client for Okta's Management API that streams pages, paces itself
//! under Okta's rate limits and retries only what is safe to retry.
//!
//! ```no_run
//! # async fn demo() -> Result<(), okta_client::Error> {
//! use futures::TryStreamExt;
//! use okta_client::Client;
//! use okta_client::expr::Attr;
//!
//! let client = Client::builder("https://dev-207260.okta.com")?
//!     .api_token("00abc...".to_owned())
//!     .build()?;
//! // Every user, page after page (the next page is fetched while this one is decoded).
//! let users: Vec<_> = client.users().list().limit(200).stream().try_collect().await?;
//! // A search whose value is quoted and escaped for you.
//! let engineers: Vec<_> = client
//!     .users()
//!     .list()
//!     .search(Attr::new("profile.department")?.eq("Engineering"))
//!     .stream()
//!     .try_collect()
//!     .await?;
//! let admin = client.users().get("admin@example.com").await?;
//! let groups: Vec<_> = client.users().groups(&admin.id).stream().try_collect().await?;
//! // What the org said of its rate limits, per endpoint bucket.
//! for (bucket, limit) in client.rate_limits() {
//!     println!("{bucket}: {} of {} left", limit.remaining, limit.limit);
//! }
//! # Ok(()) }
//! ```
//!
//! A service app (client credentials with `private_key_jwt`, DPoP-bound tokens):
//!
//! ```no_run
//! # async fn demo(pem: &str) -> Result<(), okta_client::Error> {
//! use okta_client::{Client, PrivateKey, ServiceApp};
//!
//! let key = PrivateKey::parse(pem)?.with_key_id("my-key");
//! let app = ServiceApp::new("0oa1service", &["okta.users.read", "okta.logs.read"], key).with_dpop();
//! let client = Client::builder("https://dev-207260.okta.com")?.service_app(app).build()?;
//! // Polling the System Log, resumable from a saved cursor.
//! let mut tail = client.logs().tail(time::OffsetDateTime::now_utc() - time::Duration::hours(1));
//! let events = tail.catch_up().await?;
//! let saved = tail.cursor().to_string();
//! let mut later = client.logs().resume(&saved.parse().unwrap())?;
//! # Ok(()) }
//! ```
//!
//! Or configured as Okta's SDKs are (`~/.okta/okta.yaml`, `./.okta.yaml`, `OKTA_CLIENT_*`):
//! `Client::from_env()?` (see [`config`]).
//!
//! # Layout
//! - [`org_url`]: [`OrgUrl`], the validated base URL of an org (https, or http on loopback).
//! - [`auth`]: how requests are authenticated: SSWS API tokens and [`TokenSource`]s.
//! - [`service_app`]: client credentials with `private_key_jwt`, DPoP.
//! - [`config`]: configuration as Okta's SDKs read it.
//! - [`client`]: [`Client`] and its builder: pacing, retries ([`RetryPolicy`]), error decoding.
//! - [`error`]: the one [`Error`] type, with Okta's error fields and the request id.
//! - [`link`]: parsing of `Link` headers.
//! - [`page`]: [`Page`], one page of a collection with its `next` link and rate-limit state.
//! - [`list`]: [`List`], a collection request: one page, a stream of pages or of items.
//! - [`users`], [`groups`], [`apps`], [`logs`]: `client.users()`, `.groups()`, `.apps()`,
//!   `.logs()`: the operations on each resource.
//! - [`expr`]: typed builders of `search`/`filter` expressions.
//! - [`models`]: typed models following Okta's spec ([`User`], …), keeping unknown fields.

pub mod apps;
pub mod auth;
pub mod body;
pub mod client;
pub mod config;
pub mod error;
pub mod event_hooks;
pub mod expr;
pub mod groups;
pub mod link;
pub mod list;
pub mod logs;
pub mod models;
pub mod org_url;
mod pacing;
pub mod page;
pub mod service_app;
pub mod users;

pub use auth::{AccessToken, TokenSource, TokenSourceError};
pub use client::{Client, ClientBuilder, RawBody, RawResponse, RetryPolicy, Transport};
pub use config::{AuthorizationMode, OktaConfig};
pub use error::{ApiError, Error, Result, with_causes};
pub use event_hooks::{EventHook, NewEventHook};
pub use list::List;
pub use logs::{LogCursor, LogTail};
pub use models::{
    AppGroupAssignment, AppUser, Application, AuthProvider, Group, GroupProfile, LogEntity, LogEvent, NewUser, RawJson,
    User, UserCredentials, UserProfile, UserStatus, UserType,
};
pub use org_url::OrgUrl;
pub use page::{Page, RateLimit};
pub use service_app::{GeneratedKey, PrivateKey, ServiceApp, ServiceCredential};
pub use users::Lifecycle;
