//! The three protocol steps through the C API against the reference server: happy path,
//! PENDING, NOT_FOUND, GD_BAD_CREDENTIALS, GD_UNAVAILABLE, NETWORK, UNAUTHORIZED, token
//! revocation, and one client shared by 8 threads.

mod ffi_common;

use dashauth::ffi::challenge::*;
use dashauth::ffi::client::*;
use dashauth::gd_client::GdClient;
use dashauth::http::Http;
use ffi_common::*;
use std::time::{Duration, Instant};

#[test]
fn three_steps_give_a_token_that_whoami_accepts() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 1001);
    // SAFETY: a live challenge; borrowed strings read while it lives.
    let (bot, text, id) = unsafe {
        (
            dashauth_challenge_bot_account_id(challenge.0),
            borrowed(dashauth_challenge_text(challenge.0)),
            borrowed(dashauth_challenge_id(challenge.0)),
        )
    };
    assert_eq!(bot, server.bot_account_id());
    assert!(dashauth::protocol::is_valid_challenge(&text), "{text}");
    assert!(id.parse::<dashauth::protocol::Uuid>().is_ok(), "{id}");
    assert_eq!(id, id.to_lowercase());

    expect(challenge.send(&client, 1001, &gjp2_of(1001)), S::Ok);
    assert_eq!(last_error(), "");
    let token = challenge.wait_token(&client);
    assert_eq!(token.len(), 43, "{token}");

    let (status, account, expires_at) = client.whoami(&token);
    expect(status, S::Ok);
    assert_eq!(account, 1001);
    assert!(expires_at > dashauth::clock::now_ms());

    // The message went to the bot with the exact subject, and says what it is.
    let gd = GdClient::new(Http::new(Duration::from_secs(5)), &server.gd_url());
    let outbox = gd
        .get_messages(1001, &gjp2_of(1001), 0, true)
        .expect("outbox");
    let sent = outbox
        .messages
        .iter()
        .find(|m| m.subject == format!("auth-{text}"))
        .expect("message in the outbox");
    assert_eq!(sent.account_id, bot);
}

#[test]
fn poll_is_pending_until_the_message_is_sent_then_not_found_once_used() {
    let server = server();
    let client = Client::for_server(&server);
    client.set_timeout_ms(1000); // long polls of 500 ms keep the test short
    let challenge = Challenge::request(&client, 1002);
    let started = Instant::now();
    let (status, token) = challenge.poll(&client);
    expect(status, S::Pending);
    assert!(token.is_none());
    assert_eq!(last_error(), "", "PENDING is not an error");
    assert!(started.elapsed() < Duration::from_secs(1));

    expect(challenge.send(&client, 1002, &gjp2_of(1002)), S::Ok);
    let _token = challenge.wait_token(&client);
    let (status, token) = challenge.poll(&client);
    expect(status, S::NotFound);
    assert!(token.is_none());
    assert!(
        last_error().contains("start the login again"),
        "{}",
        last_error()
    );
}

#[test]
fn wrong_gjp2_is_gd_bad_credentials_with_advice() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 1003);
    expect(challenge.send(&client, 1003, &gjp2_of(1003)), S::Ok);
    // The emulator now knows account 1003 with that gjp2; another one is refused (-1),
    // and the player's own outbox, asked with it, answers -1 too.
    expect(
        challenge.send(&client, 1003, "wrong-gjp2"),
        S::GdBadCredentials,
    );
    let message = last_error();
    assert!(message.contains("log out and back in"), "{message}");
}

#[test]
fn gd_cdn_failures_are_gd_unavailable() {
    let server = server();
    let client = Client::for_server(&server);
    let challenge = Challenge::request(&client, 1004);
    server.set_gd_fault_rate(1.0);
    let mut unavailable = 0;
    for _ in 0..40 {
        match challenge.send(&client, 1004, &gjp2_of(1004)) {
            S::GdUnavailable => {
                unavailable += 1;
                assert!(last_error().contains("try again"), "{}", last_error());
            }
            // The emulator's -1 fault, diagnosed with answers that are faults too: a -1
            // to the outbox reads as bad credentials, anything else leaves it unexplained.
            S::GdRejected | S::GdBadCredentials => {}
            other => panic!("{other:?}: {}", last_error()),
        }
    }
    assert!(
        unavailable > 0,
        "HTML, 500 and garbage faults are GD_UNAVAILABLE"
    );
}

#[test]
fn server_gone_is_network() {
    let server = server();
    let client = Client::for_server(&server);
    server.shutdown();
    let mut challenge = sentinel_handle();
    let started = Instant::now();
    // SAFETY: valid pointers.
    let status = unsafe { dashauth_request_challenge(client.ptr(), 1005, &mut challenge) };
    expect(status, S::Network);
    assert_eq!(challenge, sentinel_handle(), "out-parameter untouched");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(last_error().contains("could not reach"), "{}", last_error());
    let (status, _, _) = client.whoami("sometoken");
    expect(status, S::Network);
}

#[test]
fn unknown_and_revoked_tokens_are_unauthorized() {
    let server = server();
    let client = Client::for_server(&server);
    let (status, account, expires) = client.whoami("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect(status, S::Unauthorized);
    assert_eq!(
        (account, expires),
        (U32_SENTINEL, I64_SENTINEL),
        "out-parameters untouched"
    );

    let token = token_for(&client, 1006);
    expect(client.whoami(&token).0, S::Ok);
    // SAFETY: valid pointers.
    expect(
        unsafe { dashauth_client_revoke_token(client.ptr(), cs(&token).as_ptr()) },
        S::Ok,
    );
    expect(client.whoami(&token).0, S::Unauthorized);
}

#[test]
fn eight_threads_share_one_client() {
    let server = server();
    let client = Client::for_server(&server);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8u32)
            .map(|i| {
                let client = &client;
                scope.spawn(move || {
                    let account = 2000 + i;
                    for _ in 0..2 {
                        let token = token_for(client, account);
                        let (status, id, _) = client.whoami(&token);
                        expect(status, S::Ok);
                        assert_eq!(id, account);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
    });
}
