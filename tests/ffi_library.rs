//! The C API without a network round trip: library functions, device keys and the nonce
//! vector, and the argument conventions (NULL, invalid UTF-8, empty and 1 MiB strings)
//! for every function.

mod ffi_common;

use dashauth::ffi::challenge::*;
use dashauth::ffi::client::*;
use dashauth::ffi::device::*;
use dashauth::ffi::device_key::*;
use dashauth::ffi::library::*;
use dashauth::ffi::login::*;
use dashauth::ffi::status::dashauth_status;
use dashauth::ffi::strings::dashauth_string_free;
use ffi_common::*;
use serde_json::Value;
use std::ffi::{CStr, c_char};
use std::ptr;

const DEVICE_ID: &str = "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c";

fn vector() -> Value {
    let path = format!(
        "{}/tests/vectors/nonce-rsa2048.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("vector")).expect("JSON")
}

fn vector_str(key: &str) -> String {
    vector()[key].as_str().expect(key).to_string()
}

/// The vector's key through dashauth_device_key_from_pem.
fn vector_key() -> *mut dashauth_device_key {
    let mut key = ptr::null_mut();
    let pem = cs(&vector_str("private_key_pkcs8_pem"));
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_key_from_pem(pem.as_ptr(), &mut key) },
        S::Ok,
    );
    key
}

/// A device restored from hand-made save text (no server needed).
fn offline_device() -> *mut dashauth_device {
    let cert = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
    let json = serde_json::json!({
        "version": 1,
        "device_id": DEVICE_ID,
        "certificate": cert,
        "ca_certificate": cert,
        "expires_at": 4_000_000_000_000i64,
        "private_key_pem": vector_str("private_key_pkcs8_pem"),
    })
    .to_string();
    let mut device = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_from_json(cs(&json).as_ptr(), &mut device) },
        S::Ok,
    );
    device
}

/// A client for a port where nothing listens: enough for argument checks.
fn offline_client() -> Client {
    Client::new("http://127.0.0.1:9", "http://127.0.0.1:9/database")
}

#[test]
fn version_matches_the_crate_and_the_header_macros() {
    assert_eq!(borrowed(dashauth_version()), env!("CARGO_PKG_VERSION"));
    let header =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/dashauth.h"))
            .expect("header");
    assert!(header.contains(&format!(
        "#define DASHAUTH_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION")
    )));
    assert_eq!(last_error(), "");
}

#[test]
fn status_str_names_every_code_and_survives_garbage() {
    let named = [
        (S::Ok, "DASHAUTH_STATUS_OK"),
        (S::Pending, "DASHAUTH_STATUS_PENDING"),
        (S::NotFound, "DASHAUTH_STATUS_NOT_FOUND"),
        (S::ClockSkew, "DASHAUTH_STATUS_CLOCK_SKEW"),
        (S::Panic, "DASHAUTH_STATUS_PANIC"),
    ];
    for (status, name) in named {
        assert_eq!(borrowed(dashauth_status_str(status as i32)), name);
    }
    for raw in [2, -22, -98, 1000, i32::MIN, i32::MAX] {
        assert_eq!(
            borrowed(dashauth_status_str(raw)),
            "DASHAUTH_STATUS_UNKNOWN"
        );
    }
}

#[test]
fn last_error_is_set_by_a_failure_and_cleared_by_a_success() {
    let mut client = sentinel_handle();
    // SAFETY: valid pointers.
    let status = unsafe { dashauth_client_new(cs("not a url").as_ptr(), &mut client) };
    expect(status, S::InvalidArgument);
    assert_eq!(client, sentinel_handle(), "out-parameter untouched");
    assert!(last_error().contains("base_url"), "{}", last_error());
    // status_str leaves it alone so both can be used to report the same failure.
    let _ = dashauth_status_str(status as i32);
    assert!(!last_error().is_empty());
    let now = dashauth_now_ms();
    assert_eq!(last_error(), "");
    assert!((now - dashauth::clock::now_ms()).abs() < 5_000);
    // Per thread: another thread sees its own (empty) message.
    // SAFETY: valid pointers.
    let _ = unsafe { dashauth_client_new(ptr::null(), &mut client) };
    let other = std::thread::spawn(last_error).join().expect("thread");
    assert_eq!(other, "");
    assert!(last_error().contains("NULL"));
}

