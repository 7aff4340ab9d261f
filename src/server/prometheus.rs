//! `GET /metrics`: the counters, the pending-challenge gauge and the latency histograms in
//! the Prometheus text exposition format 0.0.4. Hand-written: a few dozen lines do not
//! justify a dependency. Labels are fixed sets (endpoints, outcomes, reasons) or route
//! templates: never an account id, a token or a raw path.

use super::app::App;
use super::bots::BotStatus;
use super::latency::{BUCKETS, HistogramSnapshot};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::Arc;

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The route handler.
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let pending = app.store.pending_challenge_count(app.now_ms()).await.ok();
    let bots = app.bots.status(&app.store, app.now_ms()).await.ok();
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&app, pending, bots.as_deref()),
    )
}

/// Writes `# HELP` and `# TYPE` lines.
fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped, as the format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

/// The whole exposition; `pending` is left out when the database could not give it,
/// rather than reported as 0.
pub fn render(app: &App, pending: Option<u64>, bots: Option<&[BotStatus]>) -> String {
    let m = app.metrics.snapshot();
    let mut out = String::with_capacity(8 * 1024);
    family(
        &mut out,
        "dashauth_gd_requests_total",
        "counter",
        "GD requests made by each bot account, by endpoint and outcome (ok, bad_credentials, \
         rejected, cdn_blocked, rate_limited, blacklisted, html_page, unavailable, malformed, \
         network).",
    );
    for (bot, endpoint, outcome, n) in &m.bot_gd_requests_by_bot {
        let _ = writeln!(
            out,
            "dashauth_gd_requests_total{{bot=\"{bot}\",endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} {n}"
        );
    }
    render_bots(&mut out, bots);
    family(
        &mut out,
        "dashauth_emulator_requests_total",
        "counter",
        "Requests the embedded GD emulator received, by endpoint (0 with real GD).",
    );
    for (endpoint, n) in &m.emulator_requests {
        let _ = writeln!(
            out,
            "dashauth_emulator_requests_total{{endpoint=\"{endpoint}\"}} {n}"
        );
    }
    counter(
        &mut out,
        "dashauth_emulator_faults_total",
        "Faults the embedded GD emulator injected.",
        m.emulator_faults,
    );
    counter(
        &mut out,
        "dashauth_challenges_issued_total",
        "Challenges handed out by request_challenge.",
        m.challenges_issued,
    );
    counter(
        &mut out,
        "dashauth_challenges_validated_total",
        "Challenges the bot validated from its inbox.",
        m.challenges_validated,
    );
    counter(
        &mut out,
        "dashauth_challenges_expired_total",
        "Challenges that expired unvalidated.",
        m.challenges_expired,
    );
    counter(
        &mut out,
        "dashauth_tokens_issued_total",
        "Login tokens handed out for validated challenges.",
        m.tokens_issued,
    );
    counter(
        &mut out,
        "dashauth_session_tokens_issued_total",
        "Device session tokens handed out.",
        m.session_tokens_issued,
    );
    family(
        &mut out,
        "dashauth_nonce_rejections_total",
        "counter",
        "Refused device nonces, by reason.",
    );
    for (reason, n) in &m.nonce_rejections {
        let _ = writeln!(
            out,
            "dashauth_nonce_rejections_total{{reason=\"{reason}\"}} {n}"
        );
    }
    counter(
        &mut out,
        "dashauth_challenges_evicted_total",
        "Pending challenges evicted to make room for newer ones.",
        m.challenges_evicted,
    );
    counter(
        &mut out,
        "dashauth_challenges_refused_full_total",
        "Challenges refused because the server held all it may.",
        m.challenges_refused_full,
    );
    counter(
        &mut out,
        "dashauth_rate_limited_total",
        "Requests answered 429.",
        m.rate_limited,
    );
    counter(
        &mut out,
        "dashauth_connections_refused_total",
        "Connections closed at once because their address held its share.",
        m.connections_refused,
    );
    family(
        &mut out,
        "dashauth_pending_challenges",
        "gauge",
        "Challenges the bot is looking for now.",
    );
    if let Some(pending) = pending {
        let _ = writeln!(out, "dashauth_pending_challenges {pending}");
    }
    render_latency(&mut out, &app.latency.snapshot());
    out
}

/// Per-bot gauges: health, pending challenges, last success. Bot account ids are public
/// (every challenge names one), so they are fine as labels.
fn render_bots(out: &mut String, bots: Option<&[BotStatus]>) {
    let Some(bots) = bots else {
        return;
    };
    family(
        out,
        "dashauth_bot_healthy",
        "gauge",
        "1 while new challenges may go to the bot, 0 while its requests fail in a way \
         waiting does not fix (bad credentials, CDN block).",
    );
    for b in bots {
        let _ = writeln!(
            out,
            "dashauth_bot_healthy{{bot=\"{}\"}} {}",
            b.account_id,
            u8::from(b.healthy)
        );
    }
    family(
        out,
        "dashauth_bot_pending_challenges",
        "gauge",
        "Unvalidated challenges assigned to the bot.",
    );
    for b in bots {
        let _ = writeln!(
            out,
            "dashauth_bot_pending_challenges{{bot=\"{}\"}} {}",
            b.account_id, b.pending
        );
    }
    family(
        out,
        "dashauth_bot_last_success_timestamp_seconds",
        "gauge",
        "When a GD request of the bot last succeeded (UNIX seconds; 0 = never).",
    );
    for b in bots {
        let at = b.last_success_at.unwrap_or(0) as f64 / 1000.0;
        let _ = writeln!(
            out,
            "dashauth_bot_last_success_timestamp_seconds{{bot=\"{}\"}} {at}",
            b.account_id
        );
    }
}

fn render_latency(out: &mut String, series: &[(String, HistogramSnapshot)]) {
    const NAME: &str = "dashauth_http_request_duration_seconds";
    family(
        out,
        NAME,
        "histogram",
        "Time from request to response head, by matched route template.",
    );
    for (route, h) in series {
        let route = escape(route);
        for (le, n) in BUCKETS.iter().zip(&h.cumulative) {
            let _ = writeln!(out, "{NAME}_bucket{{route=\"{route}\",le=\"{le}\"}} {n}");
        }
        let count = h.count();
        let _ = writeln!(
            out,
            "{NAME}_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "{NAME}_sum{{route=\"{route}\"}} {}", h.sum_seconds);
        let _ = writeln!(out, "{NAME}_count{{route=\"{route}\"}} {count}");
    }
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
