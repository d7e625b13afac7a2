//! `okta-bridge hooks register|status NAME`: a connection's Okta event hook, which pushes the
//! org's changes to okta-bridge as they happen.

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::model::AccountName;
use okta_bridge::settings::StoreSettings;
use url::Url;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum HooksCommand {
    /// Create (or update) the connection's event hook at the org and have the org verify it;
    /// needs the okta.eventHooks.manage scope, and okta-bridge serving at --public-url.
    Register(RegisterArgs),
    /// The hook as the org says it is (status, verification, event types) and as okta-bridge
    /// keeps it (calls taken, duplicates, targeted syncs, objects waiting), as JSON.
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct RegisterArgs {
    /// The connection's account name.
    name: String,
    /// The address the org reaches okta-bridge's server at (https, as Okta requires); the
    /// hook is called at <public-url>/hooks/okta/<name>.
    #[arg(long, env = "OKTA_BRIDGE_PUBLIC_URL")]
    public_url: Url,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The connection's account name.
    name: String,
    #[command(flatten)]
    store: StoreSettings,
}

pub(crate) async fn run(cmd: HooksCommand) -> Result<()> {
    match cmd {
        HooksCommand::Register(a) => {
            let account = AccountName::parse(&a.name)?;
            let status = open_service(&a.store)
                .await?
                .register_hook(&account, &a.public_url)
                .await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            eprintln!(
                "Registered and verified: {}'s org now calls {} as changes happen.",
                account,
                okta_bridge::service::hook_uri(&a.public_url, &account)
            );
            Ok(())
        }
        HooksCommand::Status(a) => {
            let account = AccountName::parse(&a.name)?;
            let status = open_service(&a.store).await?.hook_status(&account).await?;
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(())
        }
    }
}