#[test]
fn string_free_and_every_free_accept_null() {
    // SAFETY: NULL is documented as fine for every _free.
    unsafe {
        dashauth_string_free(ptr::null_mut());
        dashauth_client_free(ptr::null_mut());
        dashauth_challenge_free(ptr::null_mut());
        dashauth_login_free(ptr::null_mut());
        dashauth_login_cancel(ptr::null_mut());
        dashauth_device_key_free(ptr::null_mut());
        dashauth_device_free(ptr::null_mut());
    }
}

#[test]
fn sign_nonce_matches_the_openssl_vector_byte_for_byte() {
    let v = vector();
    let key = vector_key();
    let ts = v["timestamp_ms"].as_i64().expect("timestamp");
    let mut sig = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(unsafe { dashauth_sign_nonce(key, ts, &mut sig) }, S::Ok);
    assert_eq!(take(sig), vector_str("signature_base64"));

    let mut public = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_key_public_pem(key, &mut public) },
        S::Ok,
    );
    assert_eq!(take(public), vector_str("public_key_spki_pem"));

    let mut sig = sentinel_str();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_sign_nonce(key, -1, &mut sig) },
        S::InvalidArgument,
    );
    assert_eq!(sig, sentinel_str(), "out-parameter untouched");
    // SAFETY: owned, freed once.
    unsafe { dashauth_device_key_free(key) };
}

#[test]
fn nonce_header_has_the_vector_format_with_the_current_time() {
    let key = vector_key();
    let mut header = ptr::null_mut();
    let before = dashauth_now_ms();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_nonce_header(key, cs(DEVICE_ID).as_ptr(), &mut header) },
        S::Ok,
    );
    let after = dashauth_now_ms();
    let header = take(header);
    let parts: Vec<&str> = header.split(' ').collect();
    assert_eq!(parts.len(), 4, "{header}");
    assert_eq!((parts[0], parts[1]), ("Nonce", DEVICE_ID));
    let ts: i64 = parts[2].parse().expect("decimal timestamp");
    assert!((before..=after).contains(&ts));
    let mut sig = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(unsafe { dashauth_sign_nonce(key, ts, &mut sig) }, S::Ok);
    assert_eq!(parts[3], take(sig));
    // At the vector's timestamp the same layout gives the vector's header exactly.
    let v = vector();
    let at_vector = format!(
        "Nonce {DEVICE_ID} {} {}",
        v["timestamp_ms"],
        vector_str("signature_base64")
    );
    assert_eq!(
        at_vector,
        vector_str("nonce_header_for_device_id_0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c")
    );
    let mut out = sentinel_str();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_nonce_header(key, cs("not-a-uuid").as_ptr(), &mut out) },
        S::InvalidArgument,
    );
    assert_eq!(out, sentinel_str(), "out-parameter untouched");
    // SAFETY: owned, freed once.
    unsafe { dashauth_device_key_free(key) };
}

/// The timestamp field of a "Nonce <id> <timestamp> <signature>" header.
fn header_timestamp(header: &str) -> i64 {
    header
        .split(' ')
        .nth(2)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no timestamp in {header}"))
}

