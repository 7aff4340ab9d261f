//! Access tokens for third-party servers (protocol.md section 9) and the security
//! review's scenario, against the real server over loopback. Every JWT is verified with an
//! independent library (`jsonwebtoken`) against the published JWKS, never with the
//! server's own code.

mod server_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dashauth::keys::{DeviceKey, KeyType};
use dashauth::server::ServerHandle;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use server_support::{
    Api, Player, bearer, device_key, enroll_key, login, sent_challenge, start_server,
};
use std::time::Duration;

const AUDIENCE: &str = "me.mymod";

/// A bare (envelope-less) JSON answer with its `Cache-Control`.
fn bare(method: &str, url: &str, body: Option<(&str, &str)>) -> (u16, Option<String>, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        (_, Some((content_type, body))) => agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body),
        _ => agent.post(url).send_empty(),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{url}: {e}"));
    let cache = response
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{url}: {e}: {text}"));
    (response.status().as_u16(), cache, json)
}

fn jwks(server: &ServerHandle) -> JwkSet {
    let url = format!("{}/.well-known/jwks.json", server.base_url());
    let (status, cache, json) = bare("GET", &url, None);
    assert_eq!(status, 200, "{json}");
    assert!(
        cache.as_deref().is_some_and(|c| c.contains("max-age=")),
        "{cache:?}"
    );
    serde_json::from_value(json).unwrap_or_else(|e| panic!("JWKS: {e}"))
}

/// Verifies `token` as a mod's backend would: signature by a JWKS key named by its `kid`,
/// `iss`, `aud`, `exp`.
fn verify(
    server: &ServerHandle,
    token: &str,
    audience: &str,
) -> jsonwebtoken::errors::Result<Value> {
    let header = jsonwebtoken::decode_header(token)?;
    assert_eq!(header.alg, Algorithm::EdDSA);
    let set = jwks(server);
    let kid = header.kid.unwrap_or_default();
    let jwk = set
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    // No grace period: the server and the test share a clock.
    validation.leeway = 0;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[server.base_url()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims)
}

fn exchange(api: &Api, auth: &str, audience: &str) -> server_support::Reply {
    api.post(
        "token/exchange",
        Some(auth),
        Some(&json!({ "audience": audience })),
    )
}

fn introspect(server: &ServerHandle, token: &str) -> Value {
    let url = format!("{}/introspect", server.base_url());
    let body = json!({ "token": token }).to_string();
    let (status, _, json) = bare("POST", &url, Some(("application/json", &body)));
    assert_eq!(status, 200, "{json}");
    json
}

fn active(server: &ServerHandle, token: &str) -> bool {
    introspect(server, token)["active"]
        .as_bool()
        .unwrap_or_else(|| panic!("no `active`"))
}

fn login_for(api: &Api, server: &ServerHandle, player: &Player, audience: Option<&str>) -> String {
    let route = match audience {
        Some(a) => format!("request_challenge/{}?audience={a}", player.account_id),
        None => format!("request_challenge/{}", player.account_id),
    };
    let reply = api.get(&route, None).expect(200);
    player.send_until_accepted(
        server.bot_account_id(),
        &dashauth::protocol::challenge_subject(&reply.field("challenge")),
    );
    server_support::wait_for_token(api, &reply.field("id"))
}

#[test]
fn an_access_token_verifies_with_an_independent_jwt_library_against_the_jwks() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6001);
    let token = login(&api, &server, &player);
    let reply = exchange(&api, &bearer(&token), AUDIENCE).expect(200);
    assert_eq!(reply.field("token_type"), "Bearer");
    assert_eq!(reply.data["expires_in"], 3600);
    let jwt = reply.field("access_token");
    let claims = verify(&server, &jwt, AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims["iss"], server.base_url());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["sub"], "6001");
    assert_eq!(claims["gd_account_id"], 6001);
    assert_eq!(claims["gd_username"], "Player6001");
    assert!(claims["gd_user_id"].as_u64().is_some(), "{claims}");
    assert_eq!(claims["amr"], json!(["gd_message"]));
    assert!(claims.get("device_id").is_none(), "{claims}");
    let (iat, exp) = (claims["iat"].as_i64(), claims["exp"].as_i64());
    assert_eq!(exp.zip(iat).map(|(e, i)| e - i), Some(3600));
    let expires_at = reply.data["expires_at"].as_i64().unwrap_or_default();
    assert_eq!(Some(expires_at / 1000), exp);
    assert_ne!(claims["jti"], Value::Null);
    // Two tokens never share a jti.
    let second = exchange(&api, &bearer(&token), AUDIENCE).expect(200);
    let second =
        verify(&server, &second.field("access_token"), AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(claims["jti"], second["jti"]);
    // The JWK is an Ed25519 OKP key with the fields RFC 8037 names.
    let url = format!("{}/.well-known/jwks.json", server.base_url());
    let (_, _, raw) = bare("GET", &url, None);
    let key = &raw["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(
        (key["use"].as_str(), key["alg"].as_str()),
        (Some("sig"), Some("EdDSA"))
    );
    let x = URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap_or_default());
    assert_eq!(x.map(|x| x.len()).ok(), Some(32));
}

