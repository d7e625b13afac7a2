//! The JSON API's extractors of path and query parameters: axum's, with a refusal that is our
//! JSON error (`{"error": "invalid_request", "message", "field"}`) rather than plain text, as
//! the OpenAPI document says every error is.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::Error;

/// Query parameters (`?limit=…`); bad ones are an [`Error::Invalid`] of `query`.
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e| Error::invalid("query", e.body_text()))
    }
}

/// Path parameters (`/api/accounts/{name}`); bad ones are an [`Error::Invalid`] of `path`.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| Error::invalid("path", e.body_text()))
    }
}
