//! okta-bridge: connect applications to Okta orgs and work with their data.
//!
//! # Layout
//! - [`settings`]: flags and environment variables into one typed [`settings::Settings`].
//! - [`domain`]: validated types ([`domain::AccountName`], [`domain::Scopes`]).
//! - [`crypto`]: the master key and encryption at rest of every stored secret.
//! - [`store`]: connections, pending authorizations, sessions in SQLite or PostgreSQL.
//! - [`connect`]: the OAuth authorization-code + PKCE flow and the refresh grant.
//! - [`tokens`]: fresh access tokens for stored connections (refresh ahead of expiry).
//! - [`server`]: the HTTP server: OAuth routes, HTML pages, JSON API.
//! - `src/cli.rs` (binary only): the `okta-bridge` commands (`serve`, `sandbox`, `users list`, `connections list`).
//! - [`error`]: the crate's one error type.

pub mod accounts;
pub mod connect;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod server;
pub mod settings;
pub mod store;
pub mod tokens;

pub use error::{Error, Result};
