//! okta-sandbox's integration tests: a real sandbox on 127.0.0.1:0, real HTTP.

mod apps;
mod authorization_servers;
mod churn;
mod conformance;
mod event_hooks;
mod faults;
mod fuzz;
mod groups;
mod lifecycle;
mod oauth;
mod provisioning;
mod sdks;
pub(crate) mod service_apps;
mod snapshots;
mod spec;
mod sweep;
mod syslog;
mod users;
mod util;
