//! `okta-client`: a typed client for Okta's Management API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), okta_client::Error> {
//! use futures::TryStreamExt;
//! use okta_client::Client;
//!
//! let client = Client::builder("https://dev-207260.okta.com")?
//!     .api_token("00abc...".to_owned())
//!     .build()?;
//! let users: Vec<_> = client.users().list().limit(200).stream().try_collect().await?;
//! let admin = client.users().get("admin@example.com").await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`org_url`]: [`OrgUrl`], the validated base URL of an org (https, or http on loopback).
//! - [`auth`]: how requests are authenticated: SSWS API tokens and [`TokenSource`]s.
//! - [`client`]: [`Client`] and its builder: the HTTP client, authentication, error decoding.
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
pub mod client;
pub mod config;
pub mod error;
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
pub use client::{Client, ClientBuilder, RetryPolicy};
pub use config::{AuthorizationMode, OktaConfig};
pub use error::{ApiError, Error, Result};
pub use list::List;
pub use logs::{LogCursor, LogTail};
pub use models::{
    AppGroupAssignment, AppUser, Application, AuthProvider, Group, GroupProfile, LogEntity, LogEvent, NewUser, RawJson,
    User, UserCredentials, UserProfile, UserStatus, UserType,
};
pub use org_url::OrgUrl;
pub use page::{Page, RateLimit};
pub use service_app::{PrivateKey, ServiceApp};
pub use users::Lifecycle;