#[test]
fn nonce_headers_in_a_tight_loop_and_from_eight_threads_are_all_distinct() {
    let key = SendPtr(vector_key());
    let device = SendPtr(offline_device());
    let id = cs(DEVICE_ID);
    let id = SendPtr(id.as_ptr().cast_mut());
    // Both kinds of header, from 8 threads at once, 200 each: far more than one per
    // millisecond, so equal timestamps would show up without the library's nonce clock.
    let headers: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    (0..200)
                        .map(|_| {
                            let mut out = ptr::null_mut();
                            // SAFETY: live handles (documented as usable from several
                            // threads) and valid out-parameters.
                            let status = unsafe {
                                if t % 2 == 0 {
                                    dashauth_nonce_header(key.get(), id.get(), &mut out)
                                } else {
                                    dashauth_device_nonce_header(device.get(), &mut out)
                                }
                            };
                            expect(status, S::Ok);
                            take(out)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    // The device has its own copy of the key (restored from JSON), hence its own clock:
    // distinct per signer, which is what the server's replay check is keyed on.
    let (by_key, by_device): (Vec<_>, Vec<_>) = headers
        .iter()
        .map(|h| header_timestamp(h))
        .enumerate()
        .partition(|(i, _)| (i / 200) % 2 == 0);
    for stamps in [by_key, by_device] {
        let distinct: std::collections::HashSet<i64> = stamps.iter().map(|(_, t)| *t).collect();
        assert_eq!(distinct.len(), stamps.len());
    }
    // A tight loop on one thread: strictly increasing.
    let stamps: Vec<i64> = (0..500)
        .map(|_| {
            let mut out = ptr::null_mut();
            // SAFETY: valid pointers.
            expect(
                unsafe { dashauth_nonce_header(key.0, id.0, &mut out) },
                S::Ok,
            );
            header_timestamp(&take(out))
        })
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    // SAFETY: owned handles, freed once.
    unsafe {
        dashauth_device_key_free(key.0);
        dashauth_device_free(device.0);
    }
}

#[test]
fn generated_key_round_trips_through_pkcs8_pem() {
    let mut key = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(unsafe { dashauth_device_key_generate(&mut key) }, S::Ok);
    let mut pem = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(unsafe { dashauth_device_key_to_pem(key, &mut pem) }, S::Ok);
    let pem = take(pem);
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let mut again = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_key_from_pem(cs(&pem).as_ptr(), &mut again) },
        S::Ok,
    );
    let sign = |k| {
        let mut sig = ptr::null_mut();
        // SAFETY: valid pointers.
        expect(unsafe { dashauth_sign_nonce(k, 42, &mut sig) }, S::Ok);
        take(sig)
    };
    assert_eq!(sign(key), sign(again));
    let mut public = ptr::null_mut();
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_device_key_public_pem(again, &mut public) },
        S::Ok,
    );
    assert!(take(public).starts_with("-----BEGIN PUBLIC KEY-----"));
    // SAFETY: owned, freed once each.
    unsafe {
        dashauth_device_key_free(key);
        dashauth_device_key_free(again);
    }
}

#[test]
fn offline_device_accessors_and_save_text() {
    let device = offline_device();
    // SAFETY: a live device and valid out-parameters throughout.
    unsafe {
        assert_eq!(borrowed(dashauth_device_id(device)), DEVICE_ID);
        assert!(borrowed(dashauth_device_certificate_pem(device)).starts_with("-----BEGIN"));
        assert!(borrowed(dashauth_device_ca_certificate_pem(device)).starts_with("-----BEGIN"));
        assert_eq!(dashauth_device_expires_at(device), 4_000_000_000_000);
        let mut needs = true;
        expect(dashauth_device_needs_rotation(device, &mut needs), S::Ok);
        assert!(!needs);
        let mut header = ptr::null_mut();
        expect(dashauth_device_nonce_header(device, &mut header), S::Ok);
        assert!(take(header).starts_with(&format!("Nonce {DEVICE_ID} ")));
        let mut json = ptr::null_mut();
        expect(dashauth_device_to_json(device, &mut json), S::Ok);
        let json = take(json);
        let v: Value = serde_json::from_str(&json).expect("JSON");
        assert_eq!(v["version"], 1);
        assert_eq!(v["device_id"], DEVICE_ID);
        assert_eq!(
            v["private_key_pem"],
            vector_str("private_key_pkcs8_pem").as_str()
        );
        let mut back = ptr::null_mut();
        expect(
            dashauth_device_from_json(cs(&json).as_ptr(), &mut back),
            S::Ok,
        );
        assert_eq!(borrowed(dashauth_device_id(back)), DEVICE_ID);
        dashauth_device_free(back);
        // Unsupported format version.
        let v2 = json.replace("\"version\": 1", "\"version\": 2");
        let mut none = sentinel_handle();
        expect(
            dashauth_device_from_json(cs(&v2).as_ptr(), &mut none),
            S::InvalidArgument,
        );
        assert_eq!(none, sentinel_handle(), "out-parameter untouched");
        dashauth_device_free(device);
    }
}

#[test]
fn accessors_of_null_handles_return_safe_defaults() {
    // SAFETY: NULL is documented for these accessors.
    unsafe {
        assert_eq!(dashauth_challenge_bot_account_id(ptr::null()), 0);
        assert_eq!(borrowed(dashauth_challenge_text(ptr::null())), "");
        assert_eq!(borrowed(dashauth_challenge_id(ptr::null())), "");
        assert_eq!(borrowed(dashauth_device_id(ptr::null())), "");
        assert_eq!(borrowed(dashauth_device_certificate_pem(ptr::null())), "");
        assert_eq!(
            borrowed(dashauth_device_ca_certificate_pem(ptr::null())),
            ""
        );
        assert_eq!(dashauth_device_expires_at(ptr::null()), 0);
    }
}

