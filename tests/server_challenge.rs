//! The challenge flow and tokens (protocol.md section 2) against the real server over
//! loopback, with the embedded emulator as GD.

mod server_support;

use dashauth::gd;
use dashauth::http::Http;
use dashauth::protocol::{self, Uuid};
use server_support::{Api, Player, bearer, login, start_server};
use std::time::Duration;

#[test]
fn login_gives_a_token_that_whoami_accepts() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 4001);
    let token = login(&api, &server, &player);
    assert_eq!(token.len(), 43, "32 bytes base64url without padding");
    let me = api.get("whoami", Some(&bearer(&token))).expect(200);
    assert_eq!(me.data["account_id"], 4001);
    let expires_at = me.data["expires_at"].as_i64().unwrap_or_default();
    let in_30_days = dashauth::clock::now_ms() + 30 * 24 * 3600 * 1000;
    assert!((expires_at - in_30_days).abs() < 60_000, "{expires_at}");
}

/// What the public C++ client does: gameVersion 21 / binaryVersion 35 upload of
/// `auth-{challenge}`, then one `challenge_complete` call without `wait_ms`.
#[test]
fn cpp_client_flow_with_a_single_complete_call_gets_a_token() {
    let server = start_server(|c| c.poll_interval = Duration::from_millis(2000));
    let api = Api::new(&server);
    let challenge = api.get("request_challenge/4002", None).expect(200);
    let form = gd::form_encode(&[
        ("accountID", "4002"),
        ("gjp2", "0123456789abcdef0123456789abcdef01234567"),
        ("toAccountID", &challenge.data["bot_account_id"].to_string()),
        (
            "subject",
            &gd::encode_subject(&format!("auth-{}", challenge.field("challenge"))),
        ),
        ("body", &gd::encode_body("DashAuth verification")),
        ("secret", gd::SECRET),
        ("gameVersion", "21"),
        ("binaryVersion", "35"),
    ]);
    let url = format!("{}/uploadGJMessage20.php", server.gd_url());
    let sent = Http::new(Duration::from_secs(5)).post_form(&url, &form);
    assert_eq!(sent.map(|r| r.body).ok().as_deref(), Some("1"));
    // Even with real-GD polling (2 s), the call pulls the fetch forward and long-polls.
    let token = api
        .get(
            &format!("challenge_complete/{}", challenge.field("id")),
            None,
        )
        .expect(200)
        .text();
    assert_eq!(
        api.get("whoami", Some(&bearer(&token))).expect(200).data["account_id"],
        4002
    );
}

#[test]
fn challenge_follows_the_protocol_shape() {
    let server = start_server(|_| {});
    let reply = Api::new(&server)
        .get("request_challenge/2147483647", None)
        .expect(200);
    assert_eq!(reply.data["bot_account_id"], server.bot_account_id());
    assert!(protocol::is_valid_challenge(&reply.field("challenge")));
    let id = reply.field("id");
    let parsed: Uuid = id.parse().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.to_string(), id, "lowercase, hyphenated");
    assert_eq!(&id[14..15], "4", "version 4");
}

#[test]
fn challenge_subject_fits_gd_subject_limit() {
    let server = start_server(|_| {});
    let challenge = Api::new(&server).challenge(4003).1;
    let subject = protocol::challenge_subject(&challenge);
    assert!(
        subject.chars().count() <= gd::MAX_SUBJECT_CHARS,
        "{subject:?} is longer than GD's {} characters",
        gd::MAX_SUBJECT_CHARS
    );
}

#[test]
fn invalid_account_ids_are_400() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    for bad in ["0", "-1", "abc", "2147483648", "1e3", "%20"] {
        api.get(&format!("request_challenge/{bad}"), None)
            .expect(400);
    }
}

#[test]
fn malformed_challenge_id_is_400_and_unknown_is_404() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.complete("not-a-uuid", 0).expect(400);
    api.complete("0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c", 0)
        .expect(404);
    let (id, _) = api.challenge(4003);
    api.get(&format!("challenge_complete/{id}?wait_ms=soon"), None)
        .expect(400);
}

#[test]
fn pending_challenge_is_401_after_the_wait() {
    let server = start_server(|c| c.complete_wait = Duration::from_millis(200));
    let api = Api::new(&server);
    let (id, _) = api.challenge(4004);
    let reply = api.complete(&id, 0).expect(401);
    assert!(reply.message.contains("pending"), "{}", reply.message);
    // The default wait applies without wait_ms.
    api.get(&format!("challenge_complete/{id}"), None)
        .expect(401);
}

#[test]
fn message_from_another_account_never_validates() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let (victim, attacker) = (Player::new(&server, 4005), Player::new(&server, 4006));
    let (id, challenge) = api.challenge(victim.account_id);
    let subject = protocol::challenge_subject(&challenge);
    attacker.send_until_accepted(server.bot_account_id(), &subject);
    server_support::eventually("the bot to read the spoofed message", || {
        server
            .metrics()
            .emulator_count(gd::endpoint::DELETE_MESSAGES)
            > 0
    });
    api.complete(&id, 300).expect(401);
    victim.send_until_accepted(server.bot_account_id(), &subject);
    let token = server_support::wait_for_token(&api, &id);
    assert_eq!(
        api.get("whoami", Some(&bearer(&token))).expect(200).data["account_id"],
        4005
    );
}

