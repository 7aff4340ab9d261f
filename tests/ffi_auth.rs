//! The one-call sign-in through the C API (`dashauth_auth_start`, issue 10), against the
//! reference server and its GD emulator: the first sign-in verifies by GD message and
//! enrols a device, the next ones use it without any GD request; the credential store
//! file shared by processes, recovered when corrupt; a revoked device falling back to GD;
//! rotation; a device clock three hours off; the bot's ETA; hostile arguments.

mod ffi_common;

use base64::Engine;
use dashauth::ffi::client::*;
use dashauth::ffi::login::*;
use dashauth::server::{Config, ServerHandle};
use ffi_common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr;
use std::time::{Duration, Instant};

const AUDIENCE: &str = "me.mymod";
const STAGE_LIMIT: Duration = Duration::from_secs(30);

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dashauth-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn set_store(client: &Client, path: &Path) -> dashauth_status {
    let path = cs(path.to_str().expect("UTF-8 test path"));
    // SAFETY: a live client and a valid string.
    unsafe { dashauth_client_set_credential_store(client.0, path.as_ptr()) }
}

fn client_with_store(server: &ServerHandle, store: &Path) -> Client {
    let client = Client::for_server(server);
    expect(set_store(&client, store), S::Ok);
    client
}

/// A fresh server, and a client of it with a credential store in a fresh directory.
fn with_store(name: &str) -> (ServerHandle, PathBuf, Client) {
    let server = server();
    let store = scratch_dir(name).join("credentials.json");
    let client = client_with_store(&server, &store);
    (server, store, client)
}

fn clock_offset(client: &Client) -> i64 {
    let mut offset = I64_SENTINEL;
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_client_clock_offset_ms(client.ptr(), &mut offset) },
        S::Ok,
    );
    offset
}

/// A finished sign-in: the stages it went through, its access token, and whether it
/// sent a GD message (counted at the emulator: stages last too little to be seen).
struct SignedIn {
    stages: Vec<dashauth_login_stage>,
    token: String,
    gd_messages: u64,
}

impl SignedIn {
    fn sent_a_gd_message(&self) -> bool {
        self.gd_messages > 0
    }
}

fn uploads(server: &ServerHandle) -> u64 {
    server.metrics().emulator_count("uploadGJMessage20.php")
}

fn sign_in_at(server: &ServerHandle, client: &Client, account_id: u32) -> SignedIn {
    let before = uploads(server);
    let login = Login::authenticate(client, account_id, &gjp2_of(account_id), AUDIENCE);
    let (status, stages, token, _) = login.finish(STAGE_LIMIT);
    expect(status, S::Ok);
    SignedIn {
        stages,
        token: token.expect("a token on OK"),
        gd_messages: uploads(server) - before,
    }
}

/// The claims of a JWT (not verified here: tests/server_tokens.rs verifies them with a
/// JWT library against the JWKS).
fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn assert_access_token_for(token: &str, account_id: u32) {
    let claims = claims(token);
    assert_eq!(claims["sub"], account_id.to_string(), "{claims}");
    assert_eq!(claims["aud"], AUDIENCE, "{claims}");
}

/// The store file's entries.
fn entries(store: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(store).expect("the store file exists");
    let file: serde_json::Value = serde_json::from_str(&text).expect("the store is JSON");
    file["entries"].as_array().cloned().unwrap_or_default()
}

fn stored_device_id(store: &Path, account_id: u32) -> Option<String> {
    entries(store)
        .iter()
        .find(|e| e["account_id"] == account_id)
        .and_then(|e| e["device"]["device_id"].as_str().map(str::to_string))
}

