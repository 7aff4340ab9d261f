//! Devices through the C API against the reference server: the full lifecycle
//! (register, session, me, save and restore, rotate, revoke), rotation due with 90 days
//! or less, CLOCK_SKEW, and revocation rules.

mod ffi_common;

use dashauth::ffi::client::dashauth_client_clock_offset_ms;
use dashauth::ffi::device::*;
use dashauth::ffi::device_key::*;
use dashauth::ffi::status::dashauth_status;
use dashauth::server::Config;
use ffi_common::*;
use std::ptr;
use std::time::Duration;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// An owned `dashauth_device *`.
struct Device(*mut dashauth_device);

impl Drop for Device {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { dashauth_device_free(self.0) }
    }
}

impl Device {
    /// Enrols a fresh key of `key_type` for `account_id` by GD proof: a challenge, its
    /// message, then dashauth_device_enroll until the bot has seen the message.
    fn enroll_type(client: &Client, account_id: u32, key_type: dashauth_key_type) -> Device {
        let challenge = Challenge::request(client, account_id);
        expect(
            challenge.send(client, account_id, &gjp2_of(account_id)),
            S::Ok,
        );
        let mut key = ptr::null_mut();
        // SAFETY: valid pointers.
        expect(
            unsafe { dashauth_device_key_generate_type(key_type as i32, &mut key) },
            S::Ok,
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let device = loop {
            let mut device = sentinel_handle();
            // SAFETY: valid pointers.
            let status = unsafe {
                dashauth_device_enroll(
                    client.ptr(),
                    challenge.0,
                    key,
                    cs("Test PC é").as_ptr(),
                    cs("linux").as_ptr(),
                    &mut device,
                )
            };
            if status == S::Pending {
                assert_eq!(device, sentinel_handle(), "out-parameter untouched");
                assert!(std::time::Instant::now() < deadline, "never validated");
                continue;
            }
            expect(status, S::Ok);
            break device;
        };
        // The device copied the key: freeing ours does not affect it.
        // SAFETY: owned, freed once.
        unsafe { dashauth_device_key_free(key) };
        Device(device)
    }

    /// Enrols a fresh RSA key for `account_id`.
    fn register(client: &Client, account_id: u32) -> Device {
        Device::enroll_type(client, account_id, dashauth_key_type::Rsa)
    }

    fn from_json(json: &str) -> Device {
        let mut device = ptr::null_mut();
        // SAFETY: valid pointers.
        expect(
            unsafe { dashauth_device_from_json(cs(json).as_ptr(), &mut device) },
            S::Ok,
        );
        Device(device)
    }

    fn id(&self) -> String {
        // SAFETY: a live device.
        borrowed(unsafe { dashauth_device_id(self.0) })
    }

    fn certificate(&self) -> String {
        // SAFETY: a live device.
        borrowed(unsafe { dashauth_device_certificate_pem(self.0) })
    }

    fn json(&self) -> String {
        let mut json = ptr::null_mut();
        // SAFETY: valid pointers.
        expect(unsafe { dashauth_device_to_json(self.0, &mut json) }, S::Ok);
        take(json)
    }

    /// (status, account id); the account is [`U32_SENTINEL`] when the call did not write
    /// it.
    fn me(&self, client: &Client) -> (dashauth_status, u32) {
        let mut account = U32_SENTINEL;
        // SAFETY: valid pointers.
        let status = unsafe { dashauth_device_me(client.ptr(), self.0, &mut account) };
        (status, account)
    }

    fn needs_rotation(&self) -> bool {
        let mut needs = false;
        // SAFETY: valid pointers.
        expect(
            unsafe { dashauth_device_needs_rotation(self.0, &mut needs) },
            S::Ok,
        );
        needs
    }

    fn rotate(&mut self, client: &Client) -> dashauth_status {
        // SAFETY: valid pointers; no other use of the device meanwhile.
        unsafe { dashauth_device_rotate(client.ptr(), self.0) }
    }

    fn session(&self, client: &Client) -> (dashauth_status, Option<String>, i64) {
        let mut token = sentinel_str();
        let mut expires = I64_SENTINEL;
        // SAFETY: valid pointers.
        let status =
            unsafe { dashauth_device_session(client.ptr(), self.0, &mut token, &mut expires) };
        if status != S::Ok {
            assert_eq!(token, sentinel_str(), "token untouched on {status:?}");
            assert_eq!(expires, I64_SENTINEL, "expiry untouched on {status:?}");
        }
        let token = (status == S::Ok).then(|| take(token));
        (status, token, expires)
    }
}

fn revoke(client: &Client, token: &str, device_id: &str) -> dashauth_status {
    // SAFETY: valid pointers.
    unsafe { dashauth_device_revoke(client.ptr(), cs(token).as_ptr(), cs(device_id).as_ptr()) }
}

#[test]
fn full_device_lifecycle() {
    let server = server();
    let client = Client::for_server(&server);
    let token = token_for(&client, 5001);
    let mut device = Device::register(&client, 5001);

    // Registered: id, certificate signed by the server's CA, a year of validity.
    let id = device.id();
    assert!(id.parse::<dashauth::protocol::Uuid>().is_ok(), "{id}");
    assert!(
        device
            .certificate()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    // SAFETY: a live device.
    let (ca, expires_at) = unsafe {
        (
            borrowed(dashauth_device_ca_certificate_pem(device.0)),
            dashauth_device_expires_at(device.0),
        )
    };
    assert_eq!(ca.trim(), server.ca_certificate_pem().trim());
    let now = dashauth::clock::now_ms();
    assert!(
        (expires_at - (now + 365 * DAY_MS)).abs() < 2 * DAY_MS,
        "{expires_at}"
    );
    assert!(!device.needs_rotation());

    // Nonces: the device's header, and its account through client/me.
    let mut header = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_nonce_header(device.0, &mut header) },
        S::Ok,
    );
    assert!(take(header).starts_with(&format!("Nonce {id} ")));
    assert_eq!(device.me(&client), (S::Ok, 5001));

