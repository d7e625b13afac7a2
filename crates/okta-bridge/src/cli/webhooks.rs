//! `okta-bridge webhooks create|list|get|update|delete|rotate-secret|replay`: the endpoints the change
//! feed is delivered to, as the API keeps them. A signing secret is printed once, when made or
//! rotated.

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::model::{Webhook, WebhookSecret};
use okta_bridge::service::WebhookChange;
use okta_bridge::settings::StoreSettings;
use secrecy::ExposeSecret;

use super::connections::open_service;

#[derive(Debug, Subcommand)]
pub(crate) enum WebhooksCommand {
    /// Make an endpoint (https on a public address); prints its signing secret, once.
    Create(CreateArgs),
    /// The endpoints, one JSON object a line (never their secrets).
    List(StoreSettings),
    /// One endpoint as JSON.
    Get(IdArgs),
    /// Change an endpoint's URL, event types or connections, or resume one marked failing.
    Update(UpdateArgs),
    /// Delete an endpoint.
    Delete(IdArgs),
    /// Give an endpoint a new signing secret (printed once); the old one signs too for the overlap.
    RotateSecret(RotateArgs),
    /// Deliver a connection's events after a cursor to an endpoint again, in order.
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The endpoint's id (wh_…).
    id: String,
    /// The connection whose feed is replayed.
    #[arg(long)]
    connection: String,
    /// The cursor to replay after (0: from the feed's start).
    #[arg(long)]
    after: i64,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Where deliveries are POSTed.
    url: String,
    /// Only these event types (repeatable, e.g. --event user.created); default: all.
    #[arg(long = "event")]
    events: Vec<String>,
    /// Only these connections' events (repeatable); default: all.
    #[arg(long = "connection")]
    connections: Vec<String>,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    /// The endpoint's id (wh_…).
    id: String,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct UpdateArgs {
    /// The endpoint's id (wh_…).
    id: String,
    /// A new URL.
    #[arg(long)]
    url: Option<String>,
    /// Only these event types from now on (repeatable).
    #[arg(long = "event", conflicts_with = "all_events")]
    events: Vec<String>,
    /// Every event type from now on.
    #[arg(long)]
    all_events: bool,
    /// Only these connections from now on (repeatable).
    #[arg(long = "connection", conflicts_with = "all_connections")]
    connections: Vec<String>,
    /// Every connection from now on.
    #[arg(long)]
    all_connections: bool,
    /// Deliver to an endpoint marked failing again.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    store: StoreSettings,
}

#[derive(Debug, clap::Args)]
pub(crate) struct RotateArgs {
    /// The endpoint's id (wh_…).
    id: String,
    /// Seconds the old secret keeps signing (at most 7 days).
    #[arg(long, default_value_t = 86_400)]
    overlap_seconds: u64,
    #[command(flatten)]
    store: StoreSettings,
}

fn print(hook: &Webhook) -> Result<()> {
    println!("{}", serde_json::to_string(hook)?);
    Ok(())
}

fn print_secret(hook: &Webhook, secret: &WebhookSecret) -> Result<()> {
    print(hook)?;
    eprintln!("Signing secret of {} (shown once, keep it with the receiver):", hook.id);
    println!("{}", secret.expose_secret());
    Ok(())
}

/// `Some(names)` when names were given, `Some(None)` for all, `None` to leave as is.
fn list_change(names: Vec<String>, all: bool) -> Option<Option<Vec<String>>> {
    if all {
        Some(None)
    } else if names.is_empty() {
        None
    } else {
        Some(Some(names))
    }
}

pub(crate) async fn run(cmd: WebhooksCommand) -> Result<()> {
    match cmd {
        WebhooksCommand::Create(a) => {
            let service = open_service(&a.store).await?;
            let some = |v: Vec<String>| (!v.is_empty()).then_some(v);
            let (hook, secret) = service
                .create_webhook(&a.url, some(a.events), some(a.connections))
                .await?;
            print_secret(&hook, &secret)
        }
        WebhooksCommand::List(store) => {
            for hook in open_service(&store).await?.webhooks().await? {
                print(&hook)?;
            }
            Ok(())
        }
        WebhooksCommand::Get(a) => print(&open_service(&a.store).await?.webhook(&a.id).await?),
        WebhooksCommand::Update(a) => {
            let change = WebhookChange {
                url: a.url,
                events: list_change(a.events, a.all_events),
                connections: list_change(a.connections, a.all_connections),
                status: a.resume.then(|| "active".to_owned()),
            };
            print(&open_service(&a.store).await?.update_webhook(&a.id, change).await?)
        }
        WebhooksCommand::Delete(a) => {
            open_service(&a.store).await?.delete_webhook(&a.id).await?;
            println!("Deleted webhook {}.", a.id);
            Ok(())
        }
        WebhooksCommand::Replay(a) => {
            let account = okta_bridge::model::AccountName::parse(&a.connection)?;
            let stream = open_service(&a.store)
                .await?
                .replay_webhook(&a.id, &account, a.after)
                .await?;
            println!("{}", serde_json::to_string(&stream)?);
            Ok(())
        }
        WebhooksCommand::RotateSecret(a) => {
            let (hook, secret) = open_service(&a.store)
                .await?
                .rotate_webhook_secret(&a.id, std::time::Duration::from_secs(a.overlap_seconds))
                .await?;
            print_secret(&hook, &secret)
        }
    }
}
