//! Device handshake, nonces, sessions, rotation and revocation (protocol.md section 4)
//! against the real server over loopback.

mod server_support;

use dashauth::clock::now_ms;
use dashauth::protocol::{self, NonceRejection};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use serde_json::json;
use server_support::{
    Api, Player, Reply, bearer, device_key, handshake_body, login, nonce, register, start_server,
};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const EC_P256_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaHf+wlD2hxr30hkoQEbkTVDq8vYf
c8iJRRVPN9Dfhsizpo9ArLAJMGaLFfZBXeWLQvlQh8ChqDdRgMCLNWY8HQ==
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
fn handshake_certificate_verifies_with_openssl_and_names_the_device() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let device = register(&api, &server, 5001);
    let cert = &device.certificate;
    assert_eq!(cert.field("ca_certificate"), server.ca_certificate_pem());
    let in_a_year = now_ms() + 365 * 24 * 3600 * 1000;
    let expires_at = cert.data["expires_at"].as_i64().unwrap_or_default();
    assert!((expires_at - in_a_year).abs() < 60_000, "{expires_at}");

    let dir = scratch_dir("openssl");
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
fn handshake_refuses_bad_keys_and_fields() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 5002));
    let auth = bearer(&token);
    let small = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024)
        .map_err(|e| e.to_string())
        .and_then(|k| {
            let public = k.to_public_key();
            public
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let key = device_key().public_pem().unwrap_or_else(|e| panic!("{e}"));
    let bodies = [
        json!({"public_key": small, "name": "pc", "platform": "linux"}),
        json!({"public_key": EC_P256_PUBLIC_KEY, "name": "pc", "platform": "linux"}),
        json!({"public_key": "not a key", "name": "pc", "platform": "linux"}),
        json!({"public_key": key, "name": "n".repeat(65), "platform": "linux"}),
        json!({"public_key": key, "name": "pc", "platform": "p".repeat(33)}),
        json!({"public_key": key, "name": "pc"}),
        json!(["not", "an", "object"]),
    ];
    for body in bodies {
        api.post("client/auth/handshake", Some(&auth), Some(&body))
            .expect(400);
    }
    let ok = json!({"public_key": key, "name": "é".repeat(64), "platform": "p".repeat(32)});
    api.post("client/auth/handshake", Some(&auth), Some(&ok))
        .expect(200);
}

#[test]
fn handshake_needs_a_valid_token() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let body = handshake_body(&device_key());
    api.post("client/auth/handshake", None, Some(&body))
        .expect(401);
    let unknown = bearer("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    api.post("client/auth/handshake", Some(&unknown), Some(&body))
        .expect(401);
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
    let new_key = device_key();
    let body = json!({"public_key": new_key.public_pem().unwrap_or_else(|e| panic!("{e}"))});
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
    let bad = json!({"public_key": EC_P256_PUBLIC_KEY});
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
    let first = register(&api, &server, 5101);
    let auth = bearer(&first.token);
    let handshake = || {
        api.post(
            "client/auth/handshake",
            Some(&auth),
            Some(&handshake_body(&device_key())),
        )
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
    let device = register(&api, &server, 5103); // one handshake
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