    // A session token works as a bearer token on whoami.
    let (status, session, session_expires) = device.session(&client);
    expect(status, S::Ok);
    let session = session.expect("session token");
    assert!((session_expires - (now + DAY_MS)).abs() < DAY_MS / 24);
    let (status, account, _) = client.whoami(&session);
    expect(status, S::Ok);
    assert_eq!(account, 5001);

    // Saved and restored, the device still authenticates.
    let saved = device.json();
    let restored = Device::from_json(&saved);
    assert_eq!(restored.id(), id);
    assert_eq!(restored.me(&client), (S::Ok, 5001));

    // Rotation: same id, new certificate and key; the old key stops working.
    let old_certificate = device.certificate();
    expect(device.rotate(&client), S::Ok);
    assert_eq!(device.id(), id);
    assert_ne!(device.certificate(), old_certificate);
    assert_eq!(device.me(&client), (S::Ok, 5001));
    let (status, _) = restored.me(&client);
    expect(status, S::Unauthorized);
    let rotated = Device::from_json(&device.json());
    assert_eq!(rotated.me(&client), (S::Ok, 5001));

    // Revocation by the owning account: the device is refused from then on.
    expect(revoke(&client, &token, &id), S::Ok);
    let (status, account) = device.me(&client);
    expect(status, S::Unauthorized);
    assert_eq!(account, U32_SENTINEL, "out-parameter untouched");
    expect(device.session(&client).0, S::Unauthorized);
    // A failed rotation leaves the device as it was.
    let before = device.json();
    expect(device.rotate(&client), S::Unauthorized);
    // The same device, but for its nonce clock (the refused request signed a nonce).
    let without_clock = |json: String| {
        let mut value: serde_json::Value =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        value.as_object_mut().map(|o| o.remove("last_nonce_ms"));
        value
    };
    assert_eq!(without_clock(device.json()), without_clock(before));
}

