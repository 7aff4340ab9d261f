//! The shared test vectors (copied into tests/vectors): GD encodings and an RSA nonce
//! signature produced by OpenSSL, matched byte for byte.

use dashauth::gd;
use dashauth::keys::{DeviceKey, DevicePublicKey};
use serde_json::Value;

fn vector(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

#[test]
fn bodies_match_gd_encoding_vectors() {
    let v = vector("gd-encoding.json");
    let bodies = v["bodies"].as_array().expect("bodies");
    assert!(!bodies.is_empty());
    for case in bodies {
        assert_eq!(gd::encode_body(s(case, "plain")), s(case, "encoded"));
        assert_eq!(
            gd::decode_body(s(case, "encoded")).as_deref(),
            Ok(s(case, "plain"))
        );
        let unpadded = s(case, "encoded").trim_end_matches('=');
        assert_eq!(gd::decode_body(unpadded).as_deref(), Ok(s(case, "plain")));
    }
}

#[test]
fn subjects_match_gd_encoding_vectors() {
    let v = vector("gd-encoding.json");
    for case in v["subjects"].as_array().expect("subjects") {
        assert_eq!(gd::encode_subject(s(case, "plain")), s(case, "encoded"));
        let standard_alphabet = s(case, "encoded").replace('-', "+").replace('_', "/");
        assert_eq!(
            gd::decode_subject(&standard_alphabet).as_deref(),
            Ok(s(case, "plain"))
        );
    }
}

#[test]
fn inbox_listing_parses_like_the_vector() {
    let v = vector("gd-encoding.json");
    let page = gd::parse_message_page(s(&v, "getGJMessages20_response_example")).expect("parses");
    let expected = v["getGJMessages20_parsed_example"]
        .as_array()
        .expect("parsed");
    assert_eq!(page.messages.len(), expected.len());
    for (m, e) in page.messages.iter().zip(expected) {
        assert_eq!(m.id.to_string(), s(e, "1"));
        assert_eq!(m.account_id.to_string(), s(e, "2"));
        assert_eq!(m.user_id.to_string(), s(e, "3"));
        assert_eq!(m.subject, s(e, "4_decoded"));
        assert_eq!(m.username, s(e, "6"));
        assert_eq!(m.age, s(e, "7"));
        assert_eq!(m.read, s(e, "8") == "1");
        assert_eq!(m.sent, s(e, "9") == "1");
    }
    let footer = &v["getGJMessages20_page_footer"];
    assert_eq!(
        u64::from(page.page.total),
        footer["total"].as_u64().expect("total")
    );
    assert_eq!(
        u64::from(page.page.offset),
        footer["offset"].as_u64().expect("offset")
    );
    assert_eq!(
        u64::from(page.page.page_size),
        footer["page_size"].as_u64().expect("size")
    );
    assert!(!page.page.has_more());
}

#[test]
fn nonce_signature_matches_openssl_byte_for_byte() {
    let v = vector("nonce-rsa2048.json");
    let key = DeviceKey::from_pkcs8_pem(s(&v, "private_key_pkcs8_pem")).expect("key");
    let ts = v["timestamp_ms"].as_i64().expect("timestamp");
    assert_eq!(
        key.sign_nonce(ts).expect("signs"),
        s(&v, "signature_base64")
    );
    assert_eq!(key.public_pem().expect("pem"), s(&v, "public_key_spki_pem"));
}

#[test]
fn nonce_vector_verifies_with_its_public_key_only() {
    let v = vector("nonce-rsa2048.json");
    let public = DevicePublicKey::from_spki_pem(s(&v, "public_key_spki_pem")).expect("public key");
    let ts = v["timestamp_ms"].as_i64().expect("timestamp");
    assert!(public.verify_nonce(ts, s(&v, "signature_base64")));
    assert!(!public.verify_nonce(ts + 1, s(&v, "signature_base64")));
    assert!(!public.verify_nonce(ts, "not base64!"));
}

#[test]
fn the_real_inbox_page_parses_whole() {
    let path = format!(
        "{}/tests/vectors/gd-inbox-page-real.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let page = gd::parse_message_page(gd::check_response(200, &text).expect("usable"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.messages.len(), 50);
    assert!(page.unparsed_ids.is_empty(), "{:?}", page.unparsed_ids);
    assert_eq!(
        (page.page.total, page.page.offset, page.page.page_size),
        (74, 0, 50)
    );
    assert!(page.page.has_more(), "24 more messages on the next page");
    let first = &page.messages[0];
    assert_eq!(
        (first.username.as_str(), first.user_id, first.account_id),
        ("PasswordFinders", 17_787_971, 5_317_656)
    );
    assert_eq!(first.subject, "gagg");
    assert_eq!(first.age, "8 minutes");
    assert!(first.read && !first.sent);
    let ids: std::collections::HashSet<u64> = page.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids.len(), 50, "every id distinct");
    // The ids of the whole page fit one deleteGJMessages20 request.
    let all: Vec<u64> = page.messages.iter().map(|m| m.id).collect();
    let form = gd::delete_messages_form(gd::Caller::Bot, 1, "g", &all, false);
    let fields = gd::form_decode(&form);
    let messages = fields.iter().find(|(k, _)| k == "messages").map(|(_, v)| v);
    assert_eq!(messages.map(|v| v.split(',').count()), Some(50));
}
