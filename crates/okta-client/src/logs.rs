//! `client.logs()`: the System Log, as queries and as a resumable poll.

use std::fmt::{self, Display};

use time::OffsetDateTime;
use url::Url;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::expr::okta_time;
use crate::list::List;
use crate::models::LogEvent;

/// Operations on the System Log.
#[derive(Debug, Clone)]
pub struct LogsHandler {
    client: Client,
}

impl List<LogEvent> {
    /// Events published at or after `t`.
    pub fn since(self, t: OffsetDateTime) -> Self {
        self.param("since", okta_time(t))
    }
    /// Events published before `t`. Without it the listing is a poll: a `next` link always
    /// comes, so [`List::stream`] would not end; use [`LogsHandler::tail`] for that.
    pub fn until(self, t: OffsetDateTime) -> Self {
        self.param("until", okta_time(t))
    }
    /// `filter`: e.g. `eventType eq "user.lifecycle.create"` (see [`crate::expr`]).
    pub fn filter(self, expr: impl Display) -> Self {
        self.param("filter", expr.to_string())
    }
    /// `q`: keywords matched against the events.
    pub fn q(self, keywords: impl Into<String>) -> Self {
        self.param("q", keywords)
    }
    /// Oldest first (`ASCENDING`, the default) or newest first.
    pub fn ascending(self, ascending: bool) -> Self {
        self.param("sortOrder", if ascending { "ASCENDING" } else { "DESCENDING" })
    }
}

impl LogsHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Queries events (`GET /api/v1/logs`); give `until` for a query that ends.
    pub fn query(&self) -> List<LogEvent> {
        List::new(self.client.clone(), self.client.api_url(&["logs"]))
    }

    /// Polls for events from `since` on, oldest first, as Okta documents polling: follow the
    /// `next` link; an empty page means caught up; come back later to the same link.
    pub fn tail(&self, since: OffsetDateTime) -> LogTail {
        let url = self.query().since(since).ascending(true).limit(1000).url();
        LogTail {
            client: self.client.clone(),
            next: url,
        }
    }

    /// Resumes a poll from a saved [`LogCursor`].
    ///
    /// # Errors
    /// [`Error::Pagination`] when the cursor is not a System Log link of this org.
    pub fn resume(&self, cursor: &LogCursor) -> Result<LogTail> {
        let url = Url::parse(&cursor.0).map_err(|e| Error::Pagination(format!("not a log cursor: {e}")))?;
        if !self.client.org_url().same_origin(&url) || url.path() != "/api/v1/logs" {
            return Err(Error::Pagination(
                "the cursor is not a System Log link of this org".to_owned(),
            ));
        }
        Ok(LogTail {
            client: self.client.clone(),
            next: url,
        })
    }
}

/// Where a [`LogTail`] is: save it (its `Display` is a string) and resume later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogCursor(String);

impl Display for LogCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for LogCursor {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// A poll of the System Log (see [`LogsHandler::tail`]).
#[derive(Debug, Clone)]
pub struct LogTail {
    client: Client,
    next: Url,
}

impl LogTail {
    /// One page of new events; empty when caught up. Advances the cursor.
    ///
    /// # Errors
    /// Any [`Error`] of the request; the cursor then stays where it was.
    pub async fn poll(&mut self) -> Result<Vec<LogEvent>> {
        let page = self.client.get_page::<LogEvent>(self.next.clone()).await?;
        if let Some(next) = page.next {
            self.next = next;
        }
        Ok(page.items)
    }

    /// Every new event until an empty page.
    ///
    /// # Errors
    /// Any [`Error`] of a request; events of earlier pages are lost to the caller, but the
    /// cursor stays at the failed page, so polling again resumes there.
    pub async fn catch_up(&mut self) -> Result<Vec<LogEvent>> {
        let mut all = Vec::new();
        loop {
            let events = self.poll().await?;
            if events.is_empty() {
                return Ok(all);
            }
            all.extend(events);
        }
    }

    /// Where the poll is.
    pub fn cursor(&self) -> LogCursor {
        LogCursor(self.next.to_string())
    }
}
