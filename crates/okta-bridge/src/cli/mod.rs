//! The `okta-bridge` commands, one file per command group; each parses its arguments and calls
//! the library (the service for accounts and connections, the app for `serve`).

mod accounts;
mod api_keys;
mod apps;
mod connections;
mod directory;
mod groups;
mod hooks;
mod keys;
mod login;
mod logs;
mod okta;
mod roles;
mod sandbox;
mod sandbox_fleet;
mod scim;
mod scope;
mod serve;
mod sessions;
mod sync;
mod users;
mod webhooks;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "okta-bridge",
    version,
    about = "Connect applications to Okta orgs and work with their data"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server: connect orgs through OAuth, list connections and users.
    Serve(Box<serve::ServeArgs>),
    /// Run a local Okta org (OAuth authorization server + Management API).
    Sandbox(sandbox::SandboxArgs),
    /// An org's users, read live (--org-url and --api-token, or --connection NAME).
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// An org's groups and their members, read live.
    #[command(subcommand)]
    Groups(groups::GroupsCommand),
    /// An org's apps and their assigned users, read live.
    #[command(subcommand)]
    Apps(apps::AppsCommand),
    /// An org's System Log.
    #[command(subcommand)]
    Logs(logs::LogsCommand),
    /// The orgs okta-bridge works with and their apps (secrets from a file or stdin, never
    /// from the command line).
    #[command(subcommand)]
    Accounts(accounts::AccountsCommand),
    /// The API keys applications call okta-bridge with, each with a scope.
    #[command(subcommand)]
    ApiKeys(api_keys::ApiKeysCommand),
    /// Stored connections.
    #[command(subcommand)]
    Connections(connections::ConnectionsCommand),
    /// Sync a connection's directory now (what changed since the last run, or everything with
    /// --full; each change becomes a feed event).
    Sync(sync::SyncArgs),
    /// A connection's synced directory, from the database.
    #[command(subcommand)]
    Directory(directory::DirectoryCommand),
    /// Print a connection's change feed as JSON lines.
    Events(sync::EventsArgs),
    /// The master keys that encrypt stored secrets.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The webhook endpoints the change feed is delivered to.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// An account's SCIM push: the customer's Okta provisions its directory.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// The application's roles (what users carry, mapped from groups).
    #[command(subcommand)]
    Roles(roles::RolesCommand),
    /// Which of an org's users an account's directory holds (the whole org, groups, an app).
    #[command(subcommand)]
    Scope(scope::ScopeCommand),
    /// Print the OpenAPI 3.1 document of the JSON API (what GET /api/openapi.json serves).
    Openapi,
    /// A connection's Okta event hook: the org pushes its changes as they happen.
    #[command(subcommand)]
    Hooks(hooks::HooksCommand),
    /// Console sessions: who is signed in, and ending every session of a person.
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
}

/// Runs the command.
///
/// # Errors
/// Whatever the command fails with; [`report`] says it.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Users(cmd) => users::run(cmd).await,
        Command::Groups(cmd) => groups::run(cmd).await,
        Command::Apps(cmd) => apps::run(cmd).await,
        Command::Logs(cmd) => logs::run(cmd).await,
        Command::Accounts(cmd) => accounts::run(cmd).await,
        Command::ApiKeys(cmd) => api_keys::run(cmd).await,
        Command::Connections(cmd) => connections::run(cmd).await,
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Sync(args) => sync::sync(args).await,
        Command::Directory(cmd) => directory::run(cmd).await,
        Command::Events(args) => sync::events(args).await,
        Command::Webhooks(cmd) => webhooks::run(cmd).await,
        Command::Scim(cmd) => scim::run(cmd).await,
        Command::Roles(cmd) => roles::run(cmd).await,
        Command::Scope(cmd) => scope::run(cmd).await,
        Command::Hooks(cmd) => hooks::run(cmd).await,
        Command::Sessions(cmd) => sessions::run(cmd).await,
        Command::Openapi => {
            println!(
                "{}",
                okta_bridge::server::openapi_document()
                    .to_pretty_json()
                    .map_err(|e| anyhow::anyhow!("cannot write the document: {e}"))?
            );
            Ok(())
        }
    }
}

/// The error and its causes, each said once: a cause whose text its error already shows (as
/// okta-client's transport errors do) is not repeated.
pub fn report(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Ctrl-C, or SIGTERM (what process managers and container runtimes send to stop a server).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// RFC 3339, or nothing.
fn ts(t: Option<time::OffsetDateTime>) -> String {
    t.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::report;

    /// Every command's arguments are consistent (unique ids, valid defaults): clap checks only
    /// when a command is parsed, so a clash would otherwise show up as a panic at start.
    #[test]
    fn the_commands_are_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[derive(Debug, thiserror::Error)]
    #[error("error sending request: connection refused")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("request to Okta failed: error sending request: connection refused")]
    struct Outer(#[source] Inner);

    #[test]
    fn each_cause_is_said_once() {
        let e = anyhow::Error::new(Outer(Inner)).context("listing users failed");
        assert_eq!(
            report(&e),
            "listing users failed: request to Okta failed: error sending request: connection refused"
        );
    }
}