#[test]
fn the_wrong_audience_is_refused_offline_and_a_bound_login_token_only_serves_its_own() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6002);
    let jwt = exchange(&api, &bearer(&login(&api, &server, &player)), AUDIENCE)
        .expect(200)
        .field("access_token");
    let refused = verify(&server, &jwt, "other.mod").expect_err("another audience");
    assert_eq!(
        refused.kind(),
        &jsonwebtoken::errors::ErrorKind::InvalidAudience
    );

    let bound = login_for(&api, &server, &player, Some(AUDIENCE));
    let whoami = api.get("whoami", Some(&bearer(&bound))).expect(200);
    assert_eq!(whoami.data["audience"], AUDIENCE);
    assert_eq!(whoami.data["gd_username"], "Player6002");
    assert!(whoami.data["gd_user_id"].as_u64().is_some());
    let other = exchange(&api, &bearer(&bound), "other.mod").expect(403);
    assert!(
        other.message.starts_with("audience_mismatch"),
        "{}",
        other.message
    );
    let own = exchange(&api, &bearer(&bound), AUDIENCE).expect(200);
    verify(&server, &own.field("access_token"), AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
    let introspected = introspect(&server, &bound);
    assert_eq!(introspected["token_type"], "login_token");
    assert_eq!(introspected["aud"], AUDIENCE);
}

#[test]
fn exchange_refuses_bad_audiences_and_credentials_with_a_message() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 6003));
    let auth = bearer(&token);
    for audience in ["", "has space", &"a".repeat(129), "tab\t"] {
        let reply = exchange(&api, &auth, audience).expect(400);
        assert!(reply.message.contains("audience"), "{}", reply.message);
    }
    api.post("token/exchange", Some(&auth), Some(&json!({})))
        .expect(400);
    api.post("token/exchange", Some(&auth), Some(&json!([1])))
        .expect(400);
    exchange(
        &api,
        "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        AUDIENCE,
    )
    .expect(401);
    api.post("token/exchange", None, Some(&json!({"audience": AUDIENCE})))
        .expect(401);
    // An access token is not a credential for minting more.
    let jwt = exchange(&api, &auth, AUDIENCE)
        .expect(200)
        .field("access_token");
    exchange(&api, &bearer(&jwt), AUDIENCE).expect(401);
    api.post("token/revoke", Some(&auth), None).expect(200);
    exchange(&api, &auth, AUDIENCE).expect(401);
}

#[test]
fn device_access_tokens_go_inactive_when_the_device_is_revoked() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6004);
    let token = login(&api, &server, &player);
    let key = DeviceKey::generate_type(KeyType::Ed25519).unwrap_or_else(|e| panic!("{e}"));
    let device = enroll_key(&api, &server, &player, key, &token);
    let by_nonce = exchange(&api, &device.nonce_now(), AUDIENCE)
        .expect(200)
        .field("access_token");
    let session = device.session_token();
    let by_session = exchange(&api, &bearer(&session), AUDIENCE)
        .expect(200)
        .field("access_token");
    let claims = verify(&server, &by_nonce, AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(claims["device_id"], device.device.as_str());
    assert_eq!(claims["amr"], json!(["device"]));
    let facts = introspect(&server, &by_nonce);
    assert_eq!(facts["active"], true);
    assert_eq!(facts["token_type"], "access_token");
    assert_eq!(facts["device_id"], device.device.as_str());
    assert_eq!(facts["gd_username"], "Player6004");
    assert_eq!(introspect(&server, &session)["token_type"], "session_token");

    api.delete(
        &format!("client/devices/{}", device.device),
        Some(&bearer(&token)),
    )
    .expect(200);
    for revoked in [&by_nonce, &by_session, &session] {
        assert_eq!(introspect(&server, revoked), json!({"active": false}));
    }
    // The account's login token, and what it mints, are untouched.
    assert!(active(&server, &token));
    let fresh = exchange(&api, &bearer(&token), AUDIENCE).expect(200);
    assert!(active(&server, &fresh.field("access_token")));
}

