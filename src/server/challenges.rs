//! The challenge flow (protocol.md section 2): handing out challenges and trading a
//! validated one for a token, with the long poll existing clients rely on.

use super::app::App;
use super::log::{log_event, log_sampled};
use super::rate_limit::client_of;
use super::reply::ApiError;
use super::store::{Challenge, Completion, TokenGrant};
use super::tokens::{self, TokenHash};
use crate::protocol::{AccountId, ChallengeData, Uuid};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Creates a challenge for `account`, asked for by `client`, and tells the bot there is
/// something to look for. 503 when the server holds all the challenges it may.
pub fn issue(app: &App, account: AccountId, client: IpAddr) -> Result<ChallengeData, ApiError> {
    let id = tokens::new_uuid();
    let code = tokens::new_challenge();
    let now = app.now_ms();
    let challenge = Challenge {
        account,
        code: code.clone(),
        expires_at: now.saturating_add(millis(app.config.challenge_ttl)),
        validated: false,
        requested_by: client_of(client),
    };
    let limits = &app.config.limits;
    let evicted = app
        .store
        .add_challenge(id, challenge, limits, now)
        .map_err(|full| {
            app.metrics.challenge_refused();
            log_sampled!(
                ChallengesFull,
                "challenge refused: {} held",
                limits.challenges
            );
            let retry_after_s = full.retry_after_ms.unsigned_abs().div_ceil(1000);
            ApiError::Busy(
                "too many challenges are pending; try again later".into(),
                retry_after_s,
            )
        })?;
    if evicted.is_some() {
        app.metrics.challenge_evicted();
        log_sampled!(
            ChallengeEvicted,
            "a challenge of account {account} was evicted: over {} pending",
            limits.pending_challenges_per_account
        );
    }
    // Counted, not logged: at thousands a second a line each would cost more than the
    // request. The bot logs each validation and the server each token issued.
    app.metrics.challenge_issued();
    app.bot.challenge_added();
    Ok(ChallengeData {
        bot_account_id: app.config.bot_account_id,
        challenge: code,
        id,
    })
}

/// Trades a validated challenge for a new token, waiting up to `wait` for the bot to
/// validate a pending one. The first look at a pending challenge asks the bot to read its
/// inbox soon: the client has probably just sent the message.
pub async fn complete(app: &App, id: Uuid, wait: Duration) -> Result<String, ApiError> {
    let deadline = Instant::now() + wait;
    // Subscribed before the first look, so a validation between the look and the wait
    // still wakes us.
    let mut validated = app.watch_validated();
    let mut shutdown = app.watch_shutdown();
    let mut hinted = false;
    loop {
        match app.store.complete_challenge(&id, app.now_ms()) {
            Completion::Missing => {
                return Err(ApiError::NotFound(format!(
                    "challenge {id} is unknown, expired or already used"
                )));
            }
            Completion::Consumed(account) => return Ok(issue_token(app, account)),
            Completion::Pending if !hinted => {
                app.bot.hint();
                hinted = true;
            }
            Completion::Pending => {}
        }
        tokio::select! {
            changed = validated.changed() => if changed.is_err() { break },
            _ = shutdown.changed() => {
                return Err(ApiError::Unavailable("the server is shutting down".into()));
            }
            _ = tokio::time::sleep_until(deadline) => break,
        }
    }
    Err(ApiError::Unauthorized(format!(
        "challenge {id} is pending: no matching GD message has been seen yet"
    )))
}

fn issue_token(app: &App, account: AccountId) -> String {
    let token = tokens::new_token();
    let expires_at = app.now_ms().saturating_add(millis(app.config.token_ttl));
    let grant = TokenGrant {
        account,
        expires_at,
        device: None,
    };
    app.store.add_token(TokenHash::of(&token), grant);
    app.metrics.token_issued();
    log_event!("token issued to account {account}");
    token
}

/// A duration as i64 milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