/// A call whose only fault is one NULL pointer argument.
struct NullCase {
    name: &'static str,
    call: Box<dyn Fn() -> dashauth_status>,
}

fn case(name: &'static str, call: impl Fn() -> dashauth_status + 'static) -> NullCase {
    NullCase {
        name,
        call: Box::new(call),
    }
}

#[test]
fn every_null_pointer_argument_is_null_argument() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 31);
    let (c, ch, key, dev) = (
        client.0,
        challenge.0.cast_const(),
        vector_key(),
        offline_device(),
    );
    let s = |t: &str| cs(t).into_raw().cast_const(); // leaked: lives for the test
    let (url, tok, gjp2, id) = (s("http://127.0.0.1:1"), s("tok"), s("g"), s(DEVICE_ID));
    let null = ptr::null::<c_char>();
    let mut login = ptr::null_mut();
    // SAFETY: a valid login for the login_poll cases.
    expect(
        unsafe { dashauth_login_start(c, 31, gjp2, &mut login) },
        S::Ok,
    );
    let lg = SendPtr(login);
    // The offline device needs no rotation: `true` is never the answer here.
    let (mut u32_out, mut i64_out, mut bool_out) = (U32_SENTINEL, I64_SENTINEL, true);
    let (u, i, b) = (&raw mut u32_out, &raw mut i64_out, &raw mut bool_out);
    // The login is running, so Done is never a stage a poll could write here.
    let mut stage = dashauth_login_stage::Done;
    let st = &raw mut stage;
    let mut str_out: *mut c_char = sentinel_str();
    let so = &raw mut str_out;
    let (pc, pch, pl, pk, pd) = (
        ptr::null_mut::<*mut dashauth_client>(),
        ptr::null_mut::<*mut dashauth_challenge>(),
        ptr::null_mut::<*mut dashauth_login>(),
        ptr::null_mut::<*mut dashauth_device_key>(),
        ptr::null_mut::<*mut dashauth_device>(),
    );
    let (mut c_out, mut ch_out, mut l_out, mut k_out, mut d_out) = (
        sentinel_handle(),
        sentinel_handle(),
        sentinel_handle(),
        sentinel_handle(),
        sentinel_handle(),
    );
    let (co, cho, lo, ko, dout) = (
        &raw mut c_out,
        &raw mut ch_out,
        &raw mut l_out,
        &raw mut k_out,
        &raw mut d_out,
    );
    // SAFETY (all cases): every pointer is either NULL or valid.
    let cases = unsafe {
        vec![
            case("base_url", move || dashauth_client_new(null, co)),
            case("client_out", move || dashauth_client_new(url, pc)),
            case("client", move || {
                dashauth_client_set_gd_url(ptr::null_mut(), url)
            }),
            case("gd_database_url", move || {
                dashauth_client_set_gd_url(c, null)
            }),
            case("client", move || {
                dashauth_client_set_timeout_ms(ptr::null_mut(), 5)
            }),
            case("client", move || {
                dashauth_client_set_login_deadline_ms(ptr::null_mut(), 5)
            }),
            case("client", move || {
                dashauth_client_whoami(ptr::null(), tok, u, i)
            }),
            case("token", move || dashauth_client_whoami(c, null, u, i)),
            case("account_id_out", move || {
                dashauth_client_whoami(c, tok, ptr::null_mut(), i)
            }),
            case("expires_at_out", move || {
                dashauth_client_whoami(c, tok, u, ptr::null_mut())
            }),
            case("client", move || {
                dashauth_client_revoke_token(ptr::null(), tok)
            }),
            case("token", move || dashauth_client_revoke_token(c, null)),
            case("client", move || {
                dashauth_request_challenge(ptr::null(), 31, cho)
            }),
            case("challenge_out", move || {
                dashauth_request_challenge(c, 31, pch)
            }),
            case("client", move || {
                dashauth_send_gd_message(ptr::null(), ch, 31, gjp2)
            }),
            case("challenge", move || {
                dashauth_send_gd_message(c, ptr::null(), 31, gjp2)
            }),
            case("gjp2", move || dashauth_send_gd_message(c, ch, 31, null)),
            case("client", move || {
                dashauth_poll_completion(ptr::null(), ch, so)
            }),
            case("challenge", move || {
                dashauth_poll_completion(c, ptr::null(), so)
            }),
            case("token_out", move || {
                dashauth_poll_completion(c, ch, ptr::null_mut())
            }),
            case("client", move || {
                dashauth_login_start(ptr::null(), 31, gjp2, lo)
            }),
            case("gjp2", move || dashauth_login_start(c, 31, null, lo)),
            case("login_out", move || dashauth_login_start(c, 31, gjp2, pl)),
            case("login", move || {
                dashauth_login_poll(ptr::null_mut(), st, so)
            }),
            case("stage_out", move || {
                dashauth_login_poll(lg.0, ptr::null_mut(), so)
            }),
            case("token_out", move || {
                dashauth_login_poll(lg.0, st, ptr::null_mut())
            }),
            case("key_out", move || dashauth_device_key_generate(pk)),
            case("pkcs8_pem", move || dashauth_device_key_from_pem(null, ko)),
            case("key_out", move || dashauth_device_key_from_pem(url, pk)),
            case("key", move || dashauth_device_key_to_pem(ptr::null(), so)),
            case("pkcs8_pem_out", move || {
                dashauth_device_key_to_pem(key, ptr::null_mut())
            }),
            case("key", move || {
                dashauth_device_key_public_pem(ptr::null(), so)
            }),
            case("spki_pem_out", move || {
                dashauth_device_key_public_pem(key, ptr::null_mut())
            }),
            case("key", move || dashauth_sign_nonce(ptr::null(), 1, so)),
            case("signature_out", move || {
                dashauth_sign_nonce(key, 1, ptr::null_mut())
            }),
            case("key", move || dashauth_nonce_header(ptr::null(), id, so)),
            case("device_id", move || dashauth_nonce_header(key, null, so)),
            case("header_value_out", move || {
                dashauth_nonce_header(key, id, ptr::null_mut())
            }),
            case("client", move || {
                dashauth_device_enroll(ptr::null(), ch, key, tok, tok, dout)
            }),
            case("challenge", move || {
                dashauth_device_enroll(c, ptr::null(), key, tok, tok, dout)
            }),
            case("key", move || {
                dashauth_device_enroll(c, ch, ptr::null(), tok, tok, dout)
            }),
            case("name", move || {
                dashauth_device_enroll(c, ch, key, null, tok, dout)
            }),
            case("platform", move || {
                dashauth_device_enroll(c, ch, key, tok, null, dout)
            }),
            case("device_out", move || {
                dashauth_device_enroll(c, ch, key, tok, tok, pd)
            }),
            case("client", move || {
                dashauth_client_exchange_token(ptr::null(), tok, tok, so, i)
            }),
            case("bearer_token", move || {
                dashauth_client_exchange_token(c, null, tok, so, i)
            }),
            case("audience", move || {
                dashauth_client_exchange_token(c, tok, null, so, i)
            }),
            case("access_token_out", move || {
                dashauth_client_exchange_token(c, tok, tok, ptr::null_mut(), i)
            }),
            case("expires_at_out", move || {
                dashauth_client_exchange_token(c, tok, tok, so, ptr::null_mut())
            }),
            case("client", move || {
                dashauth_device_access_token(ptr::null(), dev, tok, so, i)
            }),
            case("device", move || {
                dashauth_device_access_token(c, ptr::null_mut(), tok, so, i)
            }),
            case("audience", move || {
                dashauth_device_access_token(c, dev, null, so, i)
            }),
            case("access_token_out", move || {
                dashauth_device_access_token(c, dev, tok, ptr::null_mut(), i)
            }),
            case("expires_at_out", move || {
                dashauth_device_access_token(c, dev, tok, so, ptr::null_mut())
            }),
            case("device", move || {
                dashauth_device_needs_rotation(ptr::null(), b)
            }),
            case("needs_out", move || {
                dashauth_device_needs_rotation(dev, ptr::null_mut())
            }),
            case("client", move || dashauth_device_rotate(ptr::null(), dev)),
            case("device", move || dashauth_device_rotate(c, ptr::null_mut())),
            case("client", move || {
                dashauth_device_session(ptr::null(), dev, so, i)
            }),
            case("device", move || {
                dashauth_device_session(c, ptr::null(), so, i)
            }),
            case("session_token_out", move || {
                dashauth_device_session(c, dev, ptr::null_mut(), i)
            }),
            case("expires_at_out", move || {
                dashauth_device_session(c, dev, so, ptr::null_mut())
            }),
            case("client", move || dashauth_device_me(ptr::null(), dev, u)),
            case("device", move || dashauth_device_me(c, ptr::null(), u)),
            case("account_id_out", move || {
                dashauth_device_me(c, dev, ptr::null_mut())
            }),
            case("device", move || {
                dashauth_device_nonce_header(ptr::null(), so)
            }),
            case("header_value_out", move || {
                dashauth_device_nonce_header(dev, ptr::null_mut())
            }),
            case("device", move || dashauth_device_to_json(ptr::null(), so)),
            case("json_out", move || {
                dashauth_device_to_json(dev, ptr::null_mut())
            }),
            case("json", move || dashauth_device_from_json(null, dout)),
            case("device_out", move || dashauth_device_from_json(tok, pd)),
            case("client", move || {
                dashauth_device_revoke(ptr::null(), tok, id)
            }),
            case("token", move || dashauth_device_revoke(c, null, id)),
            case("device_id", move || dashauth_device_revoke(c, tok, null)),
        ]
    };
    for NullCase { name, call } in &cases {
        let status = call();
        assert_eq!(status, S::NullArgument, "{name}: {}", last_error());
        assert!(
            last_error().contains(&format!("`{name}`")),
            "{name}: {}",
            last_error()
        );
    }
    // Nothing was written through the out-parameters of the failed calls.
    assert_eq!(c_out, sentinel_handle());
    assert_eq!(ch_out, sentinel_handle());
    assert_eq!(l_out, sentinel_handle());
    assert_eq!(k_out, sentinel_handle());
    assert_eq!(d_out, sentinel_handle());
    assert_eq!(str_out, sentinel_str());
    assert_eq!(
        (u32_out, i64_out, bool_out),
        (U32_SENTINEL, I64_SENTINEL, true)
    );
    assert_eq!(stage, dashauth_login_stage::Done);
    // SAFETY: owned handles, freed once.
    unsafe {
        dashauth_login_free(login);
        dashauth_device_key_free(key);
        dashauth_device_free(dev);
    }
}

