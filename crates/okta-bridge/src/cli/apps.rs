//! `okta-bridge apps list|users`: an org's apps and who is assigned to them.

use anyhow::Result;
use clap::Subcommand;
use okta_client::{AppUser, Application};

use super::okta::{OrgArgs, Row, write_pages};
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum AppsCommand {
    /// List an org's apps (every page).
    List(ListArgs),
    /// List the users assigned to an app.
    Users(UsersArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Apps whose name or label starts with this.
    #[arg(long)]
    q: Option<String>,
    /// An Okta filter expression, e.g. 'status eq "ACTIVE"'.
    #[arg(long)]
    filter: Option<String>,
    /// Apps per page requested from Okta (1-200).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=200))]
    page_size: u32,
    #[command(flatten)]
    org: OrgArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UsersArgs {
    /// The app's id (0oa…).
    app: String,
    /// Assignments per page requested from Okta (1-500).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=500))]
    page_size: u32,
    #[command(flatten)]
    org: OrgArgs,
}

impl Row for Application {
    const TABLE: &'static [(&'static str, usize)] =
        &[("ID", 20), ("STATUS", 8), ("NAME", 24), ("SIGN-ON", 16), ("LABEL", 0)];
    const CSV: &'static [&'static str] = &["id", "status", "name", "signOnMode", "label", "created", "lastUpdated"];

    fn table(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.status.clone().unwrap_or_default(),
            self.name.clone().unwrap_or_default(),
            self.sign_on_mode.clone().unwrap_or_default(),
            self.label.clone(),
        ]
    }

    fn csv(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.status.clone().unwrap_or_default(),
            self.name.clone().unwrap_or_default(),
            self.sign_on_mode.clone().unwrap_or_default(),
            self.label.clone(),
            ts(self.created),
            ts(self.last_updated),
        ]
    }
}

/// The app-side user name of an assignment (`credentials.userName`), if any.
fn user_name(u: &AppUser) -> String {
    u.extra
        .get("credentials")
        .and_then(|c| c.get("userName"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned()
}

impl Row for AppUser {
    const TABLE: &'static [(&'static str, usize)] = &[("ID", 20), ("SCOPE", 6), ("STATUS", 12), ("USER NAME", 0)];
    const CSV: &'static [&'static str] = &["id", "scope", "status", "userName"];

    fn table(&self) -> Vec<String> {
        self.csv()
    }

    fn csv(&self) -> Vec<String> {
        vec![
            self.id.clone(),
            self.scope.clone().unwrap_or_default(),
            self.status.clone().unwrap_or_default(),
            user_name(self),
        ]
    }
}

pub(crate) async fn run(cmd: AppsCommand) -> Result<()> {
    match cmd {
        AppsCommand::List(a) => {
            let client = a.org.client().await?;
            let mut list = client.apps().list().limit(a.page_size);
            if let Some(q) = a.q {
                list = list.q(q);
            }
            if let Some(f) = a.filter {
                list = list.filter(f);
            }
            write_pages(list.pages(), a.org.format, &client, "apps").await
        }
        AppsCommand::Users(a) => {
            let client = a.org.client().await?;
            let list = client.apps().users(&a.app).limit(a.page_size);
            write_pages(list.pages(), a.org.format, &client, "assignments").await
        }
    }
}
