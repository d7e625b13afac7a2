//! `okta-bridge accounts add|list|remove|connect|setup-link|setup-links|revoke-setup-link`. Secrets come from files or stdin, never
//! from the command line (where `ps` and shell history would show them).

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use okta_bridge::model::{AccountName, ApiToken, AppKind, NewAccount};
use okta_bridge::server::views::account_json;
use okta_bridge::service::Service;
use okta_bridge::settings::StoreSettings;
use secrecy::{ExposeSecret, SecretString};

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum AccountsCommand {
    /// Add an org: with its OAuth web app (--client-id and the secret from
    /// --client-secret-file/--client-secret-stdin), an API service integration (--kind service,
    /// --client-id and the client secret Okta showed at install), its own service app
    /// (--client-id and --private-key-file), or no app (connect it with an API token).
    Add(AccountsAddArgs),
    /// List accounts and whether they are connected (never their secrets).
    List(AccountsListArgs),
    /// Remove an account that is not connected (disconnect it first).
    Remove(AccountNameArgs),
    /// Connect an account without a browser: with an API token (from --api-token-file or
    /// --api-token-stdin; checked with Okta first), or as its service app.
    Connect(AccountsConnectArgs),
    /// Make a setup link for an account (which need not exist yet): a single-use URL to send
    /// the customer's Okta admin, who connects the org through it. Shown once.
    SetupLink(SetupLinkArgs),
    /// List an account's setup links and where each stands (never their tokens).
    SetupLinks(AccountNameArgs),
    /// Revoke a setup link: it stops working at once.
    RevokeSetupLink(RevokeSetupLinkArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SetupLinkArgs {
    /// The account the link sets up.
    pub(crate) name: String,
    /// The address browsers reach okta-bridge's server at; the link is <public-url>/setup/….
    #[arg(long, env = "OKTA_BRIDGE_PUBLIC_URL")]
    pub(crate) public_url: url::Url,
    /// How long the link works, in seconds (300 to 2592000; default 86400, a day).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) expires_in: Option<u64>,
    /// The scopes the account's app is asked for, space-separated (default: what the directory
    /// sync reads: okta.users.read okta.groups.read okta.apps.read okta.logs.read).
    #[arg(long)]
    pub(crate) scopes: Option<String>,
    /// After connecting, the admin chooses who is synced (the whole org or some of its groups)
    /// before the first sync.
    #[arg(long)]
    pub(crate) choose_scope: bool,
    /// On that step (implied), the admin also maps the org's groups to the application's roles.
    #[arg(long)]
    pub(crate) map_roles: bool,
    /// A manage link, for an account already connected: its admin goes straight to that step
    /// to change who is synced.
    #[arg(long)]
    pub(crate) manage: bool,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RevokeSetupLinkArgs {
    /// The link's id (sl_…).
    pub(crate) id: String,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountsAddArgs {
    /// The account's name, e.g. acme-prod (lower-case letters, digits, '-', '_', '.').
    pub(crate) name: String,
    /// The org, e.g. https://acme.okta.com.
    #[arg(long)]
    pub(crate) org_url: String,
    /// web, service or token (default: from the credentials given).
    #[arg(long, value_parser = ["web", "service", "token"])]
    pub(crate) kind: Option<String>,
    /// The app's client id.
    #[arg(long)]
    pub(crate) client_id: Option<String>,
    /// Read the client secret (a web app's, or an API service integration's) from this file ('-' for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "client_secret_stdin")]
    pub(crate) client_secret_file: Option<std::path::PathBuf>,
    /// Read the client secret (a web app's, or an API service integration's) from stdin.
    #[arg(long)]
    pub(crate) client_secret_stdin: bool,
    /// Read the service app's private key (PEM or private JWK) from this file ('-' for stdin).
    #[arg(long, value_name = "FILE")]
    pub(crate) private_key_file: Option<std::path::PathBuf>,
    /// The key's id (kid) as registered with the service app, when the key does not name it.
    #[arg(long)]
    pub(crate) key_id: Option<String>,
    /// A custom authorization server, by issuer (web apps), e.g. https://acme.okta.com/oauth2/default.
    #[arg(long)]
    pub(crate) issuer: Option<String>,
    /// Scopes, space-separated (default: okta.users.read offline_access for web apps,
    /// okta.users.read for service apps).
    #[arg(long)]
    pub(crate) scopes: Option<String>,
    /// Replace an account of the same name (its connection stays if the org is the same).
    #[arg(long)]
    pub(crate) replace: bool,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountsListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountNameArgs {
    /// The account.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AccountsConnectArgs {
    /// The account.
    pub(crate) name: String,
    /// Read an API token from this file ('-' for stdin).
    #[arg(long, value_name = "FILE", conflicts_with = "api_token_stdin")]
    pub(crate) api_token_file: Option<std::path::PathBuf>,
    /// Read an API token from stdin.
    #[arg(long)]
    pub(crate) api_token_stdin: bool,
    /// Sign in to the org in a browser (a web-app account): okta-bridge listens on
    /// 127.0.0.1 for the redirect, as native apps do (RFC 8252).
    #[arg(long, conflicts_with_all = ["api_token_file", "api_token_stdin"])]
    pub(crate) browser: bool,
    /// As --browser, but print the sign-in URL instead of opening a browser (e.g. over SSH
    /// with the port forwarded).
    #[arg(long, conflicts_with_all = ["api_token_file", "api_token_stdin"])]
    pub(crate) no_browser: bool,
    /// With --browser: the loopback port to listen on (default: one the system picks), for an
    /// org that compares redirect URIs exactly rather than by RFC 8252's loopback rule.
    #[arg(long, default_value_t = 0)]
    pub(crate) port: u16,
    #[command(flatten)]
    pub(crate) store: StoreSettings,
}

/// Reads a secret from `path` (`-` is stdin), trimmed of surrounding whitespace.
fn read_secret(path: &Path, what: &str) -> Result<SecretString> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("cannot read the {what} from stdin"))?;
    } else {
        text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read the {what} from {}", path.display()))?;
    }
    let text = text.trim();
    if text.is_empty() {
        bail!(
            "the {what} is empty ({})",
            if path == Path::new("-") {
                "stdin".to_owned()
            } else {
                path.display().to_string()
            }
        );
    }
    Ok(SecretString::from(text.to_owned()))
}

fn stdin_or(file: Option<&Path>, stdin: bool, what: &str) -> Result<Option<SecretString>> {
    match (file, stdin) {
        (Some(f), _) => read_secret(f, what).map(Some),
        (None, true) => read_secret(Path::new("-"), what).map(Some),
        (None, false) => Ok(None),
    }
}

pub(crate) async fn run(cmd: AccountsCommand) -> Result<()> {
    match cmd {
        AccountsCommand::SetupLink(a) => {
            let name = AccountName::parse(&a.name)?;
            let service = open_service(&a.store).await?;
            let (link, token) = service
                .create_setup_link(
                    &name,
                    a.expires_in.map(std::time::Duration::from_secs),
                    a.scopes.as_deref(),
                    okta_bridge::service::SetupSteps {
                        choose_scope: a.choose_scope,
                        map_roles: a.map_roles,
                        manage: a.manage,
                    },
                )
                .await?;
            println!(
                "{}/setup/{}",
                a.public_url.as_str().trim_end_matches('/'),
                token.expose_secret()
            );
            eprintln!(
                "Setup link {} for {name}: send it to the org's Okta admin; it works once, until {}. Revoke it with `okta-bridge accounts revoke-setup-link {}`.",
                link.id,
                super::ts(time::OffsetDateTime::from_unix_timestamp(link.expires_at).ok()),
                link.id
            );
            Ok(())
        }
        AccountsCommand::SetupLinks(a) => {
            let name = AccountName::parse(&a.name)?;
            let links = open_service(&a.store).await?.setup_links(&name).await?;
            if links.is_empty() {
                println!("No setup links for {name}: make one with `okta-bridge accounts setup-link {name}`.");
                return Ok(());
            }
            println!("{:<26}  {:<10}  {:<20}  METHOD", "ID", "STATE", "EXPIRES");
            let now = okta_bridge::model::now();
            for l in links {
                println!(
                    "{:<26}  {:<10}  {:<20}  {}",
                    l.id,
                    serde_json::to_value(l.state(now))?.as_str().unwrap_or_default(),
                    super::ts(time::OffsetDateTime::from_unix_timestamp(l.expires_at).ok()),
                    l.method.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        AccountsCommand::RevokeSetupLink(a) => {
            let link = open_service(&a.store).await?.revoke_setup_link(&a.id).await?;
            println!("Revoked setup link {} of {}.", link.id, link.account);
            Ok(())
        }
        AccountsCommand::Add(a) => {
            if a.client_secret_file.as_deref() == Some(Path::new("-"))
                && a.private_key_file.as_deref() == Some(Path::new("-"))
            {
                bail!("only one secret can come from stdin");
            }
            let input = NewAccount {
                name: a.name,
                org_url: a.org_url,
                kind: a.kind,
                client_id: a.client_id,
                client_secret: stdin_or(a.client_secret_file.as_deref(), a.client_secret_stdin, "client secret")?
                    .map(Into::into),
                private_key: stdin_or(a.private_key_file.as_deref(), false, "private key")?.map(Into::into),
                key_id: a.key_id,
                issuer: a.issuer,
                scopes: a.scopes,
            };
            // Checked before the database is opened (or created).
            let account = Service::check_account(input, a.store.egress()?).await?;
            let service = open_service(&a.store).await?;
            service.save_account(&account, a.replace).await?;
            let how = match account.app.kind() {
                AppKind::Web => format!("connect it in a browser: /authenticate_okta?account={}", account.name),
                AppKind::Service => format!("connect it: okta-bridge accounts connect {}", account.name),
                _ => format!(
                    "connect it: okta-bridge accounts connect {} --api-token-stdin",
                    account.name
                ),
            };
            println!(
                "{} account {} for {} ({how}).",
                if a.replace { "Saved" } else { "Added" },
                account.name,
                account.org_url
            );
            Ok(())
        }
        AccountsCommand::List(a) => {
            let service = open_service(&a.store).await?;
            let rows = service.accounts().await?;
            match a.format {
                ListFormat::Json => {
                    let items: Vec<_> = rows
                        .iter()
                        .map(|(acc, conn)| account_json(acc, conn.as_ref()))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&items)?);
                }
                ListFormat::Table => {
                    if rows.is_empty() {
                        println!("No accounts yet: add one with `okta-bridge accounts add NAME --org-url URL …`.");
                        return Ok(());
                    }
                    println!(
                        "{:<24}  {:<36}  {:<8}  {:<24}  STATUS",
                        "NAME", "ORG", "KIND", "CLIENT ID"
                    );
                    for (acc, conn) in &rows {
                        println!(
                            "{:<24}  {:<36}  {:<8}  {:<24}  {}{}",
                            acc.name,
                            acc.org_url,
                            acc.app.kind(),
                            acc.app.client_id().unwrap_or("-"),
                            okta_bridge::model::status_of(conn.as_ref()).0,
                            conn.as_ref()
                                .map(|c| format!(" ({})", c.method.as_str()))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Ok(())
        }
        AccountsCommand::Remove(a) => {
            let name = AccountName::parse(&a.name)?;
            let service = open_service(&a.store).await?;
            service.remove_account(&name).await?;
            println!("Removed account {name}.");
            Ok(())
        }
        AccountsCommand::Connect(a) => {
            let name = AccountName::parse(&a.name)?;
            if a.browser || a.no_browser {
                return super::login::connect_in_browser(&name, &a.store, !a.no_browser, a.port).await;
            }
            let token = stdin_or(a.api_token_file.as_deref(), a.api_token_stdin, "API token")?;
            let service = open_service(&a.store).await?;
            let (account, _) = service.account(&name).await?;
            let connected = match (token, account.app.kind()) {
                (Some(t), _) => {
                    service
                        .connect_api_token(&account, &ApiToken::new(t.expose_secret()))
                        .await?
                }
                (None, AppKind::Service) => service.connect_service_app(&account).await?,
                (None, AppKind::Web) => bail!(
                    "account {name} connects through Okta's sign-in: give --browser (or run `okta-bridge serve` and open /authenticate_okta?account={name}, or give --api-token-stdin)"
                ),
                (None, _) => {
                    bail!("account {name} connects with an API token: give --api-token-file FILE or --api-token-stdin")
                }
            };
            match connected.user {
                Some(user) => println!("Connected {name} with an API token of {user}."),
                None => println!("Connected {name} as a service app ({} tokens).", connected.token_type),
            }
            Ok(())
        }
    }
}
