//! `okta-bridge roles set SLUG=NAME …` and `okta-bridge roles list`: the application's roles,
//! as `PUT /api/roles` and `GET /api/roles` keep them.

use anyhow::{Result, bail};
use clap::Subcommand;
use okta_bridge::model::{Role, rfc3339};
use okta_bridge::settings::StoreSettings;
use okta_bridge::store::StoredRoles;
use serde_json::json;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum RolesCommand {
    /// Declare the roles, highest priority first, replacing those declared before:
    /// `okta-bridge roles set admin=Admin member=Member viewer=Viewer`.
    Set(SetArgs),
    /// The roles, highest priority first, as JSON.
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SetArgs {
    /// `SLUG=NAME` each (a slug alone is its own name); none declares no roles.
    roles: Vec<String>,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    store: StoreSettings,
}

fn print(r: &StoredRoles) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "roles": r.roles,
            "updatedAt": r.updated_at.and_then(rfc3339),
            "updatedBy": r.updated_by,
        }))?
    );
    Ok(())
}

pub(crate) async fn run(cmd: RolesCommand) -> Result<()> {
    match cmd {
        RolesCommand::Set(a) => {
            let mut roles = Vec::with_capacity(a.roles.len());
            for arg in &a.roles {
                let (slug, name) = arg.split_once('=').unwrap_or((arg, arg));
                if slug.is_empty() {
                    bail!("{arg:?}: give each role as SLUG=NAME, such as admin=Admin");
                }
                roles.push(Role {
                    slug: slug.to_owned(),
                    name: name.to_owned(),
                });
            }
            let stored = open_service(&a.store).await?.set_roles(roles, "cli").await?;
            print(&stored)
        }
        RolesCommand::List(a) => print(&open_service(&a.store).await?.roles().await?),
    }
}
