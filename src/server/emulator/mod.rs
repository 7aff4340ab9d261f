//! The embedded GD emulator (protocol.md section 7): the message endpoints of section 6
//! and the settings, block-list and profile endpoints the client's diagnosis reads, at
//! `/database/*.php`, with accounts and messages in memory, and injected faults and
//! latency for tests of the unhappy paths. The bot reaches it over real HTTP, exactly as
//! it reaches GD, and GD clients (the library, a test player) can use it too.

mod faults;
mod social;
mod world;

pub use faults::Fault;

use super::limits::Limits;
use super::metrics::{GD_ENDPOINTS, Metrics, endpoint_index};
use super::reply::ApiError;
use crate::gd::{self, endpoint};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use faults::Faults;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use world::{World, millis};

/// What the emulator starts with.
#[derive(Debug, Clone)]
pub struct EmulatorSettings {
    /// The bot accounts `(account id, gjp2)`, created at start.
    pub bots: Vec<(u32, String)>,
    /// Share of requests that fail.
    pub fault_rate: f64,
    /// Which failures; the defaults when empty.
    pub fault_kinds: Vec<Fault>,
    /// Delay added to every request.
    pub latency: Duration,
    /// Caps on accounts and messages.
    pub limits: Limits,
    /// GD's sent-message limit, if any.
    pub outbox_limit: Option<usize>,
}

/// The emulator's state and fault settings.
#[derive(Debug)]
pub struct Emulator {
    world: Mutex<World>,
    faults: Faults,
    latency_ms: AtomicU64,
    metrics: Arc<Metrics>,
}

type Form = HashMap<String, String>;

impl Emulator {
    /// An emulator whose only accounts so far are the bots'.
    pub fn new(settings: &EmulatorSettings, metrics: Arc<Metrics>) -> Self {
        let bots: Vec<(u32, &str)> = settings
            .bots
            .iter()
            .map(|(id, gjp2)| (*id, gjp2.as_str()))
            .collect();
        Emulator {
            world: Mutex::new(World::new(&bots, settings.limits, settings.outbox_limit)),
            faults: Faults::new(settings.fault_rate, &settings.fault_kinds),
            latency_ms: AtomicU64::new(millis(settings.latency)),
            metrics,
        }
    }

    /// Changes the share of requests that fail, 0.0 ..= 1.0.
    pub fn set_fault_rate(&self, rate: f64) {
        self.faults.set_rate(rate);
    }

    /// Changes which failures are injected (the defaults when empty).
    pub fn set_fault_kinds(&self, kinds: &[Fault]) {
        self.faults.set_kinds(kinds);
    }

    /// Changes the delay added to every request.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(millis(latency), Ordering::Relaxed);
    }

    fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// The routes, at `/database/{endpoint}.php`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/database/{file}", post(handle))
            .with_state(self)
    }

    fn answer(&self, endpoint: &str, form: &Form) -> String {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        if endpoint == endpoint::GET_USER_INFO {
            // The one endpoint GD serves without the caller's credentials.
            return world.user_info(form).unwrap_or_else(|| "-1".into());
        }
        let Some(account) = world.authenticate(form) else {
            return "-1".into();
        };
        let result = match endpoint {
            endpoint::UPLOAD_MESSAGE => world.upload(account, form),
            endpoint::GET_MESSAGES => world.list(account, form),
            endpoint::DELETE_MESSAGES => world.delete(account, form),
            endpoint::DOWNLOAD_MESSAGE => world.download(account, form),
            endpoint::UPDATE_ACCOUNT_SETTINGS => world.update_settings(account, form),
            endpoint::BLOCK_USER => world.block(account, form),
            endpoint::UNBLOCK_USER => world.unblock(account, form),
            endpoint::GET_USER_LIST => world.user_list(account, form),
            _ => None,
        };
        result.unwrap_or_else(|| "-1".into())
    }
}

async fn handle(
    State(emulator): State<Arc<Emulator>>,
    Path(file): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Some(index) = endpoint_index(&file) else {
        return ApiError::NotFound("no such route".into()).into_response();
    };
    emulator.metrics.emulator_request(index);
    let latency = emulator.latency();
    if !latency.is_zero() {
        // An async sleep: a slow emulator must not hold a runtime thread.
        tokio::time::sleep(latency).await;
    }
    if let Some(fault) = emulator.faults.draw() {
        emulator.metrics.emulator_fault();
        return fault.response();
    }
    let Ok(body) = body else {
        return ApiError::PayloadTooLarge.into_response();
    };
    let form: Form = gd::form_decode(&String::from_utf8_lossy(&body))
        .into_iter()
        .rev() // so that the first occurrence of a repeated field wins
        .collect();
    let answer = emulator.answer(GD_ENDPOINTS[index], &form);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        answer,
    )
        .into_response()
}
