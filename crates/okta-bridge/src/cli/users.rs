//! `okta-bridge users list`: every user of an org, streamed as table, JSON, NDJSON or CSV.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use futures::{Stream, StreamExt};
use okta_bridge::settings::{StoreSettings, secret};
use okta_client::User;
use secrecy::{ExposeSecret, SecretString};

use super::connections::{WebAppFlags, open_connection};
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum UsersCommand {
    /// List every user of an org (all pages).
    List(UsersListArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Ndjson,
    Csv,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UsersListArgs {
    /// The org, e.g. https://dev-207260.okta.com.
    #[arg(long, env = "OKTA_CLIENT_ORGURL")]
    org_url: Option<String>,
    /// An SSWS API token of the org (prefer the environment variable).
    #[arg(long, env = "OKTA_CLIENT_TOKEN", hide_env_values = true, value_parser = secret)]
    api_token: Option<SecretString>,
    /// Read through a stored connection instead (refreshed as needed).
    #[arg(long)]
    connection: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Users per page requested from Okta (1-200).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=200))]
    page_size: u32,
    #[command(flatten)]
    app: WebAppFlags,
    #[command(flatten)]
    store: StoreSettings,
}

pub(crate) async fn run(cmd: UsersCommand) -> Result<()> {
    let UsersCommand::List(a) = cmd;
    let client = match (&a.connection, &a.org_url, &a.api_token) {
        (Some(account), _, _) => {
            let (account, service) = open_connection(account, &a.store, &a.app).await?;
            service.client(&account).await?
        }
        (None, Some(org), Some(token)) => {
            let mut builder = okta_client::Client::builder(org)?.api_token(token.expose_secret());
            // The org as given (no address policy: it was typed here); the CA file still counts.
            if let Some(pem) = a.store.egress()?.extra_ca_pem() {
                builder = builder.trust_pem(pem.as_bytes())?;
            }
            builder.build()?
        }
        (None, None, _) => bail!(
            "say which org: --connection ACCOUNT, or --org-url and --api-token (OKTA_CLIENT_ORGURL / OKTA_CLIENT_TOKEN)"
        ),
        (None, Some(_), None) => {
            bail!("--org-url needs --api-token (or OKTA_CLIENT_TOKEN), or use --connection ACCOUNT")
        }
    };
    let users = client.users().list().limit(a.page_size).stream();
    match write_users(users, a.format, std::io::stdout().lock()).await {
        // `okta-bridge users list | head` is not an error.
        Err(e) if is_broken_pipe(&e) => Ok(()),
        other => other,
    }
}

fn table_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:<20}  {:<16}  {:<40}  NAME", "ID", "STATUS", "LOGIN")
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause
            .downcast_ref::<std::io::Error>()
            .or_else(|| match cause.downcast_ref::<csv::Error>()?.kind() {
                csv::ErrorKind::Io(io) => Some(io),
                _ => None,
            });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

const CSV_COLUMNS: [&str; 9] = [
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

/// Writes users as they arrive: memory stays flat whatever the org's size.
async fn write_users(
    mut users: impl Stream<Item = okta_client::Result<User>> + Unpin,
    format: Format,
    out: impl Write,
) -> Result<()> {
    if let Format::Csv = format {
        let mut w = csv::Writer::from_writer(BufWriter::new(out));
        let mut header = Some(CSV_COLUMNS);
        while let Some(user) = users.next().await {
            let user = user.context("listing users failed")?;
            if let Some(h) = header.take() {
                w.write_record(h)?;
            }
            let p = &user.profile;
            w.write_record([
                user.id.as_str(),
                user.status.as_str(),
                p.login.as_str(),
                p.first_name.as_deref().unwrap_or(""),
                p.last_name.as_deref().unwrap_or(""),
                p.email.as_deref().unwrap_or(""),
                &ts(user.created),
                &ts(user.last_login),
                &ts(user.last_updated),
            ])?;
        }
        if let Some(h) = header {
            w.write_record(h)?;
        }
        w.flush()?;
        return Ok(());
    }
    let mut out = BufWriter::new(out);
    let mut count = 0usize;
    // The table's header comes with its first row: a listing that fails at once prints none.
    if let Format::Json = format {
        out.write_all(b"[")?;
    }
    while let Some(user) = users.next().await {
        let user = user.context("listing users failed")?;
        if count == 0 && matches!(format, Format::Table) {
            table_header(&mut out)?;
        }
        match format {
            Format::Json => {
                out.write_all(if count > 0 { b",\n" } else { b"\n" })?;
                serde_json::to_writer(&mut out, &user)?;
            }
            Format::Ndjson => {
                serde_json::to_writer(&mut out, &user)?;
                out.write_all(b"\n")?;
            }
            Format::Table | Format::Csv => {
                let p = &user.profile;
                let name = [p.first_name.as_deref(), p.last_name.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                writeln!(
                    out,
                    "{:<20}  {:<16}  {:<40}  {}",
                    user.id,
                    user.status.as_str(),
                    p.login,
                    name
                )?;
            }
        }
        count += 1;
    }
    match format {
        Format::Json => out.write_all(if count > 0 { b"\n]\n" } else { b"]\n" })?,
        Format::Table if count == 0 => table_header(&mut out)?,
        _ => {}
    }
    out.flush()?;
    Ok(())
}
