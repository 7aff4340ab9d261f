//! The challenge flow (protocol.md section 2): handing out challenges and trading a
//! validated one for a token, with the long poll existing clients rely on.

use super::app::App;
use super::log::log_event;
use super::rate_limit::client_of;
use super::reply::ApiError;
use super::store::{Admission, Completion, NewChallenge, Verified};
use super::tokens::{self, TokenHash};
use crate::protocol::{AccountId, ChallengeData, Uuid};
use std::net::IpAddr;
use std::time::Duration;
use tokio::time::Instant;

/// Creates a challenge for `account`, asked for by `client`, and tells the bot there is
/// something to look for. 503 when the server holds all the challenges it may and the
/// asking client is the one holding the most.
pub async fn issue(
    app: &App,
    account: AccountId,
    client: IpAddr,
    audience: Option<String>,
) -> Result<ChallengeData, ApiError> {
    let now = app.now_ms();
    let bot = app.bots.assign(&app.store, now).await?;
    let challenge = NewChallenge {
        id: tokens::new_uuid(),
        account,
        code: tokens::new_challenge(),
        bot_account_id: bot,
        requested_by: client_of(client),
        audience,
        created_at: now,
        expires_at: now.saturating_add(millis(app.config.challenge_ttl)),
    };
    let limits = &app.config.limits;
    match app
        .store
        .add_challenge(challenge.clone(), limits, now)
        .await?
    {
        Admission::Added { evicted } => {
            if evicted > 0 {
                app.metrics.challenges_evicted(evicted);
            }
        }
        Admission::Full { retry_after_ms } => {
            app.metrics.challenges_refused_full();
            return Err(ApiError::Busy(
                "too many challenges are pending; try again later".into(),
                retry_after_ms.unsigned_abs().div_ceil(1000),
            ));
        }
    }
    // Counted, not logged: at thousands a second a line each would cost more than the
    // request, and attacker-driven events must not flood the log.
    app.metrics.challenge_issued();
    app.bots.challenge_added(bot);
    Ok(ChallengeData {
        bot_account_id: challenge.bot_account_id,
        challenge: challenge.code,
        id: challenge.id,
    })
}

/// Trades a validated challenge for a new token, waiting up to `wait` for the bot to
/// validate a pending one. The first look at a pending challenge asks the bot to read its
/// inbox soon: the client has probably just sent the message.
pub async fn complete(app: &App, id: Uuid, wait: Duration) -> Result<String, ApiError> {
    let token = tokens::new_token();
    let hash = TokenHash::of(&token);
    let verified = take(app, id, wait, Some(&hash)).await?;
    app.metrics.token_issued();
    log_event!("login token issued to account {}", verified.account);
    Ok(token)
}

/// Consumes a validated challenge as the GD proof of a device enrolment, waiting like
/// [`complete`]; no login token is issued.
pub async fn consume(app: &App, id: Uuid, wait: Duration) -> Result<Verified, ApiError> {
    take(app, id, wait, None).await
}

/// The long poll shared by [`complete`] and [`consume`]: 404 for a missing challenge,
/// 401 when it is still pending at the deadline.
async fn take(
    app: &App,
    id: Uuid,
    wait: Duration,
    token: Option<&TokenHash>,
) -> Result<Verified, ApiError> {
    let deadline = Instant::now() + wait;
    // Subscribed before the first look, so a validation between the look and the wait
    // still wakes us.
    let mut validated = app.watch_validated();
    let mut shutdown = app.watch_shutdown();
    let mut hinted = false;
    loop {
        let now = app.now_ms();
        let completion = match token {
            Some(hash) => {
                let expires_at = now.saturating_add(millis(app.config.token_ttl));
                app.store
                    .complete_challenge(&id, hash, expires_at, now)
                    .await?
            }
            None => app.store.consume_challenge(&id, now).await?,
        };
        match completion {
            Completion::Missing => {
                return Err(ApiError::NotFound(
                    "the challenge is unknown, expired or already used".into(),
                ));
            }
            Completion::Consumed(verified) => return Ok(verified),
            Completion::Pending if !hinted => {
                app.hint_bot().await;
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
    Err(ApiError::Pending {
        message: "the challenge is pending: no matching GD message has been seen yet".into(),
        next_check_ms: app.bots.next_check_ms(app.now_ms()),
    })
}

/// A duration as i64 milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