#[test]
fn back_to_back_nonce_calls_all_succeed() {
    let server = server();
    let client = Client::for_server(&server);
    let device = Device::register(&client, 5006);
    // Two calls in a row usually fall in the same millisecond: the second used to carry
    // the same timestamp and be refused as a replayed nonce.
    assert_eq!(device.me(&client), (S::Ok, 5006));
    assert_eq!(device.me(&client), (S::Ok, 5006));
    // And from 8 threads at once on the same device.
    let shared = SendPtr(device.0);
    let client = &client;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(move || {
                    for _ in 0..3 {
                        let mut account = 0;
                        // SAFETY: a live device, only read; a thread-safe client.
                        let status =
                            unsafe { dashauth_device_me(client.ptr(), shared.get(), &mut account) };
                        expect(status, S::Ok);
                        assert_eq!(account, 5006);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    });
}

#[test]
fn rotation_is_due_with_ninety_days_or_less_left() {
    let server = server_with(Config {
        certificate_validity: Duration::from_secs(90 * 24 * 3600),
        ..Config::default()
    });
    let client = Client::for_server(&server);
    let mut device = Device::register(&client, 5002);
    assert!(device.needs_rotation());
    // SAFETY: a live device.
    let before = unsafe { dashauth_device_expires_at(device.0) };
    let old_certificate = device.certificate();
    expect(device.rotate(&client), S::Ok);
    assert_ne!(device.certificate(), old_certificate);
    // Certificates count in seconds: a rotation within the same second may not move it.
    // SAFETY: a live device.
    assert!(unsafe { dashauth_device_expires_at(device.0) } >= before);
    assert_eq!(device.me(&client), (S::Ok, 5002));
}

#[test]
fn a_server_clock_far_off_is_learned_and_every_device_call_still_succeeds() {
    let server = server_with(Config {
        clock_offset_ms: 120_000,
        ..Config::default()
    });
    let client = Client::for_server(&server);
    let mut device = Device::register(&client, 5003);
    // Two minutes is four times the nonce window: without the learned offset each of
    // these would be refused as clock skew (tests/ffi_auth.rs covers the refusal and
    // the second signature, with three hours).
    assert_eq!(device.me(&client), (S::Ok, 5003));
    expect(device.session(&client).0, S::Ok);
    expect(device.rotate(&client), S::Ok);
    assert_eq!(device.me(&client), (S::Ok, 5003));
    let mut offset = I64_SENTINEL;
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_client_clock_offset_ms(client.ptr(), &mut offset) },
        S::Ok,
    );
    assert!((offset - 120_000).abs() < 3_000, "{offset}");
}

#[test]
fn devices_can_only_be_revoked_by_their_account() {
    let server = server();
    let client = Client::for_server(&server);
    let owner = token_for(&client, 5004);
    let stranger = token_for(&client, 5005);
    let device = Device::register(&client, 5004);
    expect(revoke(&client, &stranger, &device.id()), S::NotFound);
    assert_eq!(device.me(&client), (S::Ok, 5004));
    expect(
        revoke(
            &client,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &device.id(),
        ),
        S::Unauthorized,
    );
    expect(revoke(&client, &owner, "not-a-uuid"), S::InvalidArgument);
}

#[test]
fn enrolment_with_a_used_challenge_is_not_found_and_leaves_the_out_parameter() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 5009);
    expect(challenge.send(&client, 5009, &gjp2_of(5009)), S::Ok);
    // Collecting the login token consumes the challenge.
    let _token = challenge.wait_token(&client);
    let mut key = ptr::null_mut();
    let mut device = sentinel_handle();
    // SAFETY: valid pointers.
    unsafe {
        expect(
            dashauth_device_key_generate_type(dashauth_key_type::P256 as i32, &mut key),
            S::Ok,
        );
        let status = dashauth_device_enroll(
            client.ptr(),
            challenge.0,
            key,
            cs("PC").as_ptr(),
            cs("linux").as_ptr(),
            &mut device,
        );
        expect(status, S::NotFound);
        assert_eq!(device, sentinel_handle(), "out-parameter untouched");
        dashauth_device_key_free(key);
    }
}

#[test]
fn every_key_type_enrolls_and_opens_sessions_through_the_c_api() {
    let server = server();
    let client = Client::for_server(&server);
    for (n, key_type) in [
        dashauth_key_type::Rsa,
        dashauth_key_type::P256,
        dashauth_key_type::Ed25519,
    ]
    .into_iter()
    .enumerate()
    {
        let account = 5020 + u32::try_from(n).unwrap_or_default();
        let device = Device::enroll_type(&client, account, key_type);
        assert_eq!(device.me(&client), (S::Ok, account), "{key_type:?}");
        let (status, token, _) = device.session(&client);
        expect(status, S::Ok);
        assert!(token.is_some_and(|t| t.len() == 43));
    }
}

#[test]
fn key_types_are_reported_and_unknown_types_refused() {
    for key_type in [
        dashauth_key_type::Rsa,
        dashauth_key_type::P256,
        dashauth_key_type::Ed25519,
    ] {
        let mut key = ptr::null_mut();
        let mut reported = dashauth_key_type::Rsa;
        // SAFETY: valid pointers.
        unsafe {
            expect(
                dashauth_device_key_generate_type(key_type as i32, &mut key),
                S::Ok,
            );
            expect(dashauth_device_key_type(key, &mut reported), S::Ok);
            dashauth_device_key_free(key);
        }
        assert_eq!(reported, key_type);
    }
    let mut key = sentinel_handle();
    // SAFETY: valid pointers.
    for bad in [-1, 3, i32::MAX] {
        expect(
            unsafe { dashauth_device_key_generate_type(bad, &mut key) },
            S::InvalidArgument,
        );
        assert_eq!(key, sentinel_handle(), "out-parameter untouched");
        assert!(last_error().contains("key type"), "{}", last_error());
    }
    // SAFETY: NULL handles are refused.
    unsafe {
        expect(
            dashauth_device_key_generate_type(1, ptr::null_mut()),
            S::NullArgument,
        );
        let mut reported = dashauth_key_type::Rsa;
        expect(
            dashauth_device_key_type(ptr::null(), &mut reported),
            S::NullArgument,
        );
    }
}

