//! Every answer of the DashAuth routes, success or failure, in the `{success, message,
//! data}` envelope (protocol.md section 1): errors map to statuses here and only here,
//! including axum's own rejections, unknown routes and oversized bodies.

use super::log::log_event;
use super::store::StoreError;
use crate::protocol::{Envelope, MAX_BODY_BYTES, PendingData};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request failed, one variant per status the protocol uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 400: a malformed id, body or parameter.
    BadRequest(String),
    /// 401: missing, unknown or refused credentials.
    Unauthorized(String),
    /// 401 for a challenge the bot has not validated yet, with when the bot next reads
    /// its inbox when this process knows it.
    Pending {
        /// Why.
        message: String,
        /// Milliseconds until the next inbox read.
        next_check_ms: Option<u64>,
    },
    /// 403: the credential is valid but may not do this (a bearer token enrolling a
    /// device, a login token bound to another audience).
    Forbidden(String),
    /// 404: unknown route, or unknown/expired/consumed resource.
    NotFound(String),
    /// 405: known route, other method.
    MethodNotAllowed,
    /// 413: body over [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 429, with `Retry-After` seconds.
    RateLimited(u64),
    /// 503: the server is shutting down, or its database is unavailable.
    Unavailable(String),
    /// 503 with `Retry-After` seconds: the server holds all it may of something.
    Busy(String, u64),
    /// 429 without `Retry-After`: a cap that waiting does not lift (the caller must
    /// free something first, e.g. revoke a device).
    TooMany(String),
    /// 500: a bug or a failure of ours; details go to the log, not to the client.
    Internal(String),
}

/// What a handler returns.
pub type ApiResult = Result<Response, ApiError>;

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) | ApiError::Pending { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) | ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) | ApiError::Busy(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Unavailable(m)
            | ApiError::Busy(m, _)
            | ApiError::TooMany(m)
            | ApiError::Pending { message: m, .. } => m.clone(),
            ApiError::MethodNotAllowed => "method not allowed on this route".into(),
            ApiError::PayloadTooLarge => {
                format!("request body larger than {MAX_BODY_BYTES} bytes")
            }
            ApiError::RateLimited(s) => format!("rate limited: retry after {s} s"),
            ApiError::Internal(_) => "internal server error".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(detail) = &self {
            log_event!("internal error: {detail}");
        }
        let mut response = match &self {
            ApiError::Pending {
                next_check_ms: Some(next_check_ms),
                ..
            } => {
                let mut envelope = Envelope::error(self.message());
                envelope.data = Some(PendingData {
                    next_check_ms: *next_check_ms,
                });
                (self.status(), Json(envelope)).into_response()
            }
            _ => (self.status(), Json(Envelope::<()>::error(self.message()))).into_response(),
        };
        if let ApiError::RateLimited(seconds) | ApiError::Busy(_, seconds) = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// 200 with `data` in the envelope.
pub fn ok<T: Serialize>(data: T) -> ApiResult {
    Ok(Json(Envelope::ok(data)).into_response())
}

impl From<StoreError> for ApiError {
    /// The database failed: 503, so clients retry; the detail goes to the log only.
    fn from(e: StoreError) -> Self {
        log_event!("store: {e}");
        ApiError::Unavailable("the server's database is unavailable; try again shortly".into())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            _ => ApiError::BadRequest(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// A JSON request body whose rejections are [`ApiError`]s (so they get the envelope).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(JsonBody(value))
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// Fallback for known routes called with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Refuses a declared body over the limit before any handler runs, on every route.
/// Bodies without a length are cut off by axum's `DefaultBodyLimit` when read.
pub async fn limit_body_size(request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > MAX_BODY_BYTES as u64 => ApiError::PayloadTooLarge.into_response(),
        _ => next.run(request).await,
    }
}

/// Puts the server's clock in a `Date` header on every answer (hyper's own would ignore
/// the configured test offset): clients learn their clock's offset from it (protocol.md
/// section 4).
pub async fn date_header(
    axum::extract::State(app): axum::extract::State<std::sync::Arc<super::app::App>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if let Some(value) = crate::clock::format_http_date(app.now_ms())
        .and_then(|date| HeaderValue::from_str(&date).ok())
    {
        response.headers_mut().insert(header::DATE, value);
    }
    response
}