/// Every string argument with `bad` in it fails with `expected`; out-parameters stay
/// untouched.
fn check_string_arguments(bad: &CStr, expected: dashauth_status) {
    let client = offline_client();
    let c = client.0;
    // A real challenge handle for dashauth_device_enroll, from a server of its own.
    let server = server();
    let challenge = Challenge::request(&Client::for_server(&server), 33);
    let ch = challenge.0.cast_const();
    let key = vector_key();
    let dev = offline_device();
    let bad = bad.as_ptr();
    let ok_token = cs("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG");
    let (tok, name, id) = (ok_token.as_ptr(), cs("PC"), cs(DEVICE_ID));
    let (name, id) = (name.as_ptr(), id.as_ptr());
    let mut str_out: *mut c_char = sentinel_str();
    let (mut u, mut i) = (U32_SENTINEL, I64_SENTINEL);
    let mut handle_out = sentinel_handle::<dashauth_client>();
    let mut key_out = sentinel_handle::<dashauth_device_key>();
    let mut dev_out = sentinel_handle::<dashauth_device>();
    let mut login_out = sentinel_handle::<dashauth_login>();
    // SAFETY: every pointer is valid; only the string contents are bad.
    let results = unsafe {
        [
            ("base_url", dashauth_client_new(bad, &mut handle_out)),
            ("gd_database_url", dashauth_client_set_gd_url(c, bad)),
            (
                "whoami token",
                dashauth_client_whoami(c, bad, &mut u, &mut i),
            ),
            ("revoke token", dashauth_client_revoke_token(c, bad)),
            (
                "login gjp2",
                dashauth_login_start(c, 5, bad, &mut login_out),
            ),
            ("pkcs8_pem", dashauth_device_key_from_pem(bad, &mut key_out)),
            ("device_id", dashauth_nonce_header(key, bad, &mut str_out)),
            (
                "name",
                dashauth_device_enroll(c, ch, key, bad, name, &mut dev_out),
            ),
            (
                "platform",
                dashauth_device_enroll(c, ch, key, name, bad, &mut dev_out),
            ),
            ("json", dashauth_device_from_json(bad, &mut dev_out)),
            (
                "exchange token",
                dashauth_client_exchange_token(c, bad, name, &mut str_out, &mut i),
            ),
            (
                "exchange audience",
                dashauth_client_exchange_token(c, tok, bad, &mut str_out, &mut i),
            ),
            (
                "device access token audience",
                dashauth_device_access_token(c, dev, bad, &mut str_out, &mut i),
            ),
            ("revoke device token", dashauth_device_revoke(c, bad, id)),
            ("revoke device_id", dashauth_device_revoke(c, tok, bad)),
        ]
    };
    for (what, status) in results {
        assert_eq!(status, expected, "{what}");
    }
    assert_eq!(handle_out, sentinel_handle());
    assert_eq!(key_out, sentinel_handle());
    assert_eq!(dev_out, sentinel_handle());
    assert_eq!(login_out, sentinel_handle());
    assert_eq!(str_out, sentinel_str());
    assert_eq!((u, i), (U32_SENTINEL, I64_SENTINEL));
    // SAFETY: owned handles, freed once.
    unsafe {
        dashauth_device_key_free(key);
        dashauth_device_free(dev);
    }
}

