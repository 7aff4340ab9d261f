//! Server limits and error shapes (protocol.md sections 1 and 5): JSON envelopes on
//! every error, 404/405/413, 429 with Retry-After per IP and per account, and shutdown.

mod server_support;

use dashauth::clock::now_ms;
use dashauth::http::Method;
use dashauth::server::ServerHandle;
use server_support::{
    Api, Player, Registered, Reply, bearer, device_key, enroll_key, handshake_body, login, nonce,
    start_server,
};
use std::time::Duration;

/// A raw request with an optional `X-Forwarded-For`, for the proxy cases.
fn challenge_from(server: &ServerHandle, account: u32, forwarded_for: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(format!("{}/request_challenge/{account}", server.base_url()));
    if let Some(ip) = forwarded_for {
        request = request.header("X-Forwarded-For", ip);
    }
    request
        .call()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[track_caller]
fn expect_429(reply: Reply) {
    let reply = reply.expect(429);
    assert!(
        reply.retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{reply:?}"
    );
}

#[test]
fn unknown_routes_are_json_404() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.get("nope", None).expect(404);
    api.get("request_challenge", None).expect(404);
    api.get("request_challenge/5/extra", None).expect(404);
    api.post("database/notAnEndpoint.php", None, None)
        .expect(404);
    api.post("nope", None, None).expect(404);
}

#[test]
fn wrong_methods_are_json_405() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.post("whoami", None, None).expect(405);
    api.get("token/revoke", None).expect(405);
    api.call(Method::Delete, "request_challenge/5", None, None)
        .expect(405);
    api.get("client/devices/0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c", None)
        .expect(405);
}

#[test]
fn bodies_over_64_kib_are_413() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 8001));
    let mut body = handshake_body(&device_key(), "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c");
    body["name"] = serde_json::Value::String("x".repeat(70 * 1024));
    api.post("client/auth/handshake", None, Some(&body))
        .expect(413);
    api.post("token/revoke", Some(&bearer(&token)), Some(&body))
        .expect(413);
    // The token survived: the oversized revoke never ran.
    api.get("whoami", Some(&bearer(&token))).expect(200);
}

#[test]
fn malformed_json_is_400_in_the_envelope() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let reply = api
        .http_raw_post("client/auth/handshake", None, "{not json")
        .expect(400);
    assert!(!reply.message.is_empty());
}

#[test]
fn emulator_mode_has_no_rate_limit_by_default() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    for _ in 0..40 {
        api.get("request_challenge/8003", None).expect(200);
    }
}

#[test]
fn request_challenge_is_limited_per_ip_and_per_account() {
    let server = start_server(|c| c.rate_limit_per_minute = 6);
    let api = Api::new(&server);
    // Two per account per minute (a third of the IP rate)…
    api.get("request_challenge/8101", None).expect(200);
    api.get("request_challenge/8101", None).expect(200);
    expect_429(api.get("request_challenge/8101", None));
    // …and six per IP, whatever the account.
    for account in [8102, 8103, 8104] {
        api.get(&format!("request_challenge/{account}"), None)
            .expect(200);
    }
    expect_429(api.get("request_challenge/8105", None));
    assert!(server.metrics().rate_limited >= 2);
}

#[test]
fn challenge_complete_is_limited_per_ip() {
    let server = start_server(|c| c.rate_limit_per_minute = 3);
    let api = Api::new(&server);
    let (id, _) = api.challenge(8201);
    for _ in 0..6 {
        api.complete(&id, 0).expect(401);
    }
    expect_429(api.complete(&id, 0));
}

#[test]
fn failed_nonce_checks_are_limited_per_ip() {
    let server = start_server(|c| c.rate_limit_per_minute = 3);
    let api = Api::new(&server);
    // Enrolled without a login: the challenge limit is 3 too.
    let player = Player::new(&server, 8301);
    let Registered { device, key, .. } = enroll_key(&api, &server, &player, device_key(), "");
    // Successes do not count. Distinct timestamps from one base: `now_ms() - offset`
    // repeats itself whenever a request takes exactly a millisecond.
    let base = now_ms();
    for offset in 0..5 {
        api.get("client/me", Some(&nonce(&device, &key, base - offset)))
            .expect(200);
    }
    let stale = nonce(&device, &key, now_ms() - 120_000);
    for _ in 0..3 {
        api.get("client/me", Some(&stale)).expect(401);
    }
    expect_429(api.get("client/me", Some(&stale)));
    expect_429(api.get("client/me", Some(&nonce(&device, &key, now_ms()))));
}

