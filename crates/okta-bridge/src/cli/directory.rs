//! `okta-bridge directory users|groups|members NAME`: a connection's synced directory, read
//! from the database (no request to Okta), page by page as it is written out.

use std::io::{BufWriter, Write};

use anyhow::{Result, bail};
use clap::Subcommand;
use okta_bridge::model::AccountName;
use okta_bridge::store::{Store, UserQuery};
use serde_json::Value;

use super::connections::RefreshArgs;
use super::okta::Format;

/// Rows read from the database at a time.
const PAGE: i64 = 1000;

#[derive(Debug, Subcommand)]
pub(crate) enum DirectoryCommand {
    /// The synced users (every status), in id order.
    Users(DirUsersArgs),
    /// The synced groups.
    Groups(DirArgs),
    /// A synced group's members.
    Members(DirMembersArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DirArgs {
    #[command(flatten)]
    connection: RefreshArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DirUsersArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// Only users of this status (ACTIVE, DEPROVISIONED, …).
    #[arg(long)]
    status: Option<String>,
    /// Only users whose login, email, first or last name starts with this.
    #[arg(long)]
    q: Option<String>,
    /// Only members of this group (its id).
    #[arg(long)]
    group: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DirMembersArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// The group's id.
    group: String,
}

const USER_COLUMNS: &[&str] = &["id", "status", "login", "firstName", "lastName", "email", "lastUpdated"];
const GROUP_COLUMNS: &[&str] = &["id", "type", "name", "description", "lastMembershipUpdated"];

/// Writes rows in a format, as they come: the table's header (and CSV's) with the first row.
struct Rows<W: Write> {
    out: BufWriter<W>,
    format: Format,
    columns: &'static [&'static str],
    count: usize,
}

impl<W: Write> Rows<W> {
    fn new(out: W, format: Format, columns: &'static [&'static str]) -> Self {
        Self {
            out: BufWriter::new(out),
            format,
            columns,
            count: 0,
        }
    }

    fn cell(v: &Value, key: &str) -> String {
        match v.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// One CSV record, quoted as CSV quotes.
    fn csv_record(&mut self, cells: impl Iterator<Item = String>) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(cells)?;
        self.out.write_all(&w.into_inner()?)?;
        Ok(())
    }

    fn header(&mut self) -> Result<()> {
        match self.format {
            Format::Json => self.out.write_all(b"[")?,
            Format::Table => writeln!(self.out, "{}", self.columns.join("\t"))?,
            Format::Csv => self.csv_record(self.columns.iter().map(|c| (*c).to_owned()))?,
            Format::Ndjson => {}
        }
        Ok(())
    }

    fn row(&mut self, v: &Value) -> Result<()> {
        if self.count == 0 {
            self.header()?;
        }
        match self.format {
            Format::Json => {
                self.out.write_all(if self.count > 0 { b",\n" } else { b"\n" })?;
                serde_json::to_writer(&mut self.out, v)?;
            }
            Format::Ndjson => {
                serde_json::to_writer(&mut self.out, v)?;
                self.out.write_all(b"\n")?;
            }
            Format::Table => {
                let cells: Vec<String> = self.columns.iter().map(|c| Self::cell(v, c)).collect();
                writeln!(self.out, "{}", cells.join("\t"))?;
            }
            Format::Csv => {
                let cells: Vec<String> = self.columns.iter().map(|c| Self::cell(v, c)).collect();
                self.csv_record(cells.into_iter())?;
            }
        }
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<()> {
        if self.count == 0 {
            self.header()?;
        }
        if let Format::Json = self.format {
            self.out.write_all(if self.count > 0 { b"\n]\n" } else { b"]\n" })?;
        }
        self.out.flush()?;
        Ok(())
    }
}

async fn open(a: &DirArgs) -> Result<(AccountName, Store)> {
    let c = &a.connection;
    let (account, service) = super::connections::open_connection(c.account(), c.store(), c.app()).await?;
    Ok((account, service.store().clone()))
}

/// Writes a page's rows; answers the id to read on from, or `None` after the last page.
fn write_page<T: serde::Serialize, W: Write>(
    rows: &mut Rows<W>,
    page: &[T],
    id: impl Fn(&T) -> &str,
) -> Result<Option<String>> {
    for item in page {
        rows.row(&json(item))?;
    }
    Ok(match page.last() {
        Some(last) if i64::try_from(page.len()).unwrap_or(0) == PAGE => Some(id(last).to_owned()),
        _ => None,
    })
}

fn json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub(crate) async fn run(cmd: DirectoryCommand) -> Result<()> {
    let stdout = std::io::stdout();
    match cmd {
        DirectoryCommand::Users(a) => {
            let (account, store) = open(&a.dir).await?;
            let mut rows = Rows::new(stdout.lock(), a.dir.format, USER_COLUMNS);
            let mut after: Option<String> = None;
            loop {
                let q = UserQuery {
                    after: after.as_deref(),
                    status: a.status.as_deref(),
                    prefix: a.q.as_deref(),
                    group: a.group.as_deref(),
                    updated_since: None,
                };
                let page = store.directory_users(&account, &q, PAGE).await?;
                after = write_page(&mut rows, &page, |u: &okta_bridge::model::DirUser| u.id.as_str())?;
                if after.is_none() {
                    break;
                }
            }
            rows.finish()
        }
        DirectoryCommand::Groups(a) => {
            let (account, store) = open(&a).await?;
            let mut rows = Rows::new(stdout.lock(), a.format, GROUP_COLUMNS);
            let mut after: Option<String> = None;
            loop {
                let page = store.directory_groups(&account, after.as_deref(), PAGE).await?;
                after = write_page(&mut rows, &page, |g: &okta_bridge::model::DirGroup| g.id.as_str())?;
                if after.is_none() {
                    break;
                }
            }
            rows.finish()
        }
        DirectoryCommand::Members(a) => {
            let (account, store) = open(&a.dir).await?;
            let mut rows = Rows::new(stdout.lock(), a.dir.format, USER_COLUMNS);
            let mut after: Option<String> = None;
            loop {
                let Some(page) = store
                    .directory_members(&account, &a.group, after.as_deref(), PAGE)
                    .await?
                else {
                    bail!(
                        "no group {:?} in the synced directory of {account} (sync it again if it is new at the org)",
                        a.group
                    );
                };
                after = write_page(&mut rows, &page, |u: &okta_bridge::model::DirUser| u.id.as_str())?;
                if after.is_none() {
                    break;
                }
            }
            rows.finish()
        }
    }
}
