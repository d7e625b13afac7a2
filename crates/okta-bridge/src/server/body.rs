//! Request bodies: a deadline for the whole body, limits that fit each kind of route, and the
//! extractor that reads a body into bytes with our errors.
//!
//! Only the head of a request has a timeout in hyper. A client that announces a body and sends
//! it slowly, or never, would hold its connection (and what was read of the body) for as long
//! as it likes: a thousand of them took every connection slot. Every body gets a deadline from
//! when its head arrived ([`deadline`]); a body still incomplete then fails, the handler
//! answers 408, and the connection closes.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body as AxumBody, Bytes};
use axum::extract::{FromRequest, Request};
use http_body::{Frame, SizeHint};

use crate::error::{BodyRefusal, Error};

/// What a page's form may hold: a few fields (a client secret, a pasted API token).
pub(crate) const FORM_LIMIT: usize = 16 * 1024;

/// What an Okta event hook call may hold: a batch of System Log events.
pub(crate) const HOOK_LIMIT: usize = 1024 * 1024;

/// What a JSON API request or a request through the proxy may hold (axum's default).
pub(crate) const API_LIMIT: usize = 2 * 1024 * 1024;

/// The deadline passed before the whole body arrived.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyTimeout(pub Duration);

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body did not arrive within {} s", self.0.as_secs())
    }
}

impl std::error::Error for BodyTimeout {}

/// A request body that fails once its deadline passes.
struct Deadline {
    inner: AxumBody,
    sleep: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimeout(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: the request's body must arrive within `limit` of its head.
pub(crate) async fn deadline(
    axum::extract::State(limit): axum::extract::State<Duration>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use http_body::Body as _;
    let (parts, body) = req.into_parts();
    let body = if body.is_end_stream() {
        body
    } else {
        AxumBody::new(Deadline {
            inner: body,
            sleep: Box::pin(tokio::time::sleep(limit)),
            limit,
        })
    };
    next.run(Request::from_parts(parts, body)).await
}

/// Why reading a body failed, from the error the body gave.
fn refusal(e: &(dyn std::error::Error + 'static), limit: usize) -> BodyRefusal {
    let mut source = Some(e);
    while let Some(s) = source {
        if let Some(t) = s.downcast_ref::<BodyTimeout>() {
            return BodyRefusal::TooSlow { seconds: t.0.as_secs() };
        }
        if s.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
            return BodyRefusal::TooLarge { limit };
        }
        source = s.source();
    }
    BodyRefusal::Broken
}

/// Reads `body` whole, at most `limit` bytes (refused at once when its `Content-Length` says
/// more), within the request's deadline.
///
/// # Errors
/// [`Error::Body`]: too large, too slow, cut off.
pub(crate) async fn read(body: AxumBody, limit: usize) -> Result<Bytes, Error> {
    use http_body::Body as _;
    if body.size_hint().lower() > limit as u64 {
        return Err(Error::Body(BodyRefusal::TooLarge { limit }));
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let refusal = refusal(&e, limit);
        tracing::debug!(error = %e, ?refusal, "a request body was not taken");
        Error::Body(refusal)
    })
}

/// The request body, whole (at most [`API_LIMIT`]), read after every other extractor — so after
/// the caller was authenticated; a body too large, too slow or cut off is our JSON error.
pub(crate) struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Error;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        read(req.into_body(), API_LIMIT).await.map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_body_too_large_or_too_slow_is_refused_for_what_it_is() {
        let e = read(AxumBody::from(vec![0u8; 10]), 4).await.unwrap_err();
        assert!(matches!(e, Error::Body(BodyRefusal::TooLarge { limit: 4 })), "{e:?}");
        let (_tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let never = AxumBody::from_stream(tokio_stream_of(rx));
        let slow = AxumBody::new(Deadline {
            inner: never,
            sleep: Box::pin(tokio::time::sleep(Duration::from_millis(10))),
            limit: Duration::from_secs(7),
        });
        let e = read(slow, 100).await.unwrap_err();
        assert!(matches!(e, Error::Body(BodyRefusal::TooSlow { seconds: 7 })), "{e:?}");
        assert_eq!(read(AxumBody::from("ok"), 4).await.unwrap(), "ok");
    }

    fn tokio_stream_of(
        mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
    ) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
