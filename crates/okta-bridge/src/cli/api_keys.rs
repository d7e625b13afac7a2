//! `okta-bridge api-keys create|list|revoke`: the keys applications call the API with. A key
//! is printed once, when made; the database keeps its hash.

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::model::{ApiKey, Scope};
use okta_bridge::settings::StoreSettings;
use secrecy::ExposeSecret;

use super::connections::open_service;
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum ApiKeysCommand {
    /// Make a key; prints it once (send it as `Authorization: Bearer <key>`).
    Create(CreateArgs),
    /// The keys: scope, when made, last used, revoked (never the keys themselves).
    List(ListArgs),
    /// Revoke a key (by id or name): it stops working at once.
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// What the key is for (unique among keys not revoked), e.g. "billing-service".
    name: String,
    /// What it may do: directory:read, connections:write (includes reading) or admin.
    #[arg(long, value_parser = parse_scope)]
    scope: Scope,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// One JSON object a line instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeArgs {
    /// The key's id (ak_…) or name.
    key: String,
    #[command(flatten)]
    store: StoreSettings,
}

fn parse_scope(s: &str) -> Result<Scope, String> {
    Scope::parse(s).map_err(|e| e.to_string())
}

fn at(t: Option<i64>) -> String {
    ts(t.and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok()))
}

fn row(k: &ApiKey) -> String {
    let state = if k.revoked_at.is_some() { "revoked" } else { "active" };
    format!(
        "{:<20}  {:<24}  {:<17}  {:<8}  {:<20}  {}",
        k.id,
        k.name,
        k.scope,
        state,
        at(Some(k.created_at)),
        k.last_used_at.map_or_else(|| "never".to_owned(), |t| at(Some(t)))
    )
}

pub(crate) async fn run(cmd: ApiKeysCommand) -> Result<()> {
    match cmd {
        ApiKeysCommand::Create(a) => {
            let (key, secret) = open_service(&a.store).await?.create_api_key(&a.name, a.scope).await?;
            eprintln!(
                "API key {} ({}, scope {}). Shown once: keep it where the application keeps secrets.",
                key.id, key.name, key.scope
            );
            println!("{}", secret.expose_secret());
            Ok(())
        }
        ApiKeysCommand::List(a) => {
            let keys = open_service(&a.store).await?.store().api_keys().await?;
            if a.json {
                for k in &keys {
                    println!("{}", serde_json::to_string(k)?);
                }
            } else {
                println!(
                    "{:<20}  {:<24}  {:<17}  {:<8}  {:<20}  LAST USED",
                    "ID", "NAME", "SCOPE", "STATE", "CREATED"
                );
                for k in &keys {
                    println!("{}", row(k));
                }
            }
            Ok(())
        }
        ApiKeysCommand::Revoke(a) => {
            let key = open_service(&a.store).await?.revoke_api_key(&a.key).await?;
            println!("Revoked API key {} ({}).", key.id, key.name);
            Ok(())
        }
    }
}