/// The emulator's request count once the bot has finished with earlier logins (its
/// last pass deletes what it read).
fn quiet_gd_count(server: &ServerHandle) -> u64 {
    let mut last = server.emulator_request_count();
    loop {
        std::thread::sleep(Duration::from_millis(400));
        let now = server.emulator_request_count();
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn the_first_sign_in_verifies_by_gd_and_the_next_uses_the_stored_device_without_gd() {
    let (server, store, client) = with_store("first-second");

    let first = sign_in_at(&server, &client, 7001);
    assert!(first.sent_a_gd_message(), "{:?}", first.stages);
    // Stages go by faster than a poll on loopback; those seen come in this order.
    use dashauth_login_stage as Stage;
    let order = [
        Stage::SigningInWithDevice,
        Stage::RequestingChallenge,
        Stage::SendingMessage,
        Stage::WaitingForBot,
        Stage::EnrollingDevice,
        Stage::CleaningUp,
        Stage::Done,
    ];
    let mut rest = order.iter();
    assert!(
        first.stages.iter().all(|s| rest.any(|o| o == s)),
        "{:?}",
        first.stages
    );
    assert_access_token_for(&first.token, 7001);
    let device = stored_device_id(&store, 7001).expect("the new device is stored");
    let text = std::fs::read_to_string(&store).expect("store");
    assert!(
        !text.contains(&gjp2_of(7001)),
        "the store never holds a gjp2"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&store)
            .expect("store")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    let before = quiet_gd_count(&server);
    let second = sign_in_at(&server, &client, 7001);
    assert_eq!(
        second.stages,
        vec![
            dashauth_login_stage::SigningInWithDevice,
            dashauth_login_stage::Done
        ]
    );
    assert_access_token_for(&second.token, 7001);
    // Another mod (another client) naming the same file needs no GD message either.
    let other_mod = client_with_store(&server, &store);
    let third = sign_in_at(&server, &other_mod, 7001);
    assert!(!third.sent_a_gd_message(), "{:?}", third.stages);
    assert_eq!(
        server.emulator_request_count(),
        before,
        "no GD request at all"
    );
    assert_eq!(stored_device_id(&store, 7001), Some(device));
}

#[test]
fn a_missing_store_directory_is_created_when_the_store_is_named() {
    let server = server();
    let dir = scratch_dir("missing-dir");
    let store = dir.join("dashauth").join("credentials.json");
    let client = client_with_store(&server, &store);
    assert!(dir.join("dashauth").is_dir());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("dashauth"))
            .expect("dir")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    assert!(sign_in_at(&server, &client, 7011).sent_a_gd_message());
    assert!(stored_device_id(&store, 7011).is_some());
}

#[test]
fn without_a_store_a_device_lives_as_long_as_the_client() {
    let server = server();
    let client = Client::for_server(&server);
    assert!(sign_in_at(&server, &client, 7002).sent_a_gd_message());
    assert!(!sign_in_at(&server, &client, 7002).sent_a_gd_message());
    let fresh = Client::for_server(&server);
    assert!(sign_in_at(&server, &fresh, 7002).sent_a_gd_message());
}

#[test]
fn a_revoked_device_is_forgotten_and_one_gd_message_enrols_a_new_one() {
    let (server, store, client) = with_store("revoked");
    sign_in_at(&server, &client, 7003);
    let revoked = stored_device_id(&store, 7003).expect("stored");
    let token = token_for(&client, 7003);
    // SAFETY: valid pointers.
    let status = unsafe {
        dashauth::ffi::device::dashauth_device_revoke(
            client.ptr(),
            cs(&token).as_ptr(),
            cs(&revoked).as_ptr(),
        )
    };
    expect(status, S::Ok);

    let again = sign_in_at(&server, &client, 7003);
    assert!(again.sent_a_gd_message(), "{:?}", again.stages);
    assert_eq!(
        again.stages.first(),
        Some(&dashauth_login_stage::SigningInWithDevice)
    );
    assert_access_token_for(&again.token, 7003);
    let new = stored_device_id(&store, 7003).expect("a new device is stored");
    assert_ne!(new, revoked);
    assert!(!sign_in_at(&server, &client, 7003).sent_a_gd_message());
}

#[test]
fn a_corrupt_store_is_moved_aside_and_the_sign_in_goes_on_through_gd() {
    let server = server();
    let dir = scratch_dir("corrupt");
    let store = dir.join("credentials.json");
    let garbage = b"{\"format\": \"dashauth-credentials\", \"version\": 1, \"entr";
    std::fs::write(&store, garbage).expect("write");
    let client = client_with_store(&server, &store);

    let signed = sign_in_at(&server, &client, 7004);
    assert!(signed.sent_a_gd_message());
    assert!(stored_device_id(&store, 7004).is_some());
    let aside: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).expect("aside"), garbage);
    assert!(!sign_in_at(&server, &client, 7004).sent_a_gd_message());
}

