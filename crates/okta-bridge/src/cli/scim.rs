//! `okta-bridge scim enable|rotate|disable|status NAME`: an account's SCIM push, as the API
//! keeps it. The token is printed once, when made or rotated, with the base URL the customer's
//! Okta admin pastes.

use std::time::Duration;

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::model::{AccountName, ScimToken};
use okta_bridge::settings::StoreSettings;
use secrecy::ExposeSecret;
use serde_json::json;
use url::Url;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum ScimCommand {
    /// Turn SCIM push on: prints the base URL and the token (once) for the customer's Okta.
    Enable(UrlArgs),
    /// A new token (printed once); the old one works too for the overlap.
    Rotate(RotateArgs),
    /// Turn SCIM push off: its token stops working (the directory pushed so far is kept).
    Disable(NameArgs),
    /// The base URL, the token's times and the last request received, as JSON.
    Status(UrlArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct NameArgs {
    /// The account.
    name: String,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UrlArgs {
    /// The account.
    name: String,
    /// Where okta-bridge is reached from the customer's Okta (the base URL is under it).
    #[arg(long, env = "OKTA_BRIDGE_PUBLIC_URL", default_value = "http://127.0.0.1:3000")]
    public_url: Url,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    #[command(flatten)]
    at: UrlArgs,
    /// Seconds the old token keeps working (at most 7 days).
    #[arg(long, default_value_t = 86_400)]
    overlap_seconds: u64,
}

fn base_url(public_url: &Url, account: &AccountName) -> String {
    format!("{}/scim/v2/{account}", public_url.as_str().trim_end_matches('/'))
}

fn print_token(public_url: &Url, account: &AccountName, token: &ScimToken) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string(&json!({ "account": account, "baseUrl": base_url(public_url, account) }))?
    );
    eprintln!("SCIM token of {account} (shown once; paste it in Okta: Provisioning > Integration > API Token):");
    println!("{}", token.expose_secret());
    Ok(())
}

pub(crate) async fn run(cmd: ScimCommand) -> Result<()> {
    match cmd {
        ScimCommand::Enable(a) => {
            let account = AccountName::parse(&a.name)?;
            let token = open_service(&a.store).await?.enable_scim(&account).await?;
            print_token(&a.public_url, &account, &token)
        }
        ScimCommand::Rotate(a) => {
            let account = AccountName::parse(&a.at.name)?;
            let token = open_service(&a.at.store)
                .await?
                .rotate_scim(&account, Duration::from_secs(a.overlap_seconds))
                .await?;
            print_token(&a.at.public_url, &account, &token)
        }
        ScimCommand::Disable(a) => {
            let account = AccountName::parse(&a.name)?;
            let service = open_service(&a.store).await?;
            service.scim_state(&account).await?;
            service.disconnect(&account, false).await?;
            println!("{}", serde_json::to_string(&json!({ "disabled": account }))?);
            Ok(())
        }
        ScimCommand::Status(a) => {
            let account = AccountName::parse(&a.name)?;
            let s = open_service(&a.store).await?.scim_state(&account).await?;
            println!("{}", s.view(account.as_str(), &base_url(&a.public_url, &account)));
            Ok(())
        }
    }
}