#[test]
fn revoke_all_makes_every_token_of_the_account_inactive_at_once() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6005);
    let token = login(&api, &server, &player);
    let device = enroll_key(&api, &server, &player, device_key(), &token);
    let other = enroll_key(&api, &server, &player, device_key(), &token);
    let jwt = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let neighbour = login(&api, &server, &Player::new(&server, 6006));
    assert!(active(&server, &jwt));

    let body = json!({"keep_current_device": true});
    let counts = api
        .post("account/revoke-all", Some(&device.nonce_now()), Some(&body))
        .expect(200);
    assert_eq!(counts.data["login_tokens"], 1);
    assert_eq!(counts.data["devices"], 1);
    assert_eq!(
        counts.data["session_tokens"], 1,
        "the other device's session"
    );
    assert!(!active(&server, &jwt));
    assert!(!active(&server, &token));
    api.get("whoami", Some(&bearer(&token))).expect(401);
    api.get("client/me", Some(&other.nonce_now())).expect(401);
    // The kept device still works, and lists itself as the only device.
    let list = api
        .get("client/devices", Some(&device.nonce_now()))
        .expect(200);
    let devices = list.data["devices"].as_array().cloned().unwrap_or_default();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0]["device_id"], device.device.as_str());
    assert_eq!(devices[0]["current"], true);
    // Another account is untouched.
    assert!(active(&server, &neighbour));
}

#[test]
fn the_owner_lists_and_deletes_devices_and_strangers_cannot() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6007);
    let token = login(&api, &server, &player);
    let p256 = DeviceKey::generate_type(KeyType::P256).unwrap_or_else(|e| panic!("{e}"));
    let first = enroll_key(&api, &server, &player, p256, &token);
    let second = enroll_key(&api, &server, &player, device_key(), &token);
    api.get("client/me", Some(&first.nonce_now())).expect(200);
    let list = api.get("client/devices", Some(&bearer(&token))).expect(200);
    let devices = list.data["devices"].as_array().cloned().unwrap_or_default();
    let summary: Vec<(String, String, bool, bool)> = devices
        .iter()
        .map(|d| {
            (
                d["device_id"].as_str().unwrap_or_default().to_string(),
                d["key_type"].as_str().unwrap_or_default().to_string(),
                d["current"].as_bool().unwrap_or(true),
                d["last_used_at"].is_i64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (first.device.clone(), "p256".into(), false, true),
            (second.device.clone(), "rsa".into(), false, false),
        ]
    );
    assert_eq!(devices[0]["name"], "Test PC");
    assert_eq!(devices[0]["platform"], "linux");
    let by_session = api
        .get("client/devices", Some(&bearer(&second.session_token())))
        .expect(200);
    let current: Vec<bool> = by_session.data["devices"]
        .as_array()
        .map(|d| d.iter().map(|d| d["current"] == true).collect())
        .unwrap_or_default();
    assert_eq!(current, vec![false, true]);

    let stranger = login(&api, &server, &Player::new(&server, 6008));
    let empty = api
        .get("client/devices", Some(&bearer(&stranger)))
        .expect(200);
    assert_eq!(empty.data["devices"], json!([]));
    let route = format!("client/devices/{}", first.device);
    api.delete(&route, Some(&bearer(&stranger))).expect(404);
    api.delete(&route, Some(&second.nonce_now())).expect(200);
    api.get("client/devices", None).expect(401);
    let left = api.get("client/devices", Some(&bearer(&token))).expect(200);
    assert_eq!(left.data["devices"].as_array().map(Vec::len), Some(1));
}

