//! Device enrolment by GD proof, nonces, sessions, rotation and revocation (protocol.md section 4)
//! against the real server over loopback.

mod server_support;

use dashauth::clock::now_ms;
use dashauth::keys::{DeviceKey, KeyType};
use dashauth::protocol::{self, NonceRejection};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;
use server_support::{
    Api, Player, Registered, Reply, bearer, device_key, enroll, enroll_key, handshake_body, login,
    nonce, post_handshake, register, sent_challenge, start_server,
};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// An EC key on a curve devices may not use.
const P384_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEpiKWyIucgphS9J1ybB4RW7vtu/4CSKkx
x+0TsYWEP7vwTBUi6VcpNrm8xkSf9EA632TJOSzeFF2jtt03SgkagZAFKNphzVt/
xnnpCGbNnw1j2W7VHdRqh58uTmJqWcZ0
-----END PUBLIC KEY-----
";

#[track_caller]
fn expect_rejection(reply: Reply, reason: NonceRejection) {
    let reply = reply.expect(401);
    assert!(
        reply.message.starts_with(reason.code()),
        "expected {}: {}",
        reason.code(),
        reply.message
    );
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dashauth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn openssl(args: &[&str]) -> Option<String> {
    let output = Command::new("openssl").args(args).output().ok()?;
    Some(
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr),
    )
}

#[test]
fn every_key_type_enrolls_with_a_certificate_openssl_accepts_and_signs_nonces() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 5001);
    let token = login(&api, &server, &player);
    for key_type in [KeyType::Rsa, KeyType::P256, KeyType::Ed25519] {
        let key = DeviceKey::generate_type(key_type).unwrap_or_else(|e| panic!("{e}"));
        let device = enroll_key(&api, &server, &player, key, &token);
        check_certificate(&server, &device);
        let me = api.get("client/me", Some(&device.nonce_now())).expect(200);
        assert_eq!(me.field("device_id"), device.device, "{key_type}");
        assert_eq!(device.certificate.data["account_id"], 5001);
        let session = device.session_token();
        let whoami = api.get("whoami", Some(&bearer(&session))).expect(200);
        assert_eq!(whoami.data["account_id"], 5001, "{key_type}");
    }
}

fn check_certificate(server: &dashauth::server::ServerHandle, device: &Registered) {
    let cert = &device.certificate;
    assert_eq!(cert.field("ca_certificate"), server.ca_certificate_pem());
    let in_a_year = now_ms() + 365 * 24 * 3600 * 1000;
    let expires_at = cert.data["expires_at"].as_i64().unwrap_or_default();
    assert!((expires_at - in_a_year).abs() < 60_000, "{expires_at}");

    let dir = scratch_dir(&format!("openssl-{}", device.key.key_type()));
    let (ca, leaf) = (dir.join("ca.pem"), dir.join("device.pem"));
    std::fs::write(&ca, cert.field("ca_certificate")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&leaf, cert.field("certificate")).unwrap_or_else(|e| panic!("{e}"));
    let (ca, leaf) = (ca.to_string_lossy(), leaf.to_string_lossy());
    let Some(verdict) = openssl(&["verify", "-x509_strict", "-CAfile", &ca, &leaf]) else {
        eprintln!("note: openssl is not on PATH; certificate check skipped");
        return;
    };
    assert!(verdict.contains(": OK"), "{verdict}");
    let subject = openssl(&["x509", "-noout", "-subject", "-in", &leaf]).unwrap_or_default();
    assert!(
        subject.contains(&format!("CN = {}", device.device)),
        "{subject}"
    );
    let public = openssl(&["x509", "-noout", "-pubkey", "-in", &leaf]).unwrap_or_default();
    let ours = device.key.public_pem().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        public.trim(),
        ours.trim(),
        "certificate is for the device's own key"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn handshake_refuses_bad_keys_proofs_and_fields_without_using_up_the_challenge() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 5002);
    let challenge = sent_challenge(&api, &server, &player);
    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024)
        .map_err(|e| e.to_string())
        .and_then(|k| {
            let public = k.to_public_key();
            public
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let key = device_key();
    let good = handshake_body(&key, &challenge);
    let with = |field: &str, value: serde_json::Value| {
        let mut body = good.clone();
        body[field] = value;
        body
    };
    let other_proof = handshake_body(&device_key(), &challenge)["proof"].clone();
    let cases = [
        (with("public_key", json!(small)), "bits"),
        (with("public_key", json!(P384_PUBLIC_KEY)), "not supported"),
        (with("public_key", json!("not a key")), "SPKI"),
        (with("proof", json!(null)), "proof of possession failed"),
        (with("proof", other_proof), "proof of possession failed"),
        (
            with("proof", json!("not base64!")),
            "proof of possession failed",
        ),
        (with("name", json!("n".repeat(65))), "name"),
        (with("platform", json!("p".repeat(33))), "platform"),
        (with("challenge_id", json!("not-a-uuid")), ""),
        (json!(["not", "an", "object"]), ""),
    ];
    for (body, reason) in cases {
        let reply = api
            .post("client/auth/handshake", None, Some(&body))
            .expect(400);
        assert!(
            reply.message.contains(reason),
            "{reason}: {}",
            reply.message
        );
    }
    // Nothing above used the challenge up: the longest name and platform enrol with it.
    let mut longest = with("name", json!("é".repeat(64)));
    longest["platform"] = json!("p".repeat(32));
    post_handshake(&api, &longest).expect(200);
    // Consumed: neither a second handshake nor challenge_complete can use it again.
    api.post("client/auth/handshake", None, Some(&good))
        .expect(404);
    api.complete(&challenge, 0).expect(404);
}

#[test]
fn bearer_token_enrolment_is_refused_with_403() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 5014));
    let key = device_key().public_pem().unwrap_or_else(|e| panic!("{e}"));
    let old_form = json!({"public_key": key, "name": "pc", "platform": "linux"});
    let refused = api
        .post(
            "client/auth/handshake",
            Some(&bearer(&token)),
            Some(&old_form),
        )
        .expect(403);
    assert!(
        refused.message.starts_with("token_enrollment_disabled"),
        "{}",
        refused.message
    );
    assert!(
        refused.message.contains("GD message"),
        "{}",
        refused.message
    );
    // Without a token or a challenge: the challenge is what is missing.
    let reply = api
        .post("client/auth/handshake", None, Some(&old_form))
        .expect(400);
    assert!(reply.message.contains("challenge_id"), "{}", reply.message);
}

