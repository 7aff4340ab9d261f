//! Who is calling: the `Authorization` header resolved to a token grant or a device,
//! with the status and message the protocol gives each failure.

use super::app::App;
use super::log::log_sampled;
use super::nonce;
use super::rate_limit::Limit;
use super::reply::ApiError;
use super::store::{Device, TokenGrant, TokenKind};
use super::tokens::TokenHash;
use super::tokens::access::Requester;
use crate::protocol::{AccountId, BEARER_SCHEME, NONCE_SCHEME, Uuid};
use axum::http::{HeaderMap, header};
use std::net::IpAddr;

/// A caller identified by a bearer token (login or session token).
#[derive(Debug, Clone)]
pub struct TokenCaller {
    /// The presented token's hash, to revoke it.
    pub hash: TokenHash,
    /// What it grants.
    pub grant: TokenGrant,
}

/// A caller that is a device: by nonce, or by a session token the device opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceCaller {
    /// The device's account.
    pub account: AccountId,
    /// The device.
    pub device: Uuid,
}

fn authorization(headers: &HeaderMap) -> Result<(&str, &str), ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::Unauthorized("missing Authorization header".into()))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("Authorization header is not ASCII".into()))?;
    let value = value.trim();
    Ok(value.split_once(' ').unwrap_or((value, "")))
}

/// The scheme of the `Authorization` header, if there is a readable one.
pub fn scheme(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).ok().map(|(scheme, _)| scheme)
}

fn is_scheme(scheme: &str, expected: &str) -> bool {
    scheme.eq_ignore_ascii_case(expected)
}

/// The caller of a route that takes `Authorization: Bearer <token>`.
pub async fn bearer(app: &App, headers: &HeaderMap) -> Result<TokenCaller, ApiError> {
    let (scheme, token) = authorization(headers)?;
    if !is_scheme(scheme, BEARER_SCHEME) {
        return Err(ApiError::Unauthorized(format!(
            "this route needs `Authorization: {BEARER_SCHEME} <token>`"
        )));
    }
    let hash = TokenHash::of(token.trim());
    let grant = app
        .store
        .token(&hash, app.now_ms())
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown, expired or revoked token".into()))?;
    Ok(TokenCaller { hash, grant })
}

/// The device of a route that takes `Authorization: Nonce …`. Failed checks count
/// against the caller's IP, and are refused outright once that limit is reached.
pub async fn nonce_device(app: &App, headers: &HeaderMap, ip: IpAddr) -> Result<Device, ApiError> {
    let (scheme, _) = authorization(headers)?;
    if !is_scheme(scheme, NONCE_SCHEME) {
        return Err(ApiError::Unauthorized(format!(
            "this route needs `Authorization: {NONCE_SCHEME} <device_id> <timestamp_ms> <signature>`"
        )));
    }
    app.rate_limit_reached(Limit::NonceFailureByIp(ip))?;
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match nonce::verify(&app.store, value, app.now_ms()).await {
        Ok(device) => Ok(device),
        Err(nonce::Failure::Store(e)) => Err(e.into()),
        Err(nonce::Failure::Refused(refusal)) => {
            app.metrics.nonce_rejected(refusal.reason);
            log_sampled!(
                NonceRefused,
                "nonce refused from {ip}: {}",
                refusal.reason.code()
            );
            // Counted only now: the failure is what the limit is about.
            let _ = app.limiter.take(Limit::NonceFailureByIp(ip));
            Err(ApiError::Unauthorized(refusal.message))
        }
    }
}

/// The device of a route that takes a nonce or a session token.
pub async fn device(app: &App, headers: &HeaderMap, ip: IpAddr) -> Result<DeviceCaller, ApiError> {
    let (scheme, _) = authorization(headers)?;
    if is_scheme(scheme, NONCE_SCHEME) {
        let device = nonce_device(app, headers, ip).await?;
        return Ok(DeviceCaller {
            account: device.account,
            device: device.id,
        });
    }
    let caller = bearer(app, headers).await?;
    let device = caller.grant.device.ok_or_else(|| {
        ApiError::Unauthorized("this route needs a nonce or a device session token".into())
    })?;
    Ok(DeviceCaller {
        account: caller.grant.account,
        device,
    })
}

/// Whoever may manage an account's devices: one of its devices (nonce or session token),
/// or a login token of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The account.
    pub account: AccountId,
    /// The calling device, when a device calls.
    pub device: Option<Uuid>,
}

/// The owner calling a device-management route.
pub async fn owner(app: &App, headers: &HeaderMap, ip: IpAddr) -> Result<Owner, ApiError> {
    let (scheme, _) = authorization(headers)?;
    if is_scheme(scheme, NONCE_SCHEME) {
        let device = nonce_device(app, headers, ip).await?;
        return Ok(Owner {
            account: device.account,
            device: Some(device.id),
        });
    }
    let caller = bearer(app, headers).await?;
    Ok(Owner {
        account: caller.grant.account,
        device: caller.grant.device,
    })
}

/// Whoever asks `token/exchange` for an access token: a login or session token, or a
/// device's nonce.
pub async fn requester(app: &App, headers: &HeaderMap, ip: IpAddr) -> Result<Requester, ApiError> {
    let (scheme, _) = authorization(headers)?;
    if is_scheme(scheme, NONCE_SCHEME) {
        let device = nonce_device(app, headers, ip).await?;
        return Ok(Requester {
            account: device.account,
            sender: device.sender,
            device: Some(device.id),
            bound_audience: None,
        });
    }
    let grant = bearer(app, headers).await?.grant;
    Ok(Requester {
        account: grant.account,
        bound_audience: match grant.kind {
            TokenKind::Login => grant.audience,
            TokenKind::Session => None,
        },
        sender: grant.sender,
        device: grant.device,
    })
}
