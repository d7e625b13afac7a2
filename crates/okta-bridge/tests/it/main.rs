//! okta-bridge's integration tests: the real sandbox, the real server, real SQLite files and
//! the real PostgreSQL (set `OKTA_BRIDGE_TEST_POSTGRES`, or have one on 127.0.0.1:5432).

mod accounts;
mod api_auth;
mod app_rejected;
mod browser;
mod cli;
mod cli_resources;
mod console;
mod console_pages;
mod disconnect;
mod flow;
mod hooks;
mod integrations;
mod keys;
mod lease;
mod login;
mod openapi;
mod ops;
mod proxy;
mod refresh;
mod reject;
mod reliability;
mod roles;
mod scim;
mod scim_push;
mod scope;
mod security;
mod serve;
mod setup;
mod store;
mod sync;
mod sync_model;
mod upgrade;
mod util;
mod webhooks;