#[test]
fn invalid_utf8_strings_are_invalid_arguments() {
    check_string_arguments(c"\xff\xfe bad", S::InvalidArgument);
    let mut client = ptr::null_mut();
    // SAFETY: valid pointers; invalid UTF-8 content.
    let status = unsafe { dashauth_client_new(c"http://\xc3(".as_ptr(), &mut client) };
    expect(status, S::InvalidArgument);
    assert!(
        last_error().contains("`base_url` is not valid UTF-8"),
        "{}",
        last_error()
    );
}

#[test]
fn empty_strings_are_invalid_arguments() {
    check_string_arguments(c"", S::InvalidArgument);
}

#[test]
fn one_mebibyte_strings_are_refused_without_harm() {
    let huge = cs(&"a".repeat(1 << 20));
    check_string_arguments(&huge, S::InvalidArgument);
}

#[test]
fn gjp2_of_the_three_steps_is_checked_before_any_request() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 32);
    for bad in [String::new(), "a".repeat(1 << 20), "has space".into()] {
        expect(challenge.send(&client, 32, &bad), S::InvalidArgument);
    }
    // SAFETY: valid pointers; invalid UTF-8 content.
    let status =
        unsafe { dashauth_send_gd_message(client.ptr(), challenge.0, 32, c"\xc3".as_ptr()) };
    expect(status, S::InvalidArgument);
    expect(challenge.send(&client, 0, &gjp2_of(32)), S::InvalidArgument);
}

