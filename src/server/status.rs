//! `GET /status` (protocol.md section 3, "Several bot accounts"): the server's version
//! and each bot's health, so an operator sees at a glance which bot GD shuts out and
//! why. No secret and no player account id: bot account ids are public already.

use super::app::App;
use super::bots::BotStatus;
use super::reply::{ApiResult, ok};
use axum::extract::State;
use serde::Serialize;
use std::sync::Arc;

/// The body of `/status`.
#[derive(Debug, Serialize)]
struct Status {
    version: &'static str,
    bots: Vec<BotStatus>,
}

/// The route handler.
pub async fn status(State(app): State<Arc<App>>) -> ApiResult {
    ok(Status {
        version: env!("CARGO_PKG_VERSION"),
        bots: app.bots.status(&app.store, app.now_ms()).await?,
    })
}