#[test]
fn a_device_with_ninety_days_left_is_rotated_during_the_sign_in() {
    // Certificates of 80 days: every device is due for rotation at once.
    let server = server_with(Config {
        certificate_validity: Duration::from_secs(80 * 24 * 3600),
        ..Config::default()
    });
    let dir = scratch_dir("rotate");
    let store = dir.join("credentials.json");
    let client = client_with_store(&server, &store);
    sign_in_at(&server, &client, 7005);
    let certificate = |store: &Path| {
        entries(store)
            .iter()
            .find(|e| e["account_id"] == 7005)
            .map(|e| e["device"]["certificate"].clone())
    };
    let (device, before) = (stored_device_id(&store, 7005), certificate(&store));

    let again = sign_in_at(&server, &client, 7005);
    assert!(!again.sent_a_gd_message(), "{:?}", again.stages);
    assert_eq!(stored_device_id(&store, 7005), device, "same device id");
    assert_ne!(certificate(&store), before, "a new certificate is stored");
    // The rotated key (from the file, in a fresh client) works.
    let fresh = client_with_store(&server, &store);
    assert!(!sign_in_at(&server, &fresh, 7005).sent_a_gd_message());
}

#[test]
fn a_device_clock_three_hours_off_still_signs_in() {
    let three_hours: i64 = 3 * 3600 * 1000;
    for offset in [three_hours, -three_hours] {
        // The server's clock is off instead of ours: the same thing, seen from the
        // library, without touching the machine's clock.
        let server = server_with(Config {
            clock_offset_ms: offset,
            ..Config::default()
        });
        let dir = scratch_dir(&format!("clock{offset}"));
        let store = dir.join("credentials.json");
        let client = client_with_store(&server, &store);
        assert_eq!(clock_offset(&client), 0, "nothing learned yet");
        let first = sign_in_at(&server, &client, 7006);
        assert!(first.sent_a_gd_message());
        let learned = clock_offset(&client);
        assert!(
            (learned - offset).abs() < 3_000,
            "learned {learned} from the Date headers, expected about {offset}"
        );

        // A new client knows nothing: its first nonce is refused as clock skew, the
        // refusal gives the server's time, and the nonce is signed again once.
        let fresh = client_with_store(&server, &store);
        let before = quiet_gd_count(&server);
        let second = sign_in_at(&server, &fresh, 7006);
        assert!(!second.sent_a_gd_message(), "{:?}", second.stages);
        assert_eq!(server.emulator_request_count(), before);
        assert!((clock_offset(&fresh) - offset).abs() < 3_000);
    }
}

#[test]
fn while_waiting_for_the_bot_the_login_says_when_it_reads_its_inbox() {
    let server = server_with(Config {
        poll_interval: Duration::from_secs(4),
        ..Config::default()
    });
    let client = Client::for_server(&server);
    // The bot has just read its inbox for another player: it reads it next in about 4 s,
    // after the library's 2 s long poll has ended pending.
    sign_in_at(&server, &client, 7009);
    let login = Login::authenticate(&client, 7007, &gjp2_of(7007), AUDIENCE);
    assert_eq!(login.eta_ms(), -1, "not waiting for the bot yet");
    let until = Instant::now() + STAGE_LIMIT;
    let mut etas = Vec::new();
    loop {
        let (status, stage, _, _) = login.poll();
        if status != S::Pending {
            expect(status, S::Ok);
            break;
        }
        let eta = login.eta_ms();
        if stage == dashauth_login_stage::WaitingForBot && eta >= 0 {
            etas.push(eta);
        }
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!etas.is_empty(), "an estimate while waiting for the bot");
    assert!(etas.iter().all(|eta| *eta <= 4_000), "{etas:?}");
    assert_eq!(login.eta_ms(), -1, "no estimate once done");
}

