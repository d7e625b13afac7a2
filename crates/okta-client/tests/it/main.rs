//! okta-client against the real okta-sandbox, and against small raw HTTP servers that
//! misbehave in ways a sandbox should not.

mod misbehaving;
mod resilience;
mod resources;
mod sandbox;
mod service_apps;
mod tls;
mod util;
