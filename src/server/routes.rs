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
use crate::protocol::{
    AccountId, HandshakeRequest, MAX_BODY_BYTES, MAX_COMPLETE_WAIT_MS, MeData, RotateRequest, Uuid,
    WhoAmI,
};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
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
    let api = Router::new()
        .route("/request_challenge/{account_id}", get(request_challenge))
        .route("/challenge_complete/{id}", get(challenge_complete))
        .route("/whoami", get(whoami))
        .route("/token/revoke", post(revoke_token))
        .route("/client/auth/handshake", post(handshake))
        .route("/client/auth/rotate", post(rotate))
        .route("/client/auth/session", post(session))
        .route("/client/me", get(me))
        .route("/client/devices/{device_id}", delete(delete_device))
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
    let wait = query
        .wait_ms
        .map_or(app.config.complete_wait, Duration::from_millis)
        .min(Duration::from_millis(MAX_COMPLETE_WAIT_MS));
    ok(challenges::complete(&app, id, wait).await?)
}

async fn whoami(State(app): Shared, headers: HeaderMap) -> ApiResult {
    let caller = auth::bearer(&app, &headers).await?;
    ok(WhoAmI {
        account_id: caller.grant.account.get(),
        expires_at: caller.grant.expires_at,
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
    body: Result<JsonBody<HandshakeRequest>, ApiError>,
) -> ApiResult {
    app.rate_limit(Limit::DeviceByIp(app.client_ip(peer, &headers)))?;
    // Credentials first: an anonymous caller learns nothing about body validation.
    let caller = auth::bearer(&app, &headers).await?;
    let JsonBody(request) = body?;
    ok(devices::register(&app, caller.grant.account, request).await?)
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

async fn delete_device(
    State(app): Shared,
    headers: HeaderMap,
    raw: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let id: Uuid = path_param(raw)?;
    let caller = auth::bearer(&app, &headers).await?;
    devices::revoke(&app, caller.grant.account, id).await?;
    ok(())
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