/// Run by [`two_processes_share_one_store_file`] in child processes: signs in the
/// accounts in `DASHAUTH_TEST_ACCOUNTS` against `DASHAUTH_TEST_SERVER`.
#[test]
#[ignore = "a child process of two_processes_share_one_store_file"]
fn child_signs_in_for_a_parent_test() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let (server, gd, store, accounts) = (
        var("DASHAUTH_TEST_SERVER"),
        var("DASHAUTH_TEST_GD"),
        var("DASHAUTH_TEST_STORE"),
        var("DASHAUTH_TEST_ACCOUNTS"),
    );
    let client = Client::new(&server, &gd);
    expect(set_store(&client, Path::new(&store)), S::Ok);
    for _ in 0..2 {
        for account in accounts.split(',') {
            let account: u32 = account.parse().expect("account id");
            let login = Login::authenticate(&client, account, &gjp2_of(account), AUDIENCE);
            let (status, _, token, _) = login.finish(STAGE_LIMIT);
            expect(status, S::Ok);
            assert_access_token_for(&token.expect("a token on OK"), account);
        }
    }
}

#[test]
fn two_processes_share_one_store_file() {
    let server = server();
    let dir = scratch_dir("processes");
    let store = dir.join("credentials.json");
    let children = |accounts: [&str; 2]| {
        accounts.map(|accounts| {
            Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "--ignored",
                    "--exact",
                    "child_signs_in_for_a_parent_test",
                    "--nocapture",
                ])
                .env("DASHAUTH_TEST_SERVER", server.base_url())
                .env("DASHAUTH_TEST_GD", server.gd_url())
                .env("DASHAUTH_TEST_STORE", &store)
                .env("DASHAUTH_TEST_ACCOUNTS", accounts)
                .spawn()
                .expect("child starts")
        })
    };
    // Each process enrols its own accounts and both share 7100, at the same time.
    for mut child in children(["7101,7102,7100", "7103,7104,7100"]) {
        assert!(child.wait().expect("child ends").success());
    }
    let stored: Vec<u64> = entries(&store)
        .iter()
        .filter_map(|e| e["account_id"].as_u64())
        .collect();
    for account in [7100, 7101, 7102, 7103, 7104] {
        assert!(stored.contains(&account), "{account} in {stored:?}");
    }
    // Every stored device works, without a GD message, from a third process (this one).
    let client = client_with_store(&server, &store);
    for account in [7100, 7101, 7102, 7103, 7104] {
        assert!(
            !sign_in_at(&server, &client, account).sent_a_gd_message(),
            "{account}"
        );
    }
}

