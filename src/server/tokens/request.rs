//! The body of `introspect` (RFC 7662): a form `token=…` as the RFC has it, or JSON with
//! one `token` or a batch of `tokens`.

use crate::server::reply::{ApiError, JsonBody};
use axum::extract::{FromRequest, Request as HttpRequest};
use axum::http::header;
use serde::Deserialize;

/// Most tokens in one batch.
pub const MAX_BATCH: usize = 100;

/// What to introspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntrospectRequest {
    /// One token: the answer is its introspection.
    One(String),
    /// Up to [`MAX_BATCH`] tokens: the answer is `{"results": [...]}` in the same order.
    Batch(Vec<String>),
}

#[derive(Deserialize)]
struct Form {
    token: String,
}

#[derive(Deserialize)]
struct Json {
    token: Option<String>,
    tokens: Option<Vec<String>>,
}

impl<S: Send + Sync> FromRequest<S> for IntrospectRequest {
    type Rejection = ApiError;

    async fn from_request(req: HttpRequest, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form {
            let axum::Form(Form { token }) = axum::Form::<Form>::from_request(req, state)
                .await
                .map_err(|e| ApiError::BadRequest(e.body_text()))?;
            return Ok(IntrospectRequest::One(token));
        }
        let JsonBody(body) = JsonBody::<Json>::from_request(req, state).await?;
        match (body.token, body.tokens) {
            (Some(token), None) => Ok(IntrospectRequest::One(token)),
            (None, Some(tokens)) if tokens.len() > MAX_BATCH => Err(ApiError::BadRequest(format!(
                "a batch holds at most {MAX_BATCH} tokens; this one has {}",
                tokens.len()
            ))),
            (None, Some(tokens)) => Ok(IntrospectRequest::Batch(tokens)),
            _ => Err(ApiError::BadRequest(
                "introspect takes `token=…` (form), {\"token\": …} or {\"tokens\": [...]}".into(),
            )),
        }
    }
}
