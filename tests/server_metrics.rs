//! `GET /metrics` (the Prometheus text format) against the real server over loopback:
//! the counters, the gauge and the latency histograms move with what the server did.

mod server_support;

use dashauth::clock::now_ms;
use dashauth::gd::endpoint;
use server_support::{Api, Player, Registered, handshake, login, nonce, start_server};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

/// The head and body of a raw HTTP/1.1 GET, so the test also sees the headers.
fn raw_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("sends");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("reads");
    let (head, body) = text.split_once("\r\n\r\n").expect("has a head");
    (head.to_string(), body.to_string())
}

/// Samples by `name{labels}` as written, after checking each line is well-formed.
fn parse(text: &str) -> HashMap<String, f64> {
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP ") || comment.starts_with("TYPE "),
                "stray comment {line:?}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "duplicate series {series}"
        );
    }
    samples
}

fn scrape(addr: SocketAddr) -> HashMap<String, f64> {
    let (head, body) = raw_get(addr, "/metrics");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    parse(&body)
}

#[track_caller]
fn value(samples: &HashMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no series {series} in {samples:#?}"))
}

#[test]
fn a_login_shows_in_the_counters_and_histograms() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let before = scrape(server.addr());
    assert_eq!(value(&before, "dashauth_challenges_issued_total"), 0.0);
    assert_eq!(value(&before, "dashauth_pending_challenges"), 0.0);

    let token = login(&api, &server, &Player::new(&server, 4242));
    let after = scrape(server.addr());
    assert_eq!(value(&after, "dashauth_challenges_issued_total"), 1.0);
    assert_eq!(value(&after, "dashauth_challenges_validated_total"), 1.0);
    assert_eq!(value(&after, "dashauth_challenges_expired_total"), 0.0);
    assert_eq!(value(&after, "dashauth_tokens_issued_total"), 1.0);
    assert_eq!(value(&after, "dashauth_session_tokens_issued_total"), 0.0);
    assert_eq!(value(&after, "dashauth_pending_challenges"), 0.0);
    let fetches = format!(
        "dashauth_gd_requests_total{{bot=\"{}\",endpoint=\"{}\",outcome=\"ok\"}}",
        server.bot_account_id(),
        endpoint::GET_MESSAGES
    );
    assert!(value(&after, &fetches) >= 1.0);
    assert_eq!(
        value(&after, &fetches),
        server.metrics().bot_count(endpoint::GET_MESSAGES) as f64
    );
    let uploads = format!(
        "dashauth_emulator_requests_total{{endpoint=\"{}\"}}",
        endpoint::UPLOAD_MESSAGE
    );
    assert!(value(&after, &uploads) >= 1.0);
    let bot = format!("{{bot=\"{}\"}}", server.bot_account_id());
    assert_eq!(value(&after, &format!("dashauth_bot_healthy{bot}")), 1.0);
    assert_eq!(
        value(&after, &format!("dashauth_bot_pending_challenges{bot}")),
        0.0
    );
    assert!(
        value(
            &after,
            &format!("dashauth_bot_last_success_timestamp_seconds{bot}")
        ) > 0.0
    );

    // One request_challenge, timed under its template, not its raw path.
    let h = "dashauth_http_request_duration_seconds";
    let route = "route=\"/request_challenge/{account_id}\"";
    assert_eq!(value(&after, &format!("{h}_count{{{route}}}")), 1.0);
    assert_eq!(
        value(&after, &format!("{h}_bucket{{{route},le=\"+Inf\"}}")),
        1.0
    );
    assert!(value(&after, &format!("{h}_sum{{{route}}}")) > 0.0);
    assert!(
        !after.keys().any(|k| k.contains("4242")),
        "account ids leak"
    );
    // The scrape before the login was timed too.
    assert_eq!(
        value(&after, &format!("{h}_count{{route=\"/metrics\"}}")),
        1.0
    );

    // A device session, then a replayed nonce.
    let Registered { device, key, .. } = handshake(&api, &token);
    let header = nonce(&device, &key, now_ms());
    api.post("client/auth/session", Some(&header), None)
        .expect(200);
    api.post("client/auth/session", Some(&header), None)
        .expect(401);
    let last = scrape(server.addr());
    assert_eq!(value(&last, "dashauth_session_tokens_issued_total"), 1.0);
    assert_eq!(value(&last, "dashauth_tokens_issued_total"), 1.0);
    assert_eq!(
        value(
            &last,
            "dashauth_nonce_rejections_total{reason=\"replayed_nonce\"}"
        ),
        1.0
    );
}

#[test]
fn unknown_paths_share_one_series() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.get("no/such/route/1", None).expect(404);
    api.get("no/such/route/2", None).expect(404);
    let samples = scrape(server.addr());
    let h = "dashauth_http_request_duration_seconds";
    assert_eq!(
        value(&samples, &format!("{h}_count{{route=\"unmatched\"}}")),
        2.0
    );
    assert!(!samples.keys().any(|k| k.contains("no/such")));
}

#[test]
fn a_pending_challenge_shows_in_the_gauge() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.challenge(77);
    let samples = scrape(server.addr());
    assert_eq!(value(&samples, "dashauth_pending_challenges"), 1.0);
}
