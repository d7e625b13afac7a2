//! `okta-bridge users list|get`: an org's users, as table, JSON, NDJSON or CSV.

use anyhow::{Context, Result};
use clap::Subcommand;
use okta_client::User;

use super::okta::{OrgArgs, Row, Sink, write_pages};
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// List an org's users (every page; --search or --filter to narrow).
    List(ListArgs),
    /// One user, by id or login.
    Get(GetArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Users whose first name, last name or email starts with this.
    #[arg(long, conflicts_with_all = ["search", "filter"])]
    q: Option<String>,
    /// An Okta search expression, e.g. 'status eq "ACTIVE"' or 'profile.department eq "Sales"'.
    #[arg(long, conflicts_with = "filter")]
    search: Option<String>,
    /// An Okta filter expression, e.g. 'lastUpdated gt "2026-01-01T00:00:00.000Z"'.
    #[arg(long)]
    filter: Option<String>,
    /// Users per page requested from Okta (1-200).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=200))]
    page_size: u32,
    #[command(flatten)]
    org: OrgArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The user's id or login.
    user: String,
    #[command(flatten)]
    org: OrgArgs,
}

impl Row for User {
    const TABLE: &'static [(&'static str, usize)] = &[("ID", 20), ("STATUS", 16), ("LOGIN", 40), ("NAME", 0)];
    const CSV: &'static [&'static str] = &[
        "id",
        "status",
        "login",
        "firstName",
        "lastName",
        "email",
        "created",
        "lastLogin",
        "lastUpdated",
    ];

    fn table(&self) -> Vec<String> {
        let p = &self.profile;
        let name = [p.first_name.as_deref(), p.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        vec![self.id.clone(), self.status.as_str().to_owned(), p.login.clone(), name]
    }

    fn csv(&self) -> Vec<String> {
        let p = &self.profile;
        vec![
            self.id.clone(),
            self.status.as_str().to_owned(),
            p.login.clone(),
            p.first_name.clone().unwrap_or_default(),
            p.last_name.clone().unwrap_or_default(),
            p.email.clone().unwrap_or_default(),
            ts(self.created),
            ts(self.last_login),
            ts(self.last_updated),
        ]
    }
}

pub(crate) async fn run(cmd: UsersCommand) -> Result<()> {
    match cmd {
        UsersCommand::List(a) => {
            let client = a.org.client().await?;
            let mut list = client.users().list().limit(a.page_size);
            if let Some(q) = a.q {
                list = list.q(q);
            }
            if let Some(s) = a.search {
                list = list.search(s);
            }
            if let Some(f) = a.filter {
                list = list.filter(f);
            }
            write_pages(list.pages(), a.org.format, &client, "users").await
        }
        UsersCommand::Get(a) => {
            let client = a.org.client().await?;
            let user = client
                .users()
                .get(&a.user)
                .await
                .with_context(|| format!("reading user {:?} failed", a.user))?;
            Sink::one(a.org.format, std::io::stdout().lock(), &user)
        }
    }
}
