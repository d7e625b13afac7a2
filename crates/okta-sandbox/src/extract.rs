//! Request extractors whose refusals are Okta's JSON errors, not axum's `text/plain` ones: a
//! body that is not JSON (or not sent as JSON) answers 400 E0000003, "The request body was not
//! well-formed.", as Okta does.

use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON request body, refused the way Okta refuses one.
pub(crate) struct OktaJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OktaJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(ApiError::malformed_body(rejection.body_text())),
        }
    }
}
