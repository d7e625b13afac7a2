//! `okta-bridge roles set SLUG=NAME …` and `okta-bridge roles list`: the application's roles,
//! as `PUT /api/roles` and `GET /api/roles` keep them; `okta-bridge roles map ACCOUNT
//! GROUP=ROLE[,ROLE] … [--default ROLE]` and `okta-bridge roles mappings ACCOUNT`: an account's
//! groups mapped to them.

use anyhow::{Result, bail};
use clap::Subcommand;
use okta_bridge::model::{AccountName, Role, RoleMapping, RoleMappings, rfc3339};
use okta_bridge::settings::StoreSettings;
use okta_bridge::store::{StoredMappings, StoredRoles};
use serde_json::json;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum RolesCommand {
    /// Declare the roles, highest priority first, replacing those declared before:
    /// `okta-bridge roles set admin=Admin member=Member viewer=Viewer`.
    Set(SetArgs),
    /// The roles, highest priority first, as JSON.
    List(ListArgs),
    /// Map an account's groups to roles, replacing its mappings:
    /// `okta-bridge roles map acme 00gAdmins=admin 00gStaff=member,viewer --default viewer`.
    Map(MapArgs),
    /// An account's role mappings, as JSON.
    Mappings(AccountArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct MapArgs {
    /// The account.
    account: String,
    /// `GROUP_ID=ROLE[,ROLE…]` each; none maps no group.
    mappings: Vec<String>,
    /// The role of a user in no mapped group (none unless given).
    #[arg(long)]
    default: Option<String>,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountArgs {
    /// The account.
    account: String,
    #[command(flatten)]
    store: StoreSettings,
}

fn print_mappings(account: &AccountName, m: &StoredMappings) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "account": account,
            "mappings": m.mappings.mappings,
            "default": m.mappings.default,
            "updatedAt": m.updated_at.and_then(rfc3339),
            "updatedBy": m.updated_by,
        }))?
    );
    Ok(())
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
        RolesCommand::Map(a) => {
            let account = AccountName::parse(&a.account)?;
            let mut mappings = Vec::with_capacity(a.mappings.len());
            for arg in &a.mappings {
                let Some((group, roles)) = arg.split_once('=') else {
                    bail!("{arg:?}: give each group as GROUP_ID=ROLE[,ROLE], such as 00gAdmins=admin");
                };
                mappings.push(RoleMapping {
                    group: group.to_owned(),
                    roles: roles
                        .split(',')
                        .map(str::trim)
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect(),
                });
            }
            let m = RoleMappings {
                mappings,
                default: a.default,
            };
            let stored = open_service(&a.store)
                .await?
                .set_role_mappings(&account, m, "cli")
                .await?;
            print_mappings(&account, &stored)
        }
        RolesCommand::Mappings(a) => {
            let account = AccountName::parse(&a.account)?;
            print_mappings(&account, &open_service(&a.store).await?.role_mappings(&account).await?)
        }
    }
}
