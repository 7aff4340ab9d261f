//! The HTTP routes of protocol.md sections 2–5. Handlers only parse the request, apply
//! limits and call the module that does the work; every answer goes through `reply`.

use super::app::App;
use super::auth;
use super::challenges;
use super::devices;
use super::latency;
use super::prometheus;
use super::rate_limit::Limit;
use super::reply::{self, ApiError, ApiResult, JsonBody, ok};
use super::tokens::access;
use super::tokens::request::IntrospectRequest;
use crate::protocol::{
    AccountId, BEARER_SCHEME, HandshakeRequest, MAX_BODY_BYTES, MAX_COMPLETE_WAIT_MS, MeData,
    RotateRequest, Uuid, WhoAmI,
};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Router, middleware};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

type Shared = State<Arc<App>>;
type Peer = ConnectInfo<SocketAddr>;

/// The DashAuth routes, plus `extra` (the emulator), with the envelope on every fallback.
/// Every request, `/metrics` scrapes included, is timed by route (`latency.rs`).
pub fn router(app: Arc<App>, extra: Option<Router>) -> Router {
    let latency = app.latency.clone();
    let clock = Arc::clone(&app);
    let api = Router::new()
        .route("/request_challenge/{account_id}", get(request_challenge))
        .route("/challenge_complete/{id}", get(challenge_complete))
        .route("/whoami", get(whoami))
        .route("/token/revoke", post(revoke_token))
        .route("/client/auth/handshake", post(handshake))
        .route("/client/auth/rotate", post(rotate))
        .route("/client/auth/session", post(session))
        .route("/client/me", get(me))
        .route("/client/devices", get(list_devices))
        .route("/client/devices/{device_id}", delete(delete_device))
        .route("/account/revoke-all", post(revoke_all))
        .route("/token/exchange", post(exchange))
        .route("/introspect", post(introspect))
        .route("/.well-known/jwks.json", get(jwks))
        // Not rate-limited: a scrape is cheap and reveals no secret (see the README).
        .route("/metrics", get(prometheus::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(super::status::status))
        .with_state(app);
    let all = match extra {
        Some(extra) => api.merge(extra),
        None => api,
    };
    all.method_not_allowed_fallback(reply::method_not_allowed)
        .fallback(reply::not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(reply::limit_body_size))
        .layer(middleware::from_fn_with_state(clock, reply::date_header))
        .layer(middleware::from_fn_with_state(latency, latency::measure))
}

fn path_param<T: std::str::FromStr<Err = String>>(
    raw: Result<Path<String>, PathRejection>,
) -> Result<T, ApiError> {
    let Path(raw) = raw?;
    raw.parse().map_err(ApiError::BadRequest)
}

async fn request_challenge(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    raw: Result<Path<String>, PathRejection>,
    query: Result<Query<ChallengeQuery>, QueryRejection>,
) -> ApiResult {
    let account: AccountId = path_param(raw)?;
    let ip = app.client_ip(peer, &headers);
    app.rate_limit(Limit::ChallengeByIp(ip))?;
    app.rate_limit(Limit::ChallengeByAccount(account, ip))?;
    let Query(query) = query?;
    let audience = query.audience.map(parse_audience).transpose()?;
    ok(challenges::issue(&app, account, ip, audience).await?)
}

#[derive(Debug, Deserialize)]
struct ChallengeQuery {
    audience: Option<String>,
}

/// An audience (protocol.md section 2): 1–128 visible ASCII characters.
fn parse_audience(audience: String) -> Result<String, ApiError> {
    let valid =
        (1..=128).contains(&audience.len()) && audience.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(audience)
    } else {
        Err(ApiError::BadRequest(
            "audience must be 1-128 visible ASCII characters".into(),
        ))
    }
}

#[derive(Debug, Deserialize)]
struct CompleteQuery {
    wait_ms: Option<u64>,
}

