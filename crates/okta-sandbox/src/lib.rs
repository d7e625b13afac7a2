//! A local Okta org: the org authorization server (OAuth 2.0) and the Management API, served
//! over HTTP on loopback, for offline development and for tests.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use okta_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::spawn(SandboxConfig { users: 1_000, ..SandboxConfig::default() }).await?;
//! println!("org at {} (SSWS {})", sandbox.url(), sandbox.config().api_token_value());
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`config`]: everything a sandbox org is made from (users, seed, the OAuth app, TTLs).
//! - `org`: the directory: users, groups, apps, lookup by id or login; `org/generate.rs`
//!   generates an org deterministically from a seed.
//! - `keys`: the RSA key that signs access tokens and its JWKS.
//! - `oauth`: `/oauth2/v1/*` (and custom servers') and discovery: grants, claims, keys;
//!   `oauth/authorize.rs` the authorize endpoint and sign-in page, `oauth/token.rs` the token
//!   endpoint, revoke and introspect, `oauth/client_credentials.rs` service apps'
//!   `private_key_jwt` assertions and DPoP binding.
//! - `api`: `/api/v1/users`: authentication (SSWS or Bearer), scopes, `search`/`filter`/`q`,
//!   sorting, paging by `Link`.
//! - [`query`]: Okta's `search`/`filter` expression language: parser and evaluation.
//! - `changes`: every change to the directory (a `Writer`), with Okta's rules, timestamps and
//!   System Log events; the API's handlers and the churn both go through it.
//! - `churn`: an org that changes by itself, at a rate or a step at a time (`/__sandbox/churn`).
//! - `users_write`: create, update, replace, delete and lifecycle of users.
//! - `groups`: `/api/v1/groups`, members, a user's groups; the built-in `Everyone`.
//! - `apps`: `/api/v1/apps`: the registered OAuth app and bookmark apps, their users (assigned
//!   directly or through groups) and groups.
//! - `provisioning`: the org as Okta's SCIM 2.0 provisioning client: apps made and assigned,
//!   their provisioning connection, `USER_PROVISIONING` and Group Push; a worker that pushes
//!   users and groups as Okta does (`/__sandbox/provisioning` shows what it sent).
//! - `authorization_servers`: `/api/v1/authorizationServers`: the custom servers, or Okta's
//!   401 E0000015 for an org without API Access Management (no custom servers configured).
//! - `syslog`: the System Log: events of every change, sign-in and grant (some stored late, on
//!   request); `/api/v1/logs`.
//! - `dpop`: DPoP proofs (RFC 9449): nonces, `jkt` binding, `ath` on resource calls.
//! - `error`: Okta's error JSON and OAuth error JSON.
//! - `util`: Okta's time format, random tokens, constant-time comparison.
//! - [`faults`]: fault injection (latency, 5xx, 429, cut connections) and `/__sandbox/`
//!   control and counters.
//! - `middleware`: `X-Okta-Request-Id` and the `X-Rate-Limit-*` buckets on every response.
//! - [`snapshot`]: the org as a JSON document: export, `--load`, `--state`.
//! - `state`: [`SandboxState`], the state of one org that every handler shares, with the data
//!   it holds: `state/faults.rs` (rules in force, counters), `state/grants.rs` (codes, tokens),
//!   `state/limits.rs` (rate-limit windows), `state/log.rs` (System Log events),
//!   `state/provisioning.rs` (what each SCIM app was pushed). Handlers import
//!   it; it imports none of them, so the crate's modules import one way.
//! - [`server`]: `router(state)`, `serve(listener, shutdown)` and the [`Sandbox`] handle.
//!
//! The sandbox never depends on `okta-client`: each side is checked against Okta's spec on its
//! own, so a shared mistake cannot hide.

mod api;
mod apps;
mod authorization_servers;
mod changes;
mod churn;
pub mod config;
mod dpop;
mod error;
pub mod event_hooks;
mod extract;
pub mod faults;
mod groups;
mod keys;
mod middleware;
mod oauth;
mod org;
mod provisioning;
pub mod query;
pub mod server;
pub mod snapshot;
mod state;
mod syslog;
pub mod tls;
mod users_write;
mod util;

pub use config::{AuthorizationServer, RefreshTokenRotation, SandboxConfig, SandboxKey, ServiceApp};
pub use server::{Sandbox, SandboxState, router, serve};
pub use tls::SandboxTls;
