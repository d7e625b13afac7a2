//! `okta-bridge sessions list|end`: who is signed in to the console, and ending every session
//! of a person (someone who left, or was taken off the sign-in lists ahead of a restart).

use anyhow::Result;
use clap::Subcommand;
use okta_bridge::settings::StoreSettings;

#[derive(Debug, Subcommand)]
pub(crate) enum SessionsCommand {
    /// Live console sessions: who, how they were granted, when they end.
    List(ListArgs),
    /// End every console session a person signed in with OpenID Connect (by email or subject).
    End(EndArgs),
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
pub(crate) struct EndArgs {
    /// The person's email (any case) or subject (`sub`).
    person: String,
    #[command(flatten)]
    store: StoreSettings,
}

pub(crate) async fn run(cmd: SessionsCommand) -> Result<()> {
    match cmd {
        SessionsCommand::List(a) => {
            let sessions = a.store.open().await?.console_sessions().await?;
            if a.json {
                for s in &sessions {
                    println!("{}", serde_json::to_string(s)?);
                }
            } else {
                println!("{:<40}  {:<15}  {:<25}  GROUPS", "PERSON", "GRANTED BY", "ENDS");
                for s in &sessions {
                    let v = serde_json::to_value(s)?;
                    let groups: Vec<&str> = v["groups"]
                        .as_array()
                        .map(|g| g.iter().filter_map(|g| g.as_str()).collect())
                        .unwrap_or_default();
                    println!(
                        "{:<40}  {:<15}  {:<25}  {}",
                        v["person"].as_str().unwrap_or_default(),
                        v["grantedBy"].as_str().unwrap_or_default(),
                        v["expiresAt"].as_str().unwrap_or_default(),
                        groups.join(", ")
                    );
                }
            }
            Ok(())
        }
        SessionsCommand::End(a) => {
            let ended = a.store.open().await?.end_sessions_of(&a.person).await?;
            println!("Ended {ended} console session(s) of {}.", a.person);
            Ok(())
        }
    }
}
