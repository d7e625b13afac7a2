//! One page of a collection.

use reqwest::header::HeaderMap;
use url::Url;

/// The rate-limit state Okta reported on a response (`X-Rate-Limit-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed in the current window.
    pub limit: u32,
    /// Requests left in the current window.
    pub remaining: u32,
    /// When the window resets, in UTC epoch seconds.
    pub reset: i64,
}

impl RateLimit {
    /// Reads the three headers; `None` unless all three are present and numeric.
    pub fn from_headers(h: &HeaderMap) -> Option<Self> {
        let num = |name: &str| h.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        Some(Self {
            limit: u32::try_from(num("x-rate-limit-limit")?).ok()?,
            remaining: u32::try_from(num("x-rate-limit-remaining")?).ok()?,
            reset: num("x-rate-limit-reset")?,
        })
    }
}

/// One page of a collection: its items, the `next` link exactly as Okta gave it, and the
/// response's metadata.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Page<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The `rel="next"` link, if there are more pages.
    pub next: Option<Url>,
    /// `X-Rate-Limit-*` of the response.
    pub rate_limit: Option<RateLimit>,
    /// `X-Okta-Request-Id` of the response.
    pub request_id: Option<String>,
}

impl<T> Page<T> {
    /// The `after` cursor of the next page, for callers that page on their own.
    pub fn next_cursor(&self) -> Option<String> {
        self.next
            .as_ref()?
            .query_pairs()
            .find(|(k, _)| k == "after")
            .map(|(_, v)| v.into_owned())
    }
}
