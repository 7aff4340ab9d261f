//! Access tokens for third-party servers (protocol.md section 9): minting them in
//! `token/exchange`, and RFC 7662 introspection of every kind of token the server issues.

use super::jwt::{self, Claims};
use super::keyring::Lifetimes;
use super::{TokenHash, new_uuid};
use crate::protocol::{AccessTokenData, AccountId, Uuid};
use crate::server::app::App;
use crate::server::reply::ApiError;
use crate::server::store::{Sender, StoreResult, TokenKind};
use serde::Serialize;

/// Who is asking for an access token, and how they proved it.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The proven account.
    pub account: AccountId,
    /// What the bot saw in the verifying message, when known.
    pub sender: Option<Sender>,
    /// The device whose credential is used, if any.
    pub device: Option<Uuid>,
    /// For a login token requested for an audience: that audience, the only one it may
    /// be exchanged for.
    pub bound_audience: Option<String>,
}

/// The key lifetimes the configuration sets.
pub fn lifetimes(app: &App) -> Lifetimes {
    Lifetimes {
        rotate_every_ms: crate::server::challenges::millis(app.config.signing_key_rotate),
        token_ttl_ms: crate::server::challenges::millis(app.config.access_token_ttl),
    }
}

/// Mints an access token for `audience`; 403 when a login token bound to another
/// audience asks.
pub async fn exchange(
    app: &App,
    requester: Requester,
    audience: String,
) -> Result<AccessTokenData, ApiError> {
    if let Some(bound) = &requester.bound_audience
        && *bound != audience
    {
        return Err(ApiError::Forbidden(format!(
            "audience_mismatch: this login token is bound to {bound:?} and cannot be \
                 exchanged for {audience:?}"
        )));
    }
    let now = app.now_ms();
    let key = app.keyring.current(&app.store, now, lifetimes(app)).await?;
    let ttl_s = i64::try_from(app.config.access_token_ttl.as_secs()).unwrap_or(i64::MAX);
    let iat = now.div_euclid(1000);
    let exp = iat.saturating_add(ttl_s);
    let amr = if requester.device.is_some() {
        "device"
    } else {
        "gd_message"
    };
    let claims = Claims {
        iss: app.issuer().to_string(),
        sub: requester.account.to_string(),
        aud: audience,
        iat,
        exp,
        jti: new_uuid().to_string(),
        gd_account_id: requester.account.get(),
        gd_username: requester.sender.as_ref().map(|s| s.username.clone()),
        gd_user_id: requester.sender.as_ref().map(|s| s.user_id),
        device_id: requester.device.map(|d| d.to_string()),
        amr: vec![amr.to_string()],
    };
    let input = jwt::signing_input(&key.kid, &claims).map_err(ApiError::Internal)?;
    let token = jwt::assemble(&input, &key.sign(input.as_bytes()));
    Ok(AccessTokenData {
        access_token: token,
        token_type: "Bearer".into(),
        expires_in: ttl_s,
        expires_at: exp.saturating_mul(1000),
    })
}

/// An RFC 7662 answer: `{"active": false}` alone, or the token's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Introspection {
    /// Whether the token is usable now.
    pub active: bool,
    /// `access_token`, `login_token` or `session_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// The GD account id, decimal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The audience it is for or bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issued at, UNIX seconds (access tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry, UNIX seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// The GD account id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gd_account_id: Option<u32>,
    /// The GD username, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gd_username: Option<String>,
    /// The GD user id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gd_user_id: Option<u32>,
    /// The device the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
}

/// Introspects one token of any kind. Anything unknown, expired, revoked, malformed or
/// signed by someone else is simply inactive.
pub async fn introspect(app: &App, token: &str) -> StoreResult<Introspection> {
    let token = token.trim();
    if jwt::is_jwt(token) {
        return access_token(app, token).await;
    }
    let Some(grant) = app.store.token(&TokenHash::of(token), app.now_ms()).await? else {
        return Ok(Introspection::default());
    };
    let sender = grant.sender;
    Ok(Introspection {
        active: true,
        token_type: Some(match grant.kind {
            TokenKind::Login => "login_token",
            TokenKind::Session => "session_token",
        }),
        sub: Some(grant.account.to_string()),
        aud: grant.audience,
        iat: None,
        exp: Some(grant.expires_at.div_euclid(1000)),
        gd_account_id: Some(grant.account.get()),
        gd_username: sender.as_ref().map(|s| s.username.clone()),
        gd_user_id: sender.map(|s| s.user_id),
        device_id: grant.device.map(|d| d.to_string()),
    })
}

async fn access_token(app: &App, token: &str) -> StoreResult<Introspection> {
    let inactive = Introspection::default();
    let now = app.now_ms();
    let Ok(unverified) = jwt::decode(token) else {
        return Ok(inactive);
    };
    let Some(key) = app
        .keyring
        .find(&app.store, &unverified.header.kid, now)
        .await?
    else {
        return Ok(inactive);
    };
    let Ok(claims) = unverified.verify(key.public_key()) else {
        return Ok(inactive);
    };
    let Ok(account) = AccountId::new(claims.gd_account_id) else {
        return Ok(inactive);
    };
    if claims.iss != app.issuer() || claims.exp.saturating_mul(1000) <= now {
        return Ok(inactive);
    }
    // Revoke-all covers every token issued up to that moment; `iat` has whole seconds, so
    // one minted in the same second just after it counts as covered too (erring safe).
    let revoked_all = app.store.revoked_all_at(account).await?;
    if revoked_all.is_some_and(|at| claims.iat.saturating_mul(1000) <= at) {
        return Ok(inactive);
    }
    if let Some(device) = &claims.device_id {
        let Ok(id) = device.parse::<Uuid>() else {
            return Ok(inactive);
        };
        let usable = app.store.device(&id).await?.is_some_and(|d| !d.revoked);
        if !usable {
            return Ok(inactive);
        }
    }
    Ok(Introspection {
        active: true,
        token_type: Some("access_token"),
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iat: Some(claims.iat),
        exp: Some(claims.exp),
        gd_account_id: Some(claims.gd_account_id),
        gd_username: claims.gd_username,
        gd_user_id: claims.gd_user_id,
        device_id: claims.device_id,
    })
}
