//! `okta-bridge logs tail [--since] [--follow]`: an org's System Log, oldest first, polled as
//! Okta documents (follow the `next` link; an empty page means caught up).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use okta_client::LogEvent;
use time::OffsetDateTime;

use super::okta::{OrgArgs, Progress, Row, Sink, quiet_on_broken_pipe};
use super::ts;

#[derive(Debug, Subcommand)]
pub(crate) enum LogsCommand {
    /// Print the org's events since a time, then (with --follow) new ones as they come.
    Tail(TailArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct TailArgs {
    /// From when: a duration back from now (90s, 15m, 2h, 7d) or an RFC 3339 time.
    #[arg(long, default_value = "15m", value_parser = parse_since)]
    since: OffsetDateTime,
    /// Keep polling for new events until interrupted.
    #[arg(long)]
    follow: bool,
    /// Seconds between polls when following (Okta asks pollers not to hurry: 1-300).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    interval: u64,
    /// An Okta filter expression, e.g. 'eventType eq "user.lifecycle.create"'.
    #[arg(long)]
    filter: Option<String>,
    #[command(flatten)]
    org: OrgArgs,
}

/// `15m` ago, or the time given.
fn parse_since(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let bad = || format!("{s:?} is neither a duration (90s, 15m, 2h, 7d) nor an RFC 3339 time (2026-12-01T09:00:00Z)");
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(bad()),
    };
    Ok(OffsetDateTime::now_utc() - time::Duration::seconds(secs))
}

/// The actor as people know it: login, else name, else id.
fn actor(e: &LogEvent) -> String {
    e.actor
        .as_ref()
        .map(|a| {
            a.alternate_id
                .clone()
                .or_else(|| a.display_name.clone())
                .unwrap_or_else(|| a.id.clone())
        })
        .unwrap_or_default()
}

impl Row for LogEvent {
    const TABLE: &'static [(&'static str, usize)] = &[
        ("PUBLISHED", 24),
        ("SEVERITY", 8),
        ("EVENT TYPE", 36),
        ("ACTOR", 32),
        ("MESSAGE", 0),
    ];
    const CSV: &'static [&'static str] = &[
        "uuid",
        "published",
        "eventType",
        "severity",
        "actor",
        "targets",
        "displayMessage",
    ];

    fn table(&self) -> Vec<String> {
        vec![
            ts(Some(self.published)),
            self.severity.clone().unwrap_or_default(),
            self.event_type.clone(),
            actor(self),
            self.display_message.clone().unwrap_or_default(),
        ]
    }

    fn csv(&self) -> Vec<String> {
        let targets = self
            .target
            .iter()
            .map(|t| t.alternate_id.clone().unwrap_or_else(|| t.id.clone()))
            .collect::<Vec<_>>()
            .join(" ");
        vec![
            self.uuid.clone(),
            ts(Some(self.published)),
            self.event_type.clone(),
            self.severity.clone().unwrap_or_default(),
            actor(self),
            targets,
            self.display_message.clone().unwrap_or_default(),
        ]
    }
}

pub(crate) async fn run(cmd: LogsCommand) -> Result<()> {
    let LogsCommand::Tail(a) = cmd;
    if a.follow && matches!(a.org.format, super::okta::Format::Json) {
        bail!("--follow never ends a JSON array: use --format ndjson (or table, or csv)");
    }
    let client = a.org.client().await?;
    let mut tail = match &a.filter {
        // The filter rides on the first link; Okta keeps it in the next ones.
        Some(f) => {
            let url = client
                .logs()
                .query()
                .since(a.since)
                .ascending(true)
                .filter(f)
                .limit(1000)
                .url();
            client.logs().resume(&url.to_string().parse()?)?
        }
        None => client.logs().tail(a.since),
    };
    let result = async {
        // A followed log is a live view: its lines are the progress.
        let mut progress = if a.follow {
            Progress::hidden(&client)
        } else {
            Progress::new("events", &client)
        };
        let mut sink = Sink::new(a.org.format, std::io::stdout().lock());
        loop {
            let events = tail.poll().await.context("reading the System Log failed")?;
            if events.is_empty() {
                if !a.follow {
                    break;
                }
                sink.flush()?;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(a.interval)) => continue,
                    _ = tokio::signal::ctrl_c() => break,
                }
            }
            progress.page(events.len());
            progress.around(|| -> Result<()> {
                for e in &events {
                    sink.row(e)?;
                }
                Ok(())
            })?;
            if a.follow {
                sink.flush()?;
            }
        }
        sink.finish()?;
        progress.finish();
        Ok(())
    }
    .await;
    quiet_on_broken_pipe(result)
}
