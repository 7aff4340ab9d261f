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
