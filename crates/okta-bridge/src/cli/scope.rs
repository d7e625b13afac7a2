//! `okta-bridge scope set ACCOUNT --groups 00gA,00gB | --app 0oaX | --all` and `okta-bridge
//! scope show ACCOUNT`: which of the org's users an account's directory holds, as
//! `PUT/GET /api/accounts/{name}/scope` keep it.

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::model::{AccountName, ScopeBody};
use okta_bridge::settings::StoreSettings;
use okta_bridge::store::StoredScope;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum ScopeCommand {
    /// Choose who the account's directory holds; the next sync run reads it whole and says
    /// exactly the difference: `okta-bridge scope set acme --groups 00gA,00gB`.
    Set(SetArgs),
    /// The account's scope, as JSON.
    Show(ShowArgs),
}

#[derive(Debug, clap::Args)]
#[group(id = "which", required = true, multiple = false)]
pub(crate) struct SetArgs {
    /// The account.
    account: String,
    /// The whole org (the default).
    #[arg(long, group = "which")]
    all: bool,
    /// The members of these groups (ids, comma-separated).
    #[arg(long, group = "which", value_delimiter = ',')]
    groups: Option<Vec<String>>,
    /// The users assigned to this app (its id).
    #[arg(long, group = "which")]
    app: Option<String>,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// The account.
    account: String,
    #[command(flatten)]
    store: StoreSettings,
}

fn print(account: &AccountName, s: &StoredScope) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(&s.view(account))?);
    Ok(())
}

pub(crate) async fn run(cmd: ScopeCommand) -> Result<()> {
    match cmd {
        ScopeCommand::Set(a) => {
            let account = AccountName::parse(&a.account)?;
            let body = ScopeBody {
                all: a.all.then_some(true),
                groups: a.groups,
                app: a.app,
            };
            let stored = open_service(&a.store).await?.set_scope(&account, body, "cli").await?;
            print(&account, &stored)
        }
        ScopeCommand::Show(a) => {
            let account = AccountName::parse(&a.account)?;
            print(&account, &open_service(&a.store).await?.scope(&account).await?)
        }
    }
}
