//! The diagnosis of GD's `-1` against GD answers the emulator does not give: a private
//! server without `getGJUserInfo20.php`, a profile that says the bot is open, a
//! diagnosis request that fails, and one too slow for the login's deadline. The
//! emulator's own conditions are in `ffi_diagnosis.rs`.

mod server_support;

use dashauth::client::{Client, Gjp2};
use dashauth::error::Error;
use dashauth::gd::endpoint;
use dashauth::login::{Login, Progress};
use dashauth::protocol::AccountId;
use dashauth::server::ServerHandle;
use server_support::fake_gd::FakeGd;
use server_support::start_server;
use std::time::{Duration, Instant};

const PLAYER: u32 = 6101;
const GJP2: &str = "0123456789abcdef0123456789abcdef01234567";

/// A GD that refuses every upload with `-1` and answers the diagnosis requests with
/// `outbox`, `blocks` and `profile`.
fn refusing_gd(outbox: &str, blocks: &str, profile: &str) -> FakeGd {
    let (outbox, blocks, profile) = (outbox.to_string(), blocks.to_string(), profile.to_string());
    FakeGd::start(move |file, _| match file {
        endpoint::GET_MESSAGES => outbox.clone(),
        endpoint::GET_USER_LIST => blocks.clone(),
        endpoint::GET_USER_INFO => profile.clone(),
        _ => "-1".to_string(),
    })
}

fn client(server: &ServerHandle, gd: &FakeGd) -> Client {
    Client::new(&server.base_url())
        .and_then(|c| c.with_gd_url(&gd.url))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Sends the verification message for a fresh challenge: the error it ends with.
fn send(server: &ServerHandle, gd: &FakeGd) -> Error {
    let client = client(server, gd);
    let player = AccountId::new(PLAYER).unwrap_or_else(|e| panic!("{e}"));
    let gjp2 = Gjp2::parse(GJP2).unwrap_or_else(|e| panic!("{e}"));
    let challenge = client
        .request_challenge(player)
        .unwrap_or_else(|e| panic!("{e}"));
    match client.send_gd_message(&challenge, player, &gjp2) {
        Ok(()) => panic!("the fake GD accepted the message"),
        Err(e) => e,
    }
}

/// The bot's profile with message setting `ms`.
fn profile(server: &ServerHandle, ms: u8) -> String {
    let bot = server.bot_account_id();
    format!("1:DashAuthBot:2:100000:13:0:17:0:18:{ms}:19:0:16:{bot}:31:0:44::45:")
}

#[test]
fn without_a_profile_endpoint_what_remains_is_the_bots_setting() {
    let server = start_server(|_| {});
    for unsupported in ["-1", "endpoint not implemented"] {
        let gd = refusing_gd("-2", "-2", unsupported);
        let error = send(&server, &gd);
        assert!(
            matches!(&error, Error::GdMessagesRefused(m) if m.contains("operator")),
            "{unsupported:?}: {error:?}"
        );
    }
}

#[test]
fn without_a_profile_a_player_with_sent_messages_is_told_to_delete_some() {
    let server = start_server(|_| {});
    let bot = server.bot_account_id();
    let outbox = format!("6:DashAuthBot:3:100000:2:{bot}:1:9:4:YQ==:8:0:9:1:7:1 day#37:0:50");
    let gd = refusing_gd(&outbox, "-2", "-1");
    let error = send(&server, &gd);
    assert!(
        matches!(&error, Error::GdOutboxFull(m) if m.contains("37 sent messages")),
        "{error:?}"
    );
}

#[test]
fn a_bot_open_to_messages_leaves_the_refusal_unexplained_after_three_questions() {
    let server = start_server(|_| {});
    let gd = refusing_gd("-2", "-2", &profile(&server, 0));
    let error = send(&server, &gd);
    assert!(
        matches!(&error, Error::GdRejected(m) if m.contains("Refresh Login")),
        "{error:?}"
    );
    for file in [
        endpoint::GET_MESSAGES,
        endpoint::GET_USER_LIST,
        endpoint::GET_USER_INFO,
    ] {
        let asked = gd.requests(file);
        assert_eq!(asked.len(), 1, "{file} asked once");
        assert_eq!(asked[0].field("accountID"), Some("6101"), "{file}");
        assert_eq!(asked[0].field("gjp2"), Some(GJP2), "{file}: as the player");
    }
    let outbox = &gd.requests(endpoint::GET_MESSAGES)[0];
    assert_eq!(outbox.field("getSent"), Some("1"));
    assert_eq!(
        gd.requests(endpoint::GET_USER_LIST)[0].field("type"),
        Some("1")
    );
    let bot = server.bot_account_id().to_string();
    let profile_asked = &gd.requests(endpoint::GET_USER_INFO)[0];
    assert_eq!(profile_asked.field("targetAccountID"), Some(bot.as_str()));
}

#[test]
fn a_profile_setting_wins_over_a_full_outbox() {
    let server = start_server(|_| {});
    let outbox = "1:9:2:5:4:YQ==:7:1 day#50:0:50";
    let gd = refusing_gd(outbox, "-2", &profile(&server, 2));
    let error = send(&server, &gd);
    assert!(
        matches!(&error, Error::GdMessagesRefused(m) if m.contains("accepts no messages")),
        "{error:?}"
    );
}

#[test]
fn a_failed_diagnosis_request_keeps_gd_rejected() {
    let server = start_server(|_| {});
    let page = "<!DOCTYPE html><html><title>Service unavailable</title></html>";
    for (outbox, blocks) in [(page, "-2"), ("-2", page), ("-2", "1:x:2:y")] {
        let gd = refusing_gd(outbox, blocks, &profile(&server, 2));
        let error = send(&server, &gd);
        assert!(
            matches!(&error, Error::GdRejected(m) if m.contains("Refresh Login")),
            "{outbox:?}, {blocks:?}: {error:?}"
        );
        assert!(
            gd.requests(endpoint::GET_USER_INFO).is_empty(),
            "the diagnosis stops at the first unanswered question"
        );
    }
}

#[test]
fn a_diagnosis_too_slow_for_the_deadline_still_reports_the_refusal() {
    let server = start_server(|_| {});
    // The outbox request hangs far past the login's deadline.
    let gd = FakeGd::start(|file, _| {
        if file == endpoint::GET_MESSAGES {
            std::thread::sleep(Duration::from_secs(20));
        }
        "-1".to_string()
    });
    let client = client(&server, &gd)
        .with_login_deadline(Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("{e}"));
    let player = AccountId::new(PLAYER).unwrap_or_else(|e| panic!("{e}"));
    let gjp2 = Gjp2::parse(GJP2).unwrap_or_else(|e| panic!("{e}"));
    let login = Login::start(client, player, gjp2).unwrap_or_else(|e| panic!("{e}"));
    let guard = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        match login.poll() {
            Progress::Running(_) if Instant::now() < guard => {
                std::thread::sleep(Duration::from_millis(10))
            }
            other => break other,
        }
    };
    assert!(
        matches!(&outcome, Progress::Failed(Error::GdRejected(_))),
        "the -1, not TIMED_OUT: {outcome:?}"
    );
}