#[test]
fn out_of_range_numbers_are_invalid_arguments() {
    let client = offline_client();
    let mut challenge = sentinel_handle();
    let mut login = sentinel_handle();
    // SAFETY: valid pointers.
    unsafe {
        expect(
            dashauth_client_set_timeout_ms(client.0, 0),
            S::InvalidArgument,
        );
        expect(
            dashauth_client_set_timeout_ms(client.0, 600_001),
            S::InvalidArgument,
        );
        expect(
            dashauth_client_set_login_deadline_ms(client.0, 0),
            S::InvalidArgument,
        );
        expect(
            dashauth_client_set_login_deadline_ms(client.0, 3_600_001),
            S::InvalidArgument,
        );
        expect(
            dashauth_request_challenge(client.0, 0, &mut challenge),
            S::InvalidArgument,
        );
        expect(
            dashauth_request_challenge(client.0, 2_147_483_648, &mut challenge),
            S::InvalidArgument,
        );
        expect(
            dashauth_login_start(client.0, 0, cs("g").as_ptr(), &mut login),
            S::InvalidArgument,
        );
        expect(
            dashauth_client_set_gd_url(client.0, cs("ftp://x/database").as_ptr()),
            S::InvalidArgument,
        );
        let mut other = sentinel_handle();
        expect(
            dashauth_client_new(cs("http://example.com").as_ptr(), &mut other),
            S::InvalidArgument,
        );
        assert_eq!(other, sentinel_handle());
        assert!(last_error().contains("https"), "{}", last_error());
    }
    assert_eq!(challenge, sentinel_handle());
    assert_eq!(login, sentinel_handle());
}
