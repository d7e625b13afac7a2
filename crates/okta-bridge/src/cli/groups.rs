//! `okta-bridge groups list|members`: an org's groups and their members.

use anyhow::Result;
use clap::Subcommand;
use okta_client::Group;

use super::okta::{OrgArgs, Row, write_pages};
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List an org's groups (every page).
    List(ListArgs),
    /// List a group's members.
    Members(MembersArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Groups whose name starts with this.
    #[arg(long, conflicts_with = "search")]
    q: Option<String>,
    /// An Okta search expression, e.g. 'type eq "OKTA_GROUP"'.
    #[arg(long)]
    search: Option<String>,
    /// Groups per page requested from Okta (1-10000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,
    #[command(flatten)]
    org: OrgArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MembersArgs {
    /// The group's id (00g…).
    group: String,
    /// Users per page requested from Okta (1-1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=1000))]
    page_size: u32,
    #[command(flatten)]
    org: OrgArgs,
}

impl Row for Group {
    const TABLE: &'static [(&'static str, usize)] = &[("ID", 20), ("TYPE", 12), ("NAME", 32), ("DESCRIPTION", 0)];
    const CSV: &'static [&'static str] = &[
        "id",
        "type",
        "name",
        "description",
        "created",
        "lastUpdated",
        "lastMembershipUpdated",
    ];

    fn table(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.group_type.clone().unwrap_or_default(),
            self.profile.name.clone(),
            self.profile.description.clone().unwrap_or_default(),
        ]
    }

    fn csv(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.group_type.clone().unwrap_or_default(),
            self.profile.name.clone(),
            self.profile.description.clone().unwrap_or_default(),
            ts(self.created),
            ts(self.last_updated),
            ts(self.last_membership_updated),
        ]
    }
}

pub(crate) async fn run(cmd: GroupsCommand) -> Result<()> {
    match cmd {
        GroupsCommand::List(a) => {
            let client = a.org.client().await?;
            let mut list = client.groups().list().limit(a.page_size);
            if let Some(q) = a.q {
                list = list.q(q);
            }
            if let Some(s) = a.search {
                list = list.search(s);
            }
            write_pages(list.pages(), a.org.format, &client, "groups").await
        }
        GroupsCommand::Members(a) => {
            let client = a.org.client().await?;
            let list = client.groups().members(&a.group).limit(a.page_size);
            write_pages(list.pages(), a.org.format, &client, "members").await
        }
    }
}
