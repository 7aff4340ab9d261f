//! What a `-1` from GD meant, through the C API: each GD_* status of the diagnosis
//! (protocol.md section 6) produced by the emulator's real condition, with its fix-it
//! advice in dashauth_last_error_message, through dashauth_login_start/poll and
//! dashauth_send_gd_message. Once the condition is lifted, the same login succeeds.

mod ffi_common;

use dashauth::ffi::login::*;
use dashauth::gd::{self, endpoint};
use dashauth::gd_client::GdClient;
use dashauth::http::Http;
use dashauth::server::{Config, GdFault, ServerHandle};
use ffi_common::*;
use std::ptr;
use std::time::{Duration, Instant};

/// A whole login through the C API: its final status and dashauth_last_error_message.
fn login(client: &Client, account_id: u32, gjp2: &str) -> (dashauth_status, String) {
    let mut login = ptr::null_mut();
    // SAFETY: valid pointers.
    let status =
        unsafe { dashauth_login_start(client.ptr(), account_id, cs(gjp2).as_ptr(), &mut login) };
    expect(status, S::Ok);
    let until = Instant::now() + Duration::from_secs(30);
    let outcome = loop {
        let mut stage = dashauth_login_stage::Failed;
        let mut token = ptr::null_mut();
        // SAFETY: a live login and writable out-parameters.
        let status = unsafe { dashauth_login_poll(login, &mut stage, &mut token) };
        if status == S::Ok {
            take(token);
        }
        if status != S::Pending {
            break (status, last_error());
        }
        assert!(Instant::now() < until, "login still running at {stage:?}");
        std::thread::sleep(Duration::from_millis(5));
    };
    // SAFETY: a live login, freed once.
    unsafe { dashauth_login_free(login) };
    outcome
}

/// A form posted to the emulator as `account_id` (with `gjp2`): the answer's body.
fn post_as(
    server: &ServerHandle,
    account_id: u32,
    gjp2: &str,
    endpoint: &str,
    extra: &[(&str, &str)],
) -> String {
    let id = account_id.to_string();
    let mut fields = vec![
        ("accountID", id.as_str()),
        ("gjp2", gjp2),
        ("secret", gd::SECRET),
    ];
    fields.extend_from_slice(extra);
    let url = format!("{}/{endpoint}", server.gd_url());
    Http::new(Duration::from_secs(5))
        .post_form(&url, &gd::form_encode(&fields))
        .unwrap_or_else(|e| panic!("{endpoint}: {e}"))
        .body
}

/// Sets the bot's message setting (`mS`) with the bot's own credentials, as its owner
/// would in the game.
fn set_bot_messages(server: &ServerHandle, setting: &str) {
    let bot_gjp2 = Config::default().bot_gjp2;
    let answer = post_as(
        server,
        server.bot_account_id(),
        &bot_gjp2,
        endpoint::UPDATE_ACCOUNT_SETTINGS,
        &[("mS", setting)],
    );
    assert_eq!(answer, "1");
}

#[test]
fn a_stale_saved_login_is_gd_bad_credentials() {
    let server = server();
    let client = Client::for_server(&server);
    expect(login(&client, 5101, &gjp2_of(5101)).0, S::Ok);
    // The emulator now binds account 5101 to that gjp2, as GD does after a password
    // change: the game's saved one no longer works.
    let (status, message) = login(&client, 5101, "an-old-gjp2");
    expect(status, S::GdBadCredentials);
    assert!(message.contains("log out and back in"), "{message}");
    assert!(message.contains("Settings > Account"), "{message}");
}

#[test]
fn a_bot_on_the_players_block_list_is_gd_bot_blocked() {
    let server = server();
    let client = Client::for_server(&server);
    let (player, gjp2) = (5201, gjp2_of(5201));
    let bot = server.bot_account_id().to_string();
    let target = [("targetAccountID", bot.as_str())];
    assert_eq!(
        post_as(&server, player, &gjp2, endpoint::BLOCK_USER, &target),
        "1"
    );
    let (status, message) = login(&client, player, &gjp2);
    expect(status, S::GdBotBlocked);
    assert!(message.contains("unblock"), "{message}");
    assert!(message.contains(&bot), "names the bot account: {message}");

    assert_eq!(
        post_as(&server, player, &gjp2, endpoint::UNBLOCK_USER, &target),
        "1"
    );
    expect(login(&client, player, &gjp2).0, S::Ok);
}

#[test]
fn a_bot_that_takes_no_messages_is_gd_messages_refused() {
    let server = server();
    let client = Client::for_server(&server);
    set_bot_messages(&server, "2");
    let (status, message) = login(&client, 5301, &gjp2_of(5301));
    expect(status, S::GdMessagesRefused);
    assert!(message.contains("accepts no messages"), "{message}");
    assert!(message.contains("operator"), "{message}");
    assert!(message.contains("\"All\""), "{message}");

    // The same through dashauth_send_gd_message, with "friends only".
    set_bot_messages(&server, "1");
    let challenge = Challenge::request(&client, 5302);
    expect(
        challenge.send(&client, 5302, &gjp2_of(5302)),
        S::GdMessagesRefused,
    );
    assert!(last_error().contains("friends only"), "{}", last_error());

    set_bot_messages(&server, "0");
    expect(challenge.send(&client, 5302, &gjp2_of(5302)), S::Ok);
}

#[test]
fn a_full_outbox_is_gd_outbox_full() {
    let server = server_with(Config {
        emulator_outbox_limit: Some(2),
        ..Config::default()
    });
    let client = Client::for_server(&server);
    let (player, gjp2, friend) = (5401, gjp2_of(5401), 5402);
    let gd = GdClient::for_player(Http::new(Duration::from_secs(5)), &server.gd_url());
    gd.get_messages(friend, &gjp2_of(friend), 0, false)
        .unwrap_or_else(|e| panic!("the friend's account: {e}"));
    for subject in ["one", "two"] {
        gd.upload_message(player, &gjp2, friend, subject, "hi")
            .unwrap_or_else(|e| panic!("{subject}: {e}"));
    }
    let (status, message) = login(&client, player, &gjp2);
    expect(status, S::GdOutboxFull);
    assert!(message.contains("2 sent messages"), "{message}");
    assert!(message.contains("Messages > Sent"), "{message}");

    let sent = gd
        .get_messages(player, &gjp2, 0, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let ids: Vec<u64> = sent.messages.iter().map(|m| m.id).collect();
    gd.delete_messages(player, &gjp2, &ids, true)
        .unwrap_or_else(|e| panic!("{e}"));
    expect(login(&client, player, &gjp2).0, S::Ok);
}

#[test]
fn cdn_blocks_and_robtops_no_are_gd_blocked() {
    let server = server_with(Config {
        gd_fault_rate: 1.0,
        ..Config::default()
    });
    let client = Client::for_server(&server);
    for (kind, account) in [(GdFault::CdnBlocked, 5501), (GdFault::RobtopNo, 5502)] {
        server.set_gd_fault_kinds(&[kind]);
        let (status, message) = login(&client, account, &gjp2_of(account));
        expect(status, S::GdBlocked);
        assert!(
            message.contains("waiting does not help"),
            "{kind:?}: {message}"
        );
        assert!(message.contains("another network"), "{kind:?}: {message}");
    }
}
