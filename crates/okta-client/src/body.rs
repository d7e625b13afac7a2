//! Bodies read from Okta (and any server reached by discovery) have a size limit: a server that
//! answers with an endless body must not take the process's memory with it.

use bytes::Bytes;

/// The most a page of the Management API may hold (200 users with large profiles are well
/// under 1 MB).
pub const MAX_PAGE_BYTES: usize = 8 << 20;

/// The most a token response, a discovery document or an error may hold.
pub const MAX_SMALL_BYTES: usize = 64 << 10;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The connection failed while the body was read.
    #[error(transparent)]
    Transport(#[from] reqwest::Error),
    /// The body is larger than it may be.
    #[error("the response body is larger than {limit} bytes; it was not read")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// Reads the body of `res`, refusing one larger than `limit` bytes (by its `Content-Length`
/// at once, else as soon as more than `limit` bytes arrived).
///
/// # Errors
/// [`ReadError::TooLarge`]; [`ReadError::Transport`] when the connection fails.
pub async fn read_limited(mut res: reqwest::Response, limit: usize) -> Result<Bytes, ReadError> {
    if res
        .content_length()
        .is_some_and(|n| usize::try_from(n).map_or(true, |n| n > limit))
    {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = res.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