async fn challenge_complete(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    raw: Result<Path<String>, PathRejection>,
    query: Result<Query<CompleteQuery>, QueryRejection>,
) -> ApiResult {
    let id: Uuid = path_param(raw)?;
    let Query(query) = query?;
    app.rate_limit(Limit::CompleteByIp(app.client_ip(peer, &headers)))?;
    ok(challenges::complete(&app, id, long_poll(&app, query.wait_ms)).await?)
}

async fn whoami(State(app): Shared, headers: HeaderMap) -> ApiResult {
    let caller = auth::bearer(&app, &headers).await?;
    let sender = caller.grant.sender;
    ok(WhoAmI {
        account_id: caller.grant.account.get(),
        expires_at: caller.grant.expires_at,
        audience: caller.grant.audience,
        gd_username: sender.as_ref().map(|s| s.username.clone()),
        gd_user_id: sender.map(|s| s.user_id),
    })
}

async fn revoke_token(State(app): Shared, headers: HeaderMap) -> ApiResult {
    let caller = auth::bearer(&app, &headers).await?;
    app.store.remove_token(&caller.hash).await?;
    super::log::log_event!("token of account {} revoked", caller.grant.account);
    ok(())
}

async fn handshake(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<CompleteQuery>, QueryRejection>,
    body: Result<JsonBody<HandshakeRequest>, ApiError>,
) -> ApiResult {
    app.rate_limit(Limit::DeviceByIp(app.client_ip(peer, &headers)))?;
    let request = body.map(|JsonBody(request)| request);
    let gd_proof = matches!(&request, Ok(r) if r.challenge_id.is_some());
    let bearer = auth::scheme(&headers).is_some_and(|s| s.eq_ignore_ascii_case(BEARER_SCHEME));
    if !gd_proof && bearer {
        // The 0.1 form: whoever holds a token (a mod's server, say) must not be able to
        // plant a device of their own on the player's account.
        return Err(ApiError::Forbidden(
            "token_enrollment_disabled: enrolling a device needs a GD message, not a token: \
             request a challenge, send its GD message, then send its challenge_id with a \
             proof of possession"
                .into(),
        ));
    }
    let Query(query) = query?;
    ok(devices::enroll(&app, request?, long_poll(&app, query.wait_ms)).await?)
}

/// How long a long poll may hold the request: `wait_ms`, or the server's default.
fn long_poll(app: &App, wait_ms: Option<u64>) -> Duration {
    wait_ms
        .map_or(app.config.complete_wait, Duration::from_millis)
        .min(Duration::from_millis(MAX_COMPLETE_WAIT_MS))
}

async fn rotate(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Result<JsonBody<RotateRequest>, ApiError>,
) -> ApiResult {
    let ip = app.client_ip(peer, &headers);
    app.rate_limit(Limit::DeviceByIp(ip))?;
    let device = auth::nonce_device(&app, &headers, ip).await?;
    let JsonBody(request) = body?;
    ok(devices::rotate(&app, &device, request).await?)
}

async fn session(State(app): Shared, ConnectInfo(peer): Peer, headers: HeaderMap) -> ApiResult {
    let ip = app.client_ip(peer, &headers);
    app.rate_limit(Limit::DeviceByIp(ip))?;
    let device = auth::nonce_device(&app, &headers, ip).await?;
    ok(devices::open_session(&app, &device).await?)
}

async fn me(State(app): Shared, ConnectInfo(peer): Peer, headers: HeaderMap) -> ApiResult {
    let caller = auth::device(&app, &headers, app.client_ip(peer, &headers)).await?;
    ok(MeData {
        account_id: caller.account.get(),
        device_id: caller.device,
    })
}

async fn list_devices(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
) -> ApiResult {
    let owner = auth::owner(&app, &headers, app.client_ip(peer, &headers)).await?;
    ok(devices::list(&app, owner.account, owner.device).await?)
}

async fn delete_device(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let id: Uuid = path_param(raw)?;
    let owner = auth::owner(&app, &headers, app.client_ip(peer, &headers)).await?;
    devices::revoke(&app, owner.account, id).await?;
    ok(())
}

