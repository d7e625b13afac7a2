//! Test-only failpoints: with the `failpoints` feature (on for this crate's own tests, off in
//! every other build), a process whose `OKTA_BRIDGE_FAILPOINTS` lists a point's name exits on
//! the spot when it gets there — no cleanup, no commit, as if killed — so tests can kill
//! `serve` at an exact moment instead of a lucky one. Without the feature, [`hit`] is nothing.
//!
//! Points: `refresh.after_token_answer` (Okta answered a refresh grant; the new tokens are
//! not written yet); `sync.after_read` (a sync read the org, nothing written yet),
//! `sync.before_commit` (its rows and events are in the open transaction),
//! `sync.after_commit` (written; its lease not given back), `sync.page_committed` (a page of a
//! full pass written), `webhook.before_record` (a receiver took an event; the stream's
//! cursor is not moved yet). `name@N` stops at the point's N-th hit instead of its first.

/// The exit status of a process stopped at a failpoint.
pub const EXIT_STATUS: i32 = 86;

/// Stops the process here if the failpoint `name` is set.
#[cfg(feature = "failpoints")]
pub fn hit(name: &str) {
    let Some(list) = std::env::var_os("OKTA_BRIDGE_FAILPOINTS") else {
        return;
    };
    static HITS: std::sync::Mutex<Vec<(String, usize)>> = std::sync::Mutex::new(Vec::new());
    let hits = {
        let mut all = HITS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, n)) = all.iter_mut().find(|(n, _)| n == name) {
            *n += 1;
            *n
        } else {
            all.push((name.to_owned(), 1));
            1
        }
    };
    let stop = list.to_string_lossy().split(',').any(|point| {
        let (point, nth) = point.trim().split_once('@').unwrap_or((point.trim(), "1"));
        point == name && nth.parse() == Ok(hits)
    });
    if stop {
        eprintln!("okta-bridge: failpoint {name} reached; exiting with status {EXIT_STATUS}");
        std::process::exit(EXIT_STATUS);
    }
}

/// Stops the process here if the failpoint `name` is set (never, in this build).
#[cfg(not(feature = "failpoints"))]
#[inline(always)]
pub fn hit(_name: &str) {}