#[test]
fn forwarded_for_is_the_client_ip_only_when_trusted() {
    let trusting = start_server(|c| {
        c.rate_limit_per_minute = 3;
        c.trust_forwarded_for = true;
    });
    for account in 8401..8404 {
        assert_eq!(challenge_from(&trusting, account, Some("10.0.0.1")), 200);
    }
    assert_eq!(challenge_from(&trusting, 8404, Some("10.0.0.1")), 429);
    assert_eq!(
        challenge_from(&trusting, 8405, Some("203.0.113.9, 10.0.0.2")),
        200
    );

    let wary = start_server(|c| c.rate_limit_per_minute = 3);
    for (account, ip) in [(8501, "10.0.0.1"), (8502, "10.0.0.2"), (8503, "10.0.0.3")] {
        assert_eq!(challenge_from(&wary, account, Some(ip)), 200);
    }
    assert_eq!(
        challenge_from(&wary, 8504, Some("10.0.0.4")),
        429,
        "header ignored"
    );
}

#[test]
fn strangers_cannot_use_up_an_accounts_challenge_limit() {
    let server = start_server(|c| {
        c.rate_limit_per_minute = 6; // two per account and address
        c.trust_forwarded_for = true;
    });
    let victim = 8801;
    assert_eq!(challenge_from(&server, victim, Some("10.0.0.1")), 200);
    assert_eq!(challenge_from(&server, victim, Some("10.0.0.1")), 200);
    assert_eq!(challenge_from(&server, victim, Some("10.0.0.1")), 429);
    assert_eq!(
        challenge_from(&server, victim, Some("10.0.0.2")),
        200,
        "the owner, elsewhere"
    );
}

#[test]
fn ipv6_clients_are_limited_by_their_64() {
    let server = start_server(|c| {
        c.rate_limit_per_minute = 3;
        c.trust_forwarded_for = true;
    });
    for (account, ip) in [
        (8901, "2001:db8:1:2::1"),
        (8902, "2001:db8:1:2::2"),
        (8903, "2001:db8:1:2:ffff::3"),
    ] {
        assert_eq!(challenge_from(&server, account, Some(ip)), 200, "{ip}");
    }
    assert_eq!(
        challenge_from(&server, 8904, Some("2001:db8:1:2::4")),
        429,
        "same /64"
    );
    assert_eq!(
        challenge_from(&server, 8905, Some("2001:db8:1:3::1")),
        200,
        "next /64"
    );
}

#[test]
fn forwarded_for_entries_with_a_port_are_the_client_ip() {
    let server = start_server(|c| {
        c.rate_limit_per_minute = 3;
        c.trust_forwarded_for = true;
    });
    for (account, ip) in [(8701, "10.0.0.1:5678"), (8702, "10.0.0.1:5679")] {
        assert_eq!(challenge_from(&server, account, Some(ip)), 200);
    }
    assert_eq!(challenge_from(&server, 8703, Some("10.0.0.1")), 200);
    assert_eq!(
        challenge_from(&server, 8704, Some("10.0.0.1:1")),
        429,
        "same client"
    );
    for (account, ip) in [(8705, "10.0.0.2:5678"), (8706, "[2001:db8::1]:443")] {
        assert_eq!(challenge_from(&server, account, Some(ip)), 200, "{ip}");
    }
}

#[test]
fn long_poll_ends_promptly_at_shutdown_and_the_port_closes() {
    let server = start_server(|_| {});
    let addr = server.addr();
    let api = Api::new(&server);
    let (id, _) = api.challenge(8601);
    let poll = std::thread::spawn(move || api.complete(&id, 10_000).status);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    server.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited for the poll"
    );
    assert_eq!(poll.join().ok(), Some(503));
    assert!(std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err());
}

#[test]
fn introspection_and_exchange_share_a_per_ip_budget_of_ten_times_the_base() {
    let server = start_server(|c| c.rate_limit_per_minute = 1);
    let http = dashauth::http::Http::new(Duration::from_secs(10));
    let url = format!("{}/introspect", server.base_url());
    let body = r#"{"token": "not a token"}"#;
    let introspect = || {
        http.send(Method::Post, &url, None, Some(("application/json", body)))
            .unwrap_or_else(|e| panic!("{e}"))
    };
    for _ in 0..10 {
        let reply = introspect();
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, r#"{"active":false}"#)
        );
    }
    let refused = introspect();
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert!(refused.retry_after_s.is_some_and(|s| s >= 1));
    // token/exchange draws on the same budget.
    let api = Api::new(&server);
    let exchange = api.post(
        "token/exchange",
        Some("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Some(&serde_json::json!({"audience": "me.mymod"})),
    );
    expect_429(exchange);
}