#[test]
fn only_the_exact_subject_validates() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 4007);
    let (id, challenge) = api.challenge(player.account_id);
    for wrong in [
        challenge.clone(),
        format!("Auth-{challenge}"),
        format!("auth-{challenge} "),
        format!("auth-{}", challenge.to_lowercase()),
        format!("auth-{}", &challenge[1..]),
    ] {
        if wrong != protocol::challenge_subject(&challenge) {
            player.send_until_accepted(server.bot_account_id(), &wrong);
        }
    }
    server_support::eventually("the bot to empty its inbox", || {
        server
            .metrics()
            .emulator_count(gd::endpoint::DELETE_MESSAGES)
            > 0
    });
    api.complete(&id, 300).expect(401);
}

#[test]
fn expired_challenge_is_404_and_never_validated() {
    let server = start_server(|c| c.challenge_ttl = Duration::from_millis(500));
    let api = Api::new(&server);
    let player = Player::new(&server, 4008);
    let (id, challenge) = api.challenge(player.account_id);
    std::thread::sleep(Duration::from_millis(700));
    player.send_until_accepted(
        server.bot_account_id(),
        &protocol::challenge_subject(&challenge),
    );
    api.complete(&id, 500).expect(404);
    assert_eq!(server.metrics().challenges_validated, 0);
}

#[test]
fn consumed_challenge_is_404() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 4009);
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(
        server.bot_account_id(),
        &protocol::challenge_subject(&challenge),
    );
    server_support::wait_for_token(&api, &id);
    api.complete(&id, 0).expect(404);
}

#[test]
fn earlier_challenges_stay_valid_after_a_new_one() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 4010);
    let (first_id, first) = api.challenge(player.account_id);
    let (second_id, _) = api.challenge(player.account_id);
    player.send_until_accepted(
        server.bot_account_id(),
        &protocol::challenge_subject(&first),
    );
    server_support::wait_for_token(&api, &first_id);
    api.complete(&second_id, 0).expect(401);
}

#[test]
fn revoked_token_is_refused_and_cannot_be_revoked_twice() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 4011));
    api.post("token/revoke", Some(&bearer(&token)), None)
        .expect(200);
    api.get("whoami", Some(&bearer(&token))).expect(401);
    api.post("token/revoke", Some(&bearer(&token)), None)
        .expect(401);
}

#[test]
fn whoami_needs_a_known_bearer_token() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    api.get("whoami", None).expect(401);
    api.get("whoami", Some("Bearer ")).expect(401);
    api.get(
        "whoami",
        Some(&bearer("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
    )
    .expect(401);
    api.get("whoami", Some("Basic dXNlcjpwYXNz")).expect(401);
}

#[test]
fn token_expires_after_its_ttl() {
    let server = start_server(|c| c.token_ttl = Duration::from_millis(600));
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 4012));
    std::thread::sleep(Duration::from_millis(700));
    api.get("whoami", Some(&bearer(&token))).expect(401);
}

#[test]
fn a_flood_of_challenges_evicts_the_oldest_and_never_locks_the_owner_out() {
    let server = start_server(|c| c.limits.pending_challenges_per_account = 3);
    let api = Api::new(&server);
    let player = Player::new(&server, 4101);
    let (first, _) = api.challenge(player.account_id);
    let flood: Vec<String> = (0..3).map(|_| api.challenge(player.account_id).0).collect();
    api.complete(&first, 0).expect(404);
    for id in &flood {
        api.complete(id, 0).expect(401);
    }
    let token = login(&api, &server, &player);
    api.get("whoami", Some(&bearer(&token))).expect(200);
}

#[test]
fn challenges_beyond_the_global_cap_are_503_with_retry_after() {
    let server = start_server(|c| c.limits.challenges = 3);
    let api = Api::new(&server);
    for account in 4201..4204 {
        api.challenge(account);
    }
    let reply = api.get("request_challenge/4204", None).expect(503);
    assert!(!reply.message.is_empty());
    let ttl = 300;
    assert!(
        reply.retry_after.is_some_and(|s| (1..=ttl).contains(&s)),
        "{reply:?}"
    );
}

/// `request_challenge` as the client at `forwarded_for` (the server trusts the header).
fn challenge_as(server: &dashauth::server::ServerHandle, account: u32, ip: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let body = agent
        .get(format!("{}/request_challenge/{account}", server.base_url()))
        .header("X-Forwarded-For", ip)
        .call()
        .and_then(|mut r| r.body_mut().read_to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}"));
    reply["data"]["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_strangers_flood_evicts_its_own_challenges_before_the_owners() {
    let server = start_server(|c| {
        c.limits.pending_challenges_per_account = 3;
        c.trust_forwarded_for = true;
    });
    let api = Api::new(&server);
    let owner = challenge_as(&server, 4301, "10.0.0.2");
    let flood: Vec<String> = (0..6)
        .map(|_| challenge_as(&server, 4301, "10.0.0.1"))
        .collect();
    api.complete(&owner, 0).expect(401);
    api.complete(&flood[0], 0).expect(404);
    api.complete(&flood[5], 0).expect(401);
}