/// Body of `account/revoke-all`.
#[derive(Debug, Default, Deserialize)]
struct RevokeAllRequest {
    /// A validated challenge as proof, for a player who lost every device.
    challenge_id: Option<Uuid>,
    /// Keep the device making the (nonce-authenticated) request.
    #[serde(default)]
    keep_current_device: bool,
}

async fn revoke_all(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    query: Result<Query<CompleteQuery>, QueryRejection>,
    body: Result<JsonBody<RevokeAllRequest>, ApiError>,
) -> ApiResult {
    let ip = app.client_ip(peer, &headers);
    app.rate_limit(Limit::DeviceByIp(ip))?;
    let request = match body {
        Ok(JsonBody(request)) => request,
        // A nonce alone, without a body, is the usual call.
        Err(_) if headers.contains_key(header::AUTHORIZATION) => RevokeAllRequest::default(),
        Err(e) => return Err(e),
    };
    let (account, keep) = if headers.contains_key(header::AUTHORIZATION) {
        // Only a device's nonce: a bearer token may be in a third party's hands.
        let device = auth::nonce_device(&app, &headers, ip).await?;
        let keep = request.keep_current_device.then_some(device.id);
        (device.account, keep)
    } else {
        let id = request.challenge_id.ok_or_else(|| {
            ApiError::Unauthorized(
                "revoke-all needs a device nonce, or a validated challenge_id as GD proof".into(),
            )
        })?;
        let Query(query) = query?;
        let verified = challenges::consume(&app, id, long_poll(&app, query.wait_ms)).await?;
        (verified.account, None)
    };
    ok(devices::revoke_all(&app, account, keep).await?)
}

async fn exchange(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Result<JsonBody<crate::protocol::ExchangeRequest>, ApiError>,
) -> ApiResult {
    let ip = app.client_ip(peer, &headers);
    app.rate_limit(Limit::TokensByIp(ip))?;
    // Credentials first: an anonymous caller learns nothing about body validation.
    let requester = auth::requester(&app, &headers, ip).await?;
    let JsonBody(request) = body?;
    let audience = parse_audience(request.audience)?;
    ok(access::exchange(&app, requester, audience).await?)
}

/// The JWKS (protocol.md section 9): bare JSON, cacheable for a few minutes (a key is
/// published long before it signs anything another instance could not yet verify).
async fn jwks(State(app): Shared) -> Result<Response, ApiError> {
    let now = app.now_ms();
    let keys = app
        .keyring
        .jwks(&app.store, now, access::lifetimes(&app))
        .await?;
    let cache = HeaderValue::from_static("public, max-age=300");
    Ok(([(header::CACHE_CONTROL, cache)], Json(keys)).into_response())
}

async fn introspect(
    State(app): Shared,
    ConnectInfo(peer): Peer,
    headers: HeaderMap,
    body: Result<IntrospectRequest, ApiError>,
) -> Result<Response, ApiError> {
    app.rate_limit(Limit::TokensByIp(app.client_ip(peer, &headers)))?;
    let answer = match body? {
        IntrospectRequest::One(token) => {
            serde_json::to_value(access::introspect(&app, &token).await?)
        }
        IntrospectRequest::Batch(tokens) => {
            let mut results = Vec::with_capacity(tokens.len());
            for token in &tokens {
                results.push(access::introspect(&app, token).await?);
            }
            serde_json::to_value(serde_json::json!({ "results": results }))
        }
    }
    .map_err(|e| ApiError::Internal(format!("introspection answer: {e}")))?;
    Ok(Json(answer).into_response())
}

/// 200 while the process runs (protocol.md section 8); bare body, no envelope.
async fn healthz() -> &'static str {
    "ok"
}

/// 200 when the store answers, else 503; bare body, no envelope. A load balancer takes
/// an instance whose database is gone out of rotation until it comes back.
async fn readyz(State(app): Shared) -> (StatusCode, &'static str) {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unavailable"),
    }
}
