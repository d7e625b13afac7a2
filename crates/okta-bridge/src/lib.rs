//! okta-bridge: connect applications to Okta orgs and work with their data.
//!
//! # Layout
//! Layers, each importing only those above it in this list (`docs/ARCHITECTURE.md` draws them):
//! - [`error`]: the crate's one error type, with typed causes.
//! - [`failpoint`]: test-only points where a process can be made to die on purpose.
//! - [`egress`]: reaching orgs: the public-addresses-only policy and resolver, the HTTP
//!   clients built with it, the development switch.
//! - [`model`]: the domain's types, valid once constructed: names, accounts and their apps,
//!   connections, tokens, one type per secret.
//! - [`crypto`]: the master key ring and encryption at rest; hashes and random secrets.
//! - [`store`]: SQLite or PostgreSQL, one file per table family, every secret sealed.
//! - [`oauth`]: the authorization-code flow with PKCE, discovery, refresh and revocation.
//! - [`apps`]: the registry of each account's OAuth web app or service app.
//! - [`tokens`]: fresh access tokens, refreshed once across instances (a lease in the database).
//! - [`sync`]: directory sync: reading an org's whole directory, the differences from what is
//!   stored as change-feed events, and folding a feed.
//! - [`service`]: the workflows the server and the CLI share: accounts, connecting,
//!   disconnecting, an okta-client for a connection, syncing a directory, reading its feed.
//! - [`settings`]: flags and environment variables into one typed [`settings::Settings`].
//! - [`server`]: the HTTP server: OAuth routes, HTML pages, JSON API, metrics; errors become
//!   answers in one place.
//! - [`app`]: the composition root: [`app::App::build`] turns settings into a running server.
//! - `src/cli/` (binary only): the `okta-bridge` commands, one file per command group.

pub mod app;
pub mod apps;
pub mod console;
pub mod crypto;
pub mod egress;
pub mod error;
pub mod failpoint;
pub mod model;
pub mod oauth;
pub mod server;
pub mod service;
pub mod settings;
pub mod store;
pub mod sync;
pub mod tokens;

pub use error::{Error, Result};