/// `json` (a saved device) with `pending_private_key_pem` set to the device key of
/// `pending_json`: what a device looks like after a rotation whose reply was lost.
fn with_pending_key_of(json: &str, pending_json: &str) -> String {
    let mut saved: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let pending: serde_json::Value = serde_json::from_str(pending_json).expect("JSON");
    saved["pending_private_key_pem"] = pending["private_key_pem"].clone();
    saved.to_string()
}

#[test]
fn a_pending_key_the_server_has_is_promoted_by_the_next_nonce_call() {
    let server = server();
    let client = Client::for_server(&server);
    let mut device = Device::register(&client, 5007);
    let old = device.json();
    expect(device.rotate(&client), S::Ok);
    let new = device.json();
    let new_key =
        serde_json::from_str::<serde_json::Value>(&new).expect("JSON")["private_key_pem"].clone();

    // The server has the new key; this copy still signs with the old one and holds the
    // new one as pending, as after a lost rotation reply.
    let lost = Device::from_json(&with_pending_key_of(&old, &new));
    assert_eq!(lost.me(&client), (S::Ok, 5007));
    let promoted: serde_json::Value = serde_json::from_str(&lost.json()).expect("JSON");
    assert_eq!(promoted["private_key_pem"], new_key);
    assert!(
        promoted.get("pending_private_key_pem").is_none(),
        "{promoted}"
    );
    // The old certificate fields stay until the next rotation.
    assert_eq!(lost.id(), device.id());
    assert_eq!(lost.me(&client), (S::Ok, 5007));
    expect(lost.session(&client).0, S::Ok);

    // A rotation of such a device settles the pending key first, then rotates.
    let mut settling = Device::from_json(&with_pending_key_of(&old, &new));
    expect(settling.rotate(&client), S::Ok);
    assert!(!settling.json().contains("pending_private_key_pem"));
    assert_eq!(settling.me(&client), (S::Ok, 5007));
    expect(device.me(&client).0, S::Unauthorized);
}

#[test]
fn a_rotation_whose_reply_is_lost_keeps_the_new_key_as_pending() {
    let server = server();
    let client = Client::for_server(&server);
    let mut device = Device::register(&client, 5008);
    let certificate = device.certificate();
    // Nothing listens on port 9: the rotation fails with NETWORK, and the library cannot
    // know whether the server applied it.
    let unreachable = Client::new("http://127.0.0.1:9", "http://127.0.0.1:9/database");
    expect(device.rotate(&unreachable), S::Network);
    assert_eq!(device.certificate(), certificate);
    let saved: serde_json::Value = serde_json::from_str(&device.json()).expect("JSON");
    let pending = saved["pending_private_key_pem"]
        .as_str()
        .expect("pending key");
    assert!(pending.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_ne!(saved["private_key_pem"].as_str(), Some(pending));
    // The server did not rotate: the current key still works, and the pending key is
    // not needed.
    assert_eq!(device.me(&client), (S::Ok, 5008));
    // A saved and restored device keeps it.
    let restored = Device::from_json(&device.json());
    assert!(restored.json().contains("pending_private_key_pem"));
    // The next rotation settles it and rotates for real.
    expect(device.rotate(&client), S::Ok);
    assert_ne!(device.certificate(), certificate);
    assert!(!device.json().contains("pending_private_key_pem"));
    assert_eq!(device.me(&client), (S::Ok, 5008));
}

/// (status, access token, expiry) of dashauth_client_exchange_token; the out-parameters
/// must stay untouched on failure.
fn exchange(
    client: &Client,
    token: &str,
    audience: &str,
) -> (dashauth_status, Option<String>, i64) {
    let mut jwt = sentinel_str();
    let mut expires = I64_SENTINEL;
    // SAFETY: valid pointers.
    let status = unsafe {
        dashauth::ffi::client::dashauth_client_exchange_token(
            client.ptr(),
            cs(token).as_ptr(),
            cs(audience).as_ptr(),
            &mut jwt,
            &mut expires,
        )
    };
    if status != S::Ok {
        assert_eq!(jwt, sentinel_str(), "token untouched on {status:?}");
        assert_eq!(expires, I64_SENTINEL, "expiry untouched on {status:?}");
        return (status, None, expires);
    }
    (status, Some(take(jwt)), expires)
}

/// The claims of `jwt`, verified by the independent `jsonwebtoken` against the JWKS.
fn verified_claims(
    server: &dashauth::server::ServerHandle,
    jwt: &str,
    audience: &str,
) -> serde_json::Value {
    let url = format!("{}/.well-known/jwks.json", server.base_url());
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(get_json(&url)).unwrap_or_else(|e| panic!("JWKS: {e}"));
    let kid = jsonwebtoken::decode_header(jwt)
        .ok()
        .and_then(|h| h.kid)
        .unwrap_or_default();
    let jwk = set
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not published"));
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap_or_else(|e| panic!("{e}"));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[server.base_url()]);
    jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &validation)
        .unwrap_or_else(|e| panic!("{e}"))
        .claims
}