#[test]
fn handshake_long_polls_a_pending_challenge_and_refuses_an_unknown_one() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let (pending, _) = api.challenge(5015);
    let body = handshake_body(&device_key(), &pending);
    api.post("client/auth/handshake?wait_ms=0", None, Some(&body))
        .expect(401);
    let unknown = handshake_body(&device_key(), "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c");
    api.post("client/auth/handshake?wait_ms=0", None, Some(&unknown))
        .expect(404);
}
#[test]
fn nonce_authenticates_me_and_opens_a_session_usable_as_bearer() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5003);
    let me = api.get("client/me", Some(&device.nonce_now())).expect(200);
    assert_eq!(me.data["account_id"], 5003);
    assert_eq!(me.field("device_id"), device.device);

    let session = api
        .post("client/auth/session", Some(&device.nonce_now()), None)
        .expect(200);
    let session_token = session.field("session_token");
    let expires_at = session.data["expires_at"].as_i64().unwrap_or_default();
    assert!((expires_at - (now_ms() + 24 * 3600 * 1000)).abs() < 60_000);
    let whoami = api.get("whoami", Some(&bearer(&session_token))).expect(200);
    assert_eq!(whoami.data["account_id"], 5003);
    let me = api
        .get("client/me", Some(&bearer(&session_token)))
        .expect(200);
    assert_eq!(me.field("device_id"), device.device);
    // A login token belongs to no device.
    api.get("client/me", Some(&bearer(&device.token)))
        .expect(401);
}

#[test]
fn replayed_nonce_is_rejected() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5004);
    let header = device.nonce_now();
    api.get("client/me", Some(&header)).expect(200);
    expect_rejection(api.get("client/me", Some(&header)), NonceRejection::Replay);
    expect_rejection(
        api.post("client/auth/session", Some(&header), None),
        NonceRejection::Replay,
    );
    assert_eq!(
        server
            .metrics()
            .nonce_rejection_count(NonceRejection::Replay),
        2
    );
}

#[test]
fn nonce_a_minute_off_is_clock_skew_with_the_server_time() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5005);
    for offset in [-60_000, 60_000] {
        let reply = api.get(
            "client/me",
            Some(&nonce(&device.device, &device.key, now_ms() + offset)),
        );
        let message = reply.clone().expect(401).message;
        expect_rejection(reply, NonceRejection::ClockSkew);
        let server_time = protocol::parse_clock_skew(&message).flatten();
        let server_time = server_time.unwrap_or_else(|| panic!("no server time in {message}"));
        assert!((server_time - now_ms()).abs() < 5_000, "{message}");
    }
    // Inside the window is fine.
    api.get(
        "client/me",
        Some(&nonce(&device.device, &device.key, now_ms() - 20_000)),
    )
    .expect(200);
}

