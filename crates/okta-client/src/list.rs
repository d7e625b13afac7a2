//! [`List`]: a request for a collection, as one page, a stream of pages or a stream of items.

use std::collections::HashSet;
use std::marker::PhantomData;

use futures::{Stream, StreamExt, TryStreamExt, stream};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::{Client, RawPage};
use crate::error::{Error, Result};
use crate::page::Page;

/// A `GET` of a collection being built: set its parameters, then [`send`](List::send) for one
/// page, [`pages`](List::pages) for every page or [`stream`](List::stream) for every item.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until sent or streamed"]
pub struct List<T> {
    client: Client,
    base: Url,
    query: Vec<(String, String)>,
    _items: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> List<T> {
    pub(crate) fn new(client: Client, base: Url) -> Self {
        Self {
            client,
            base,
            query: Vec::new(),
            _items: PhantomData,
        }
    }

    /// Sets a query parameter (replacing an earlier value of it).
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.to_owned(), value.into()));
        self
    }

    /// Items per page (each endpoint has its own maximum, e.g. 200 for users).
    pub fn limit(self, limit: u32) -> Self {
        self.param("limit", limit.to_string())
    }

    /// Starts after this cursor: the `after` of a saved [`Page::next_cursor`].
    pub fn after(self, cursor: impl Into<String>) -> Self {
        self.param("after", cursor)
    }

    /// The same request with its items decoded as `U`: a type with only the fields wanted
    /// decodes faster than the whole object (e.g. only the `id` of each member of a group).
    pub fn decode_as<U: DeserializeOwned + Send + 'static>(self) -> List<U> {
        List {
            client: self.client,
            base: self.base,
            query: self.query,
            _items: PhantomData,
        }
    }

    /// The URL of the first page.
    pub fn url(&self) -> Url {
        let mut url = self.base.clone();
        if !self.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&self.query);
        }
        url
    }

    /// Fetches the first page.
    ///
    /// # Errors
    /// Any [`Error`] of the request.
    pub async fn send(self) -> Result<Page<T>> {
        let url = self.url();
        self.client.get_page(url).await
    }

    /// Every page, following each `next` link exactly as given. An error is yielded as an item
    /// and ends the stream (never a silent end); a `next` link seen before is an
    /// [`Error::Pagination`], never a loop.
    pub fn pages(self) -> impl Stream<Item = Result<Page<T>>> + Send + 'static {
        let first = self.url();
        pages(self.client, first)
    }

    /// Every item across all pages.
    pub fn stream(self) -> impl Stream<Item = Result<T>> + Send + 'static {
        self.pages()
            .map_ok(|p| stream::iter(p.items.into_iter().map(Ok)))
            .try_flatten()
    }
}

/// Aborts a prefetch nobody will read (the stream was dropped).
struct Prefetch(tokio::task::JoinHandle<Result<RawPage>>);

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Cursor {
    client: Client,
    first: Option<Url>,
    pending: Option<Prefetch>,
    /// An error found while starting the next fetch, reported after the current page.
    failed: Option<Error>,
    seen: HashSet<String>,
}

impl Cursor {
    /// Starts fetching `url` in the background, unless it was seen before.
    fn prefetch(&mut self, url: Url) -> Result<()> {
        if !self.seen.insert(url.as_str().to_owned()) {
            return Err(Error::Pagination(format!(
                "the server repeated the page {url}; stopping instead of looping"
            )));
        }
        let client = self.client.clone();
        self.pending = Some(Prefetch(tokio::spawn(async move { client.fetch_page(url).await })));
        Ok(())
    }
}

/// The pages from `first` on. While a page is decoded, the next one is already being fetched
/// (its link comes in the headers), so decoding and the network overlap.
pub(crate) fn pages<T>(client: Client, first: Url) -> impl Stream<Item = Result<Page<T>>> + Send + 'static
where
    T: DeserializeOwned + Send + 'static,
{
    let start = Cursor {
        client,
        first: Some(first),
        pending: None,
        failed: None,
        seen: HashSet::new(),
    };
    stream::try_unfold(start, move |mut cur| async move {
        if let Some(e) = cur.failed.take() {
            return Err(e);
        }
        if let Some(first) = cur.first.take() {
            cur.prefetch(first)?;
        }
        let Some(mut pending) = cur.pending.take() else {
            return Ok(None);
        };
        let raw = (&mut pending.0)
            .await
            .map_err(|e| Error::Pagination(format!("the page fetch stopped: {e}")))??;
        if let Some(next) = raw.next.clone()
            && let Err(e) = cur.prefetch(next)
        {
            cur.failed = Some(e);
        }
        let page = raw.decode::<T>()?;
        Ok(Some((page, cur)))
    })
    .boxed()
}
