//! `client.users()`: the Users API.

use std::collections::HashSet;

use futures::{Stream, StreamExt, TryStreamExt, stream};
use url::Url;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::models::User;
use crate::page::Page;

/// Operations on users.
#[derive(Debug, Clone)]
pub struct UsersHandler {
    client: Client,
}

impl UsersHandler {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists users (`GET /api/v1/users`): build the request, then `.send()` for one page or
    /// `.stream()` for every user.
    pub fn list(&self) -> ListUsers {
        ListUsers {
            client: self.client.clone(),
            limit: None,
            after: None,
        }
    }

    /// One user by id, login, or `me` (`GET /api/v1/users/{idOrLogin}`).
    ///
    /// # Errors
    /// [`Error::Api`] with status 404 and code `E0000007` when there is no such user.
    pub async fn get(&self, id_or_login: &str) -> Result<User> {
        let mut url = self.client.org_url().join("/api/v1/users");
        url.path_segments_mut()
            .map_err(|()| Error::Config("the org URL cannot take a path".to_owned()))?
            .push(id_or_login);
        Ok(self.client.get_json::<User>(url).await?.body)
    }
}

/// A `GET /api/v1/users` request being built.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until sent or streamed"]
pub struct ListUsers {
    client: Client,
    limit: Option<u32>,
    after: Option<String>,
}

impl ListUsers {
    /// Users per page (Okta allows up to 200).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Start after this cursor (from [`Page::next_cursor`]).
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    fn url(&self) -> Url {
        let mut url = self.client.org_url().join("/api/v1/users");
        {
            let mut q = url.query_pairs_mut();
            if let Some(limit) = self.limit {
                q.append_pair("limit", &limit.to_string());
            }
            if let Some(after) = &self.after {
                q.append_pair("after", after);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// Fetches the first page.
    ///
    /// # Errors
    /// Any [`Error`] of the request.
    pub async fn send(self) -> Result<Page<User>> {
        let url = self.url();
        self.client.get_page(url).await
    }

    /// Every page, following each `next` link exactly as given. An error is yielded as an item
    /// and ends the stream; a `next` link seen before is an error, never a loop.
    pub fn pages(self) -> impl Stream<Item = Result<Page<User>>> + Send + 'static {
        let first = self.url();
        pages(self.client, first)
    }

    /// Every user across all pages.
    pub fn stream(self) -> impl Stream<Item = Result<User>> + Send + 'static {
        self.pages()
            .map_ok(|p| stream::iter(p.items.into_iter().map(Ok)))
            .try_flatten()
    }
}

struct Cursor {
    next: Option<Url>,
    seen: HashSet<String>,
}

fn pages<T>(client: Client, first: Url) -> impl Stream<Item = Result<Page<T>>> + Send + 'static
where
    T: serde::de::DeserializeOwned + Send + 'static,
{
    let start = Cursor {
        next: Some(first),
        seen: HashSet::new(),
    };
    stream::try_unfold(start, move |mut cur| {
        let client = client.clone();
        async move {
            let Some(url) = cur.next.take() else { return Ok(None) };
            if !cur.seen.insert(url.as_str().to_owned()) {
                return Err(Error::Pagination(format!(
                    "the server repeated the page {url}; stopping instead of looping"
                )));
            }
            let page = client.get_page::<T>(url).await?;
            cur.next = page.next.clone();
            Ok(Some((page, cur)))
        }
    })
    .boxed()
}
