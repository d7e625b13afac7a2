//! okta-sandbox's integration tests: a real sandbox on 127.0.0.1:0, real HTTP.

mod conformance;
mod oauth;
mod spec;
mod users;
mod util;