/// The security review: a mod's server holds the player's login token (its intended use)
/// and tries to keep access for itself.
#[test]
fn a_third_party_holding_the_login_token_gets_nothing_lasting() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6009);
    let handed_over = login(&api, &server, &player);
    let auth = bearer(&handed_over);

    // It cannot plant a device: bearer enrolment is refused, and it cannot make the
    // player's GD account send a message for a challenge of its own.
    let attacker_key = device_key();
    let body = json!({
        "public_key": attacker_key.public_pem().unwrap_or_default(),
        "name": "not the player's", "platform": "linux",
    });
    let refused = api
        .post("client/auth/handshake", Some(&auth), Some(&body))
        .expect(403);
    assert!(refused.message.starts_with("token_enrollment_disabled"));
    let (own_challenge, _) = api.challenge(player.account_id);
    let own = server_support::handshake_body(&attacker_key, &own_challenge);
    api.post("client/auth/handshake?wait_ms=300", None, Some(&own))
        .expect(401);
    // Nor open sessions, rotate, or revoke everything in the player's place.
    api.post("client/auth/session", Some(&auth), None)
        .expect(401);
    api.post("account/revoke-all", Some(&auth), None)
        .expect(401);
    // What it can do is mint short-lived access tokens while the token lives.
    let jwt = exchange(&api, &auth, AUDIENCE)
        .expect(200)
        .field("access_token");
    assert!(active(&server, &jwt));
    assert_eq!(
        api.get("client/devices", Some(&auth)).expect(200).data["devices"],
        json!([])
    );

    // The player, without any device, revokes everything with a fresh GD message.
    let proof = sent_challenge(&api, &server, &player);
    let revoked = server_support::post_revoke_all(&api, &proof);
    assert_eq!(revoked.data["login_tokens"], 1);
    assert!(!active(&server, &jwt), "its access tokens die at once");
    assert!(!active(&server, &handed_over));
    exchange(&api, &auth, AUDIENCE).expect(401);
    api.get("whoami", Some(&auth)).expect(401);
    // The attacker's pending challenge never validated: nothing was enrolled.
    api.post("client/auth/handshake?wait_ms=0", None, Some(&own))
        .expect(401);
    let mine = login(&api, &server, &player);
    assert_eq!(
        api.get("client/devices", Some(&bearer(&mine)))
            .expect(200)
            .data["devices"],
        json!([])
    );
}

#[test]
fn introspection_takes_forms_json_and_batches_in_order() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6010);
    let token = login(&api, &server, &player);
    let jwt = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let url = format!("{}/introspect", server.base_url());
    let form = format!("token={jwt}&token_type_hint=access_token");
    let (status, _, by_form) = bare(
        "POST",
        &url,
        Some(("application/x-www-form-urlencoded", &form)),
    );
    assert_eq!(status, 200);
    assert_eq!(by_form["active"], true);
    assert_eq!(by_form["sub"], "6010");
    assert_eq!(by_form["aud"], AUDIENCE);
    assert_eq!(by_form["gd_account_id"], 6010);
    assert!(
        by_form.get("device_id").is_none(),
        "absent fields are omitted: {by_form}"
    );
    assert_eq!(by_form, introspect(&server, &jwt));

    let tokens = vec![
        jwt.clone(),
        "garbage".into(),
        token.clone(),
        format!("{jwt}x"),
    ];
    let body = json!({ "tokens": tokens }).to_string();
    let (status, _, batch) = bare("POST", &url, Some(("application/json", &body)));
    assert_eq!(status, 200, "{batch}");
    let actives: Vec<Value> = batch["results"]
        .as_array()
        .map(|r| r.iter().map(|r| r["active"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(
        actives,
        vec![json!(true), json!(false), json!(true), json!(false)]
    );
    assert_eq!(batch["results"][2]["token_type"], "login_token");

    let full = json!({ "tokens": vec![token.clone(); 100] }).to_string();
    let (status, _, _) = bare("POST", &url, Some(("application/json", &full)));
    assert_eq!(status, 200);
    let over = json!({ "tokens": vec![token.clone(); 101] }).to_string();
    let (status, _, reply) = bare("POST", &url, Some(("application/json", &over)));
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or_default()
            .contains("100"),
        "{reply}"
    );
    for bad in [
        "{",
        "{}",
        r#"{"token": 5}"#,
        r#"{"token": "a", "tokens": ["b"]}"#,
    ] {
        let (status, _, reply) = bare("POST", &url, Some(("application/json", bad)));
        assert_eq!(status, 400, "{bad}: {reply}");
        assert_eq!(reply["success"], false);
    }
}

/// An access token reshaped by hand: `header` and `claims` JSON, signed with `key`.
fn forge(header: &Value, claims: &Value, key: &ring::signature::Ed25519KeyPair) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
}