#[test]
fn server_clock_offset_shows_in_the_skew_message() {
    let server = start_server(|c| c.clock_offset_ms = 120_000);
    let api = Api::new(&server);
    let device = register(&api, &server, 5006);
    let message = api
        .get("client/me", Some(&device.nonce_now()))
        .expect(401)
        .message;
    let server_time = protocol::parse_clock_skew(&message)
        .flatten()
        .unwrap_or_default();
    assert!(
        (server_time - (now_ms() + 120_000)).abs() < 5_000,
        "{message}"
    );
    let corrected = nonce(&device.device, &device.key, server_time + 1);
    api.get("client/me", Some(&corrected)).expect(200);
}

#[test]
fn bad_signature_is_rejected() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5007);
    let other_key = device_key();
    let forged = nonce(&device.device, &other_key, now_ms());
    expect_rejection(
        api.get("client/me", Some(&forged)),
        NonceRejection::BadSignature,
    );
    let ts = now_ms();
    let garbage = format!("Nonce {} {ts} AAAA", device.device);
    expect_rejection(
        api.get("client/me", Some(&garbage)),
        NonceRejection::BadSignature,
    );
    // A signature over another timestamp does not transfer.
    let moved = format!(
        "Nonce {} {} {}",
        device.device,
        ts + 1,
        device.key.sign_nonce(ts).expect("signs")
    );
    expect_rejection(
        api.get("client/me", Some(&moved)),
        NonceRejection::BadSignature,
    );
}

#[test]
fn unknown_device_and_malformed_nonce_are_rejected() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let key = device_key();
    let stranger = nonce("0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c", &key, now_ms());
    expect_rejection(
        api.get("client/me", Some(&stranger)),
        NonceRejection::UnknownDevice,
    );
    expect_rejection(
        api.get("client/me", Some("Nonce garbage")),
        NonceRejection::Malformed,
    );
    api.post("client/auth/session", None, None).expect(401);
    api.post("client/auth/session", Some("Bearer x"), None)
        .expect(401);
}

#[test]
fn revoked_device_is_rejected_and_its_sessions_end() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5008);
    let session = api
        .post("client/auth/session", Some(&device.nonce_now()), None)
        .expect(200);
    let session_token = bearer(&session.field("session_token"));
    api.delete(
        &format!("client/devices/{}", device.device),
        Some(&bearer(&device.token)),
    )
    .expect(200);
    expect_rejection(
        api.get("client/me", Some(&device.nonce_now())),
        NonceRejection::RevokedDevice,
    );
    api.get("whoami", Some(&session_token)).expect(401);
    // The account's own login token is unaffected.
    api.get("whoami", Some(&bearer(&device.token))).expect(200);
}

#[test]
fn another_account_cannot_revoke_a_device() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5009);
    let intruder = login(&api, &server, &Player::new(&server, 5010));
    let route = format!("client/devices/{}", device.device);
    api.delete(&route, Some(&bearer(&intruder))).expect(404);
    api.delete(&route, None).expect(401);
    api.delete("client/devices/not-a-uuid", Some(&bearer(&intruder)))
        .expect(400);
    api.delete(
        "client/devices/0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c",
        Some(&bearer(&device.token)),
    )
    .expect(404);
    api.get("client/me", Some(&device.nonce_now())).expect(200);
}

#[test]
fn rotation_certifies_the_new_key_and_retires_the_old_one() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5011);
    let new_key = DeviceKey::generate_type(KeyType::P256).unwrap_or_else(|e| panic!("{e}"));
    let id = device.device.parse().unwrap_or_else(|e| panic!("{e}"));
    let proof = new_key
        .sign_base64(&dashauth::keys::rotation_proof_message(&id))
        .unwrap_or_else(|e| panic!("{e}"));
    let public_key = new_key.public_pem().unwrap_or_else(|e| panic!("{e}"));
    // Without the new key's proof, the rotation is refused and the old key still works.
    for proof in [
        json!(null),
        json!(
            device
                .key
                .sign_base64("dashauth-rotate:x")
                .unwrap_or_default()
        ),
    ] {
        let body = json!({"public_key": public_key, "proof": proof});
        let refused = api
            .post("client/auth/rotate", Some(&device.nonce_now()), Some(&body))
            .expect(400);
        assert!(
            refused.message.contains("proof of possession"),
            "{}",
            refused.message
        );
    }
    let body = json!({"public_key": public_key, "proof": proof});
    let rotated = api
        .post("client/auth/rotate", Some(&device.nonce_now()), Some(&body))
        .expect(200);
    assert_eq!(rotated.field("device_id"), device.device);
    assert_ne!(
        rotated.field("certificate"),
        device.certificate.field("certificate")
    );
    expect_rejection(
        api.get("client/me", Some(&device.nonce_now())),
        NonceRejection::BadSignature,
    );
    api.get(
        "client/me",
        Some(&nonce(&device.device, &new_key, now_ms())),
    )
    .expect(200);
    // Rotation is nonce-only, and refuses a bad key.
    api.post(
        "client/auth/rotate",
        Some(&bearer(&device.token)),
        Some(&body),
    )
    .expect(401);
    let bad = json!({"public_key": P384_PUBLIC_KEY, "proof": "AAAA"});
    let header = nonce(&device.device, &new_key, now_ms() + 1);
    api.post("client/auth/rotate", Some(&header), Some(&bad))
        .expect(400);
}