#[test]
fn hostile_arguments_are_refused_with_a_status() {
    let server = server();
    let client = Client::for_server(&server);
    let huge = "a".repeat(1 << 20);
    let (gjp2, audience) = (cs(&gjp2_of(7008)), cs(AUDIENCE));
    let bad_utf8 = [0xffu8, 0xfe, 0];
    let start = |client: *const dashauth_client,
                 account: u32,
                 gjp2: *const std::ffi::c_char,
                 audience: *const std::ffi::c_char| {
        let mut login = sentinel_handle();
        // SAFETY: every pointer is NULL or valid.
        let status = unsafe { dashauth_auth_start(client, account, gjp2, audience, &mut login) };
        assert_eq!(login, sentinel_handle(), "out-parameter untouched");
        status
    };
    let c = client.ptr();
    expect(
        start(ptr::null(), 7008, gjp2.as_ptr(), audience.as_ptr()),
        S::NullArgument,
    );
    expect(
        start(c, 7008, ptr::null(), audience.as_ptr()),
        S::NullArgument,
    );
    expect(start(c, 7008, gjp2.as_ptr(), ptr::null()), S::NullArgument);
    expect(
        start(c, 0, gjp2.as_ptr(), audience.as_ptr()),
        S::InvalidArgument,
    );
    for bad in [cs(""), cs("has space"), cs(&huge), cs(&"a".repeat(129))] {
        expect(
            start(c, 7008, gjp2.as_ptr(), bad.as_ptr()),
            S::InvalidArgument,
        );
    }
    expect(
        start(c, 7008, gjp2.as_ptr(), bad_utf8.as_ptr().cast()),
        S::InvalidArgument,
    );
    expect(
        start(c, 7008, cs(&huge).as_ptr(), audience.as_ptr()),
        S::InvalidArgument,
    );
    // SAFETY: NULL out-parameter.
    expect(
        unsafe { dashauth_auth_start(c, 7008, gjp2.as_ptr(), audience.as_ptr(), ptr::null_mut()) },
        S::NullArgument,
    );

    // The credential store path.
    let dir = scratch_dir("hostile");
    // SAFETY: NULL client, NULL path, bad UTF-8.
    unsafe {
        expect(
            dashauth_client_set_credential_store(ptr::null_mut(), cs("x").as_ptr()),
            S::NullArgument,
        );
        expect(
            dashauth_client_set_credential_store(client.0, ptr::null()),
            S::NullArgument,
        );
        expect(
            dashauth_client_set_credential_store(client.0, bad_utf8.as_ptr().cast()),
            S::InvalidArgument,
        );
    }
    expect(set_store(&client, Path::new("")), S::InvalidArgument);
    expect(set_store(&client, &dir), S::InvalidArgument);
    expect(set_store(&client, Path::new(&huge)), S::InvalidArgument);
    // A file where the directory should be: nothing can be stored there.
    let not_a_dir = dir.join("a-file");
    std::fs::write(&not_a_dir, b"x").expect("write");
    expect(
        set_store(&client, &not_a_dir.join("credentials.json")),
        S::Store,
    );
    assert!(last_error().contains("a-file"), "{}", last_error());
    // A refused path leaves the client as it was: still signing in, in memory.
    assert!(sign_in_at(&server, &client, 7008).sent_a_gd_message());
    assert!(!sign_in_at(&server, &client, 7008).sent_a_gd_message());

    // The clock offset and the ETA.
    let mut offset = I64_SENTINEL;
    // SAFETY: NULL client or NULL out-parameter.
    unsafe {
        expect(
            dashauth_client_clock_offset_ms(ptr::null(), &mut offset),
            S::NullArgument,
        );
        expect(
            dashauth_client_clock_offset_ms(client.ptr(), ptr::null_mut()),
            S::NullArgument,
        );
        assert_eq!(offset, I64_SENTINEL);
        expect(
            dashauth_login_eta_ms(ptr::null(), &mut offset),
            S::NullArgument,
        );
    }
    let login = Login::authenticate(&client, 7008, &gjp2_of(7008), AUDIENCE);
    // SAFETY: NULL out-parameter.
    expect(
        unsafe { dashauth_login_eta_ms(login.0, ptr::null_mut()) },
        S::NullArgument,
    );
}

#[test]
fn a_refused_gd_message_is_diagnosed_in_the_one_call_sign_in_too() {
    let server = server();
    // The emulator ties account 7010 to the first gjp2 it sees.
    sign_in_at(&server, &Client::for_server(&server), 7010);
    let fresh = Client::for_server(&server);
    let login = Login::authenticate(&fresh, 7010, "stale-gjp2", AUDIENCE);
    let (status, _, token, _) = login.finish(STAGE_LIMIT);
    expect(status, S::GdBadCredentials);
    assert!(token.is_none());
    assert!(
        last_error().contains("log out and back in"),
        "{}",
        last_error()
    );
}