#[test]
fn forged_expired_and_unknown_key_tokens_are_inactive() {
    let server = start_server(|c| c.access_token_ttl = Duration::from_secs(1));
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 6011));
    let jwt = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let header: Value = URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap_or_default())
        .ok()
        .and_then(|h| serde_json::from_slice(&h).ok())
        .unwrap_or_default();
    let claims = verify(&server, &jwt, AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
    let rng = ring::rand::SystemRandom::new();
    let doc =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap_or_else(|e| panic!("{e}"));
    let ours =
        ring::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    // The server's kid, another key: a forgery.
    assert!(!active(&server, &forge(&header, &claims, &ours)));
    // A kid the server never had.
    let unknown = json!({"alg": "EdDSA", "typ": "JWT", "kid": "no-such-key"});
    assert!(!active(&server, &forge(&unknown, &claims, &ours)));
    // `alg: none`, and malformed JWK-ish inputs.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": header["kid"]}).to_string()),
        jwt.split('.').nth(1).unwrap_or_default()
    );
    for bad in [none.as_str(), "a.b.c", "..", "x", &"e.".repeat(3000)] {
        assert_eq!(
            introspect(&server, bad),
            json!({"active": false}),
            "{bad:.30}"
        );
    }
    // Expiry: the JWT library and introspection agree.
    std::thread::sleep(Duration::from_millis(2100));
    let expired = verify(&server, &jwt, AUDIENCE).expect_err("expired");
    assert_eq!(
        expired.kind(),
        &jsonwebtoken::errors::ErrorKind::ExpiredSignature
    );
    assert!(!active(&server, &jwt));
}

#[test]
fn signing_keys_rotate_and_the_retired_key_stays_published() {
    let server = start_server(|c| c.signing_key_rotate = Duration::from_millis(1500));
    let api = Api::new(&server);
    let token = login(&api, &server, &Player::new(&server, 6012));
    let first = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    std::thread::sleep(Duration::from_millis(1600));
    let second = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let kid = |t: &str| jsonwebtoken::decode_header(t).ok().and_then(|h| h.kid);
    assert_ne!(kid(&first), kid(&second), "a new key signs after rotation");
    assert_eq!(jwks(&server).keys.len(), 2);
    for token in [&first, &second] {
        verify(&server, token, AUDIENCE).unwrap_or_else(|e| panic!("{e}"));
        assert!(active(&server, token));
    }
}

#[test]
fn the_signing_key_is_shared_through_the_store_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("dashauth-jwks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = start_server(|c| c.data_dir = Some(dir.clone()));
    let api = Api::new(&first);
    let token = login(&api, &first, &Player::new(&first, 6013));
    let jwt = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let kid = jsonwebtoken::decode_header(&jwt).ok().and_then(|h| h.kid);
    first.shutdown();
    let second = start_server(|c| {
        c.data_dir = Some(dir.clone());
        c.public_url = Some("https://auth.example.com/api/v1/".into());
    });
    assert!(jwks(&second).find(&kid.unwrap_or_default()).is_some());
    let api = Api::new(&second);
    let again = exchange(&api, &bearer(&token), AUDIENCE)
        .expect(200)
        .field("access_token");
    let claims: Value = URL_SAFE_NO_PAD
        .decode(again.split('.').nth(1).unwrap_or_default())
        .ok()
        .and_then(|c| serde_json::from_slice(&c).ok())
        .unwrap_or_default();
    assert_eq!(
        claims["iss"], "https://auth.example.com/api/v1",
        "the public URL, trimmed"
    );
    drop(second);
    let _ = std::fs::remove_dir_all(dir);
}