#[test]
fn expired_certificate_is_rejected() {
    let server = start_server(|c| c.certificate_validity = Duration::from_millis(1000));
    let api = Api::new(&server);
    let device = register(&api, &server, 5012);
    std::thread::sleep(Duration::from_millis(1100));
    expect_rejection(
        api.get("client/me", Some(&device.nonce_now())),
        NonceRejection::ExpiredCertificate,
    );
}

#[test]
fn ca_persists_in_the_store() {
    let dir = scratch_dir("ca");
    let first = start_server(|c| c.data_dir = Some(dir.clone()));
    let pem = first.ca_certificate_pem();
    first.shutdown();
    let second = start_server(|c| c.data_dir = Some(dir.clone()));
    assert_eq!(second.ca_certificate_pem(), pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The CA key lives in the database now.
        let mode = std::fs::metadata(dir.join("dashauth.sqlite3"))
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_default();
        assert_eq!(mode, 0o600, "the CA key is private to the server's user");
    }
    let device = register(&Api::new(&second), &second, 5013);
    assert_eq!(device.certificate.field("ca_certificate"), pem);
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn handshake_beyond_the_active_device_cap_is_429_until_one_is_revoked() {
    let server = start_server(|c| c.limits.devices_per_account = 2);
    let api = Api::new(&server);
    let player = Player::new(&server, 5101);
    let first = enroll(&api, &server, &player);
    let auth = bearer(&first.token);
    let handshake = || {
        let challenge = sent_challenge(&api, &server, &player);
        post_handshake(&api, &handshake_body(&device_key(), &challenge))
    };
    handshake().expect(200);
    let refused = handshake().expect(429);
    assert!(refused.message.contains("revoke"), "{}", refused.message);
    assert_eq!(refused.retry_after, None, "waiting does not help");
    api.delete(&format!("client/devices/{}", first.device), Some(&auth))
        .expect(200);
    handshake().expect(200);
}

#[test]
fn a_new_session_beyond_the_cap_ends_the_devices_oldest() {
    let server = start_server(|c| c.limits.sessions_per_device = 2);
    let api = Api::new(&server);
    let device = register(&api, &server, 5102);
    let base = now_ms();
    let sessions: Vec<String> = (0..3)
        .map(|n| {
            api.post(
                "client/auth/session",
                Some(&nonce(&device.device, &device.key, base - n)),
                None,
            )
            .expect(200)
            .field("session_token")
        })
        .collect();
    api.get("whoami", Some(&bearer(&sessions[0]))).expect(401);
    for session in &sessions[1..] {
        api.get("whoami", Some(&bearer(session))).expect(200);
    }
}

#[test]
fn device_routes_are_rate_limited_per_ip() {
    let server = start_server(|c| c.rate_limit_per_minute = 3);
    let api = Api::new(&server);
    // One challenge and one handshake (no login: the challenge limit is 3 too).
    let player = Player::new(&server, 5103);
    let device = enroll_key(&api, &server, &player, device_key(), "");
    let base = now_ms();
    for n in 0..2 {
        let auth = nonce(&device.device, &device.key, base - n);
        api.post("client/auth/session", Some(&auth), None)
            .expect(200);
    }
    let auth = nonce(&device.device, &device.key, base - 2);
    let reply = api
        .post("client/auth/session", Some(&auth), None)
        .expect(429);
    assert!(reply.retry_after.is_some(), "{reply:?}");
    let rotate = json!({ "public_key": device_key().public_pem().unwrap_or_default() });
    let auth = nonce(&device.device, &device.key, base - 3);
    api.post("client/auth/rotate", Some(&auth), Some(&rotate))
        .expect(429);
}
