//! `okta-bridge sync NAME` and `okta-bridge events NAME`: sync a connection's directory now,
//! read its change feed.

use anyhow::Result;

use super::connections::{RefreshArgs, open_connection};

#[derive(Debug, clap::Args)]
pub(crate) struct SyncArgs {
    #[command(flatten)]
    connection: RefreshArgs,
    /// Read the whole directory instead of what changed since the last run (the
    /// reconciliation that also runs once a day by itself).
    #[arg(long)]
    full: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct EventsArgs {
    #[command(flatten)]
    connection: RefreshArgs,
    /// Start after this cursor (0: from the start).
    #[arg(long, default_value_t = 0)]
    after: i64,
    /// At most this many events (without --follow).
    #[arg(long, default_value_t = 1000)]
    limit: i64,
    /// Keep printing events as syncs write them (any instance's), until interrupted.
    #[arg(long)]
    follow: bool,
}

/// Syncs now and prints a summary line; on a terminal, a progress bar on stderr while a full
/// pass runs (what it reads, objects, events, requests, objects a second).
pub(crate) async fn sync(a: SyncArgs) -> Result<()> {
    use std::io::IsTerminal;
    let c = &a.connection;
    let (account, service) = open_connection(c.account(), c.store(), c.app()).await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} syncing {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{account}"));
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    });
    let mut progress = service.sync_progress();
    let started = std::time::Instant::now();
    let run = service.sync(&account, a.full);
    tokio::pin!(run);
    let summary = loop {
        tokio::select! {
            summary = &mut run => break summary,
            Ok(()) = progress.changed() => {
                let p = progress.borrow_and_update().clone();
                if let Some(bar) = &bar {
                    let rate = p.objects as f64 / started.elapsed().as_secs_f64().max(0.001);
                    bar.set_message(format!(
                        "{account}: {}, {} objects, {} events, {} requests, {rate:.0} objects/s",
                        p.phase, p.objects, p.events, p.requests
                    ));
                }
            }
        }
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = summary?;
    let d = &summary["directory"];
    println!(
        "Synced {account} ({}): {} events (cursor {}); {} users, {} groups, {} memberships, {} apps, {} app assignments; {} ms.",
        if summary["full"] == true { "full" } else { "incremental" },
        summary["events"],
        summary["lastSeq"],
        d["users"],
        d["groups"],
        d["memberships"],
        d["apps"],
        d["appAssignments"],
        summary["tookMs"]
    );
    Ok(())
}

/// Prints events as JSON lines, then the cursor to go on from on stderr; with `--follow`,
/// keeps waiting for new ones.
pub(crate) async fn events(a: EventsArgs) -> Result<()> {
    use std::io::Write;
    let c = &a.connection;
    let (account, service) = open_connection(c.account(), c.store(), c.app()).await?;
    let mut after = a.after;
    let mut left = a.limit;
    let max = okta_bridge::service::MAX_EVENTS_PAGE;
    while a.follow || left > 0 {
        let (limit, wait) = if a.follow {
            (max, okta_bridge::service::MAX_EVENTS_WAIT)
        } else {
            (left.min(max), std::time::Duration::ZERO)
        };
        let page = service.events(&account, after, limit, wait).await?;
        let Some(last) = page.last() else {
            if a.follow {
                continue;
            }
            break;
        };
        after = last.seq;
        left -= i64::try_from(page.len()).unwrap_or(i64::MAX);
        let mut out = std::io::stdout().lock();
        for e in &page {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
        out.flush()?;
    }
    eprintln!("next cursor: {after}");
    Ok(())
}