#[test]
fn access_tokens_through_the_c_api_verify_offline() {
    let server = server();
    let client = Client::for_server(&server);
    let token = token_for(&client, 5030);
    let (status, jwt, expires_at) = exchange(&client, &token, "me.mymod");
    expect(status, S::Ok);
    let jwt = jwt.unwrap_or_default();
    let claims = verified_claims(&server, &jwt, "me.mymod");
    assert_eq!(claims["sub"], "5030");
    assert_eq!(claims["exp"].as_i64().map(|e| e * 1000), Some(expires_at));

    let device = Device::enroll_type(&client, 5030, dashauth_key_type::P256);
    let mut access = sentinel_str();
    let mut expires = I64_SENTINEL;
    // SAFETY: valid pointers.
    let status = unsafe {
        dashauth_device_access_token(
            client.ptr(),
            device.0,
            cs("me.mymod").as_ptr(),
            &mut access,
            &mut expires,
        )
    };
    expect(status, S::Ok);
    let claims = verified_claims(&server, &take(access), "me.mymod");
    assert_eq!(claims["device_id"], device.id().as_str());
    assert_eq!(claims["amr"], serde_json::json!(["device"]));
    assert!(expires > dashauth::clock::now_ms());
}

#[test]
fn exchange_refusals_leave_the_out_parameters_untouched() {
    let server = server();
    let client = Client::for_server(&server);
    let token = token_for(&client, 5031);
    // Huge and malformed inputs are refused before any request.
    for audience in ["", "with space", &"a".repeat(1 << 20)] {
        expect(exchange(&client, &token, audience).0, S::InvalidArgument);
        assert!(last_error().contains("audience"), "{}", last_error());
    }
    expect(
        exchange(&client, &"t".repeat(1 << 20), "me.mymod").0,
        S::InvalidArgument,
    );
    expect(
        exchange(
            &client,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "me.mymod",
        )
        .0,
        S::Unauthorized,
    );
    // A login token bound to an audience serves that audience only: FORBIDDEN.
    let base = server.base_url();
    let reply = get_json(&format!("{base}/request_challenge/5032?audience=me.mymod"));
    let (id, code) = (
        reply["data"]["id"].as_str().unwrap_or_default().to_string(),
        reply["data"]["challenge"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    let gd = dashauth::gd_client::GdClient::new(
        dashauth::http::Http::new(Duration::from_secs(10)),
        &server.gd_url(),
    );
    gd.upload_message(
        5032,
        &gjp2_of(5032),
        server.bot_account_id(),
        &format!("auth-{code}"),
        "test",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let bound = (0..10)
        .find_map(|_| {
            let reply = get_json(&format!("{base}/challenge_complete/{id}?wait_ms=2000"));
            reply["data"].as_str().map(str::to_string)
        })
        .unwrap_or_else(|| panic!("never validated"));
    let (status, _, _) = exchange(&client, &bound, "other.mod");
    expect(status, S::Forbidden);
    assert!(
        last_error().contains("audience_mismatch"),
        "{}",
        last_error()
    );
    expect(exchange(&client, &bound, "me.mymod").0, S::Ok);
}

/// A GET's JSON body, whatever the status.
fn get_json(url: &str) -> serde_json::Value {
    let response = dashauth::http::Http::new(Duration::from_secs(15))
        .send(dashauth::http::Method::Get, url, None, None)
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    serde_json::from_str(&response.body).unwrap_or_else(|e| panic!("{url}: {e}"))
}
