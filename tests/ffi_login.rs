//! dashauth_login_* against the reference server: the whole flow with its stages and
//! clean-up, CANCELLED, TIMED_OUT, NETWORK, GD_BAD_CREDENTIALS, and polls and frees that never
//! block while the GD emulator adds latency.

mod ffi_common;

use dashauth::ffi::login::*;
use dashauth::gd_client::GdClient;
use dashauth::http::Http;
use dashauth::server::Config;
use ffi_common::*;
use std::time::{Duration, Instant};

/// A client whose GD messages go to another server's emulator, so the bot of the
/// server it asks never sees them: the login can only wait.
fn client_whose_bot_never_sees_the_message() -> (Client, [dashauth::server::ServerHandle; 2]) {
    let asked = server();
    let elsewhere = server();
    let client = Client::new(&asked.base_url(), &elsewhere.gd_url());
    (client, [asked, elsewhere])
}

#[test]
fn login_runs_every_stage_and_cleans_up_the_outbox() {
    let server = server();
    let client = Client::for_server(&server);
    let login = Login::start(&client, 3001, &gjp2_of(3001));
    let (status, stages, token, _) = login.finish(Duration::from_secs(30));
    expect(status, S::Ok);
    // Against the emulator the flow can finish between two polls: only the end is sure.
    assert_eq!(stages.last(), Some(&dashauth_login_stage::Done));
    let token = token.expect("token on OK");
    let (status, account, _) = client.whoami(&token);
    expect(status, S::Ok);
    assert_eq!(account, 3001);
    // Each poll after the end returns another copy of the token.
    let (status, stage, again, _) = login.poll();
    expect(status, S::Ok);
    assert_eq!(stage, dashauth_login_stage::Done);
    assert_eq!(again.as_deref(), Some(token.as_str()));
    // The verification message no longer is in the player's outbox.
    let gd = GdClient::new(Http::new(Duration::from_secs(5)), &server.gd_url());
    let outbox = gd
        .get_messages(3001, &gjp2_of(3001), 0, true)
        .expect("outbox");
    assert!(
        outbox
            .messages
            .iter()
            .all(|m| !m.subject.starts_with("auth-")),
        "{outbox:?}"
    );
}

#[test]
fn cancel_is_reported_at_once() {
    let (client, _servers) = client_whose_bot_never_sees_the_message();
    let login = Login::start(&client, 3002, &gjp2_of(3002));
    let until = Instant::now() + Duration::from_secs(10);
    while login.poll().1 != dashauth_login_stage::WaitingForBot {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    login.cancel();
    assert!(started.elapsed() < Duration::from_millis(50));
    let (status, stage, token, _) = login.poll();
    expect(status, S::Cancelled);
    assert_eq!(stage, dashauth_login_stage::Failed);
    assert!(token.is_none());
    assert_eq!(last_error(), "cancelled");
    // Still cancelled on later polls.
    assert_eq!(login.poll().0, S::Cancelled);
}

#[test]
fn bot_that_never_sees_the_message_is_timed_out_at_the_deadline() {
    let (client, _servers) = client_whose_bot_never_sees_the_message();
    client.set_login_deadline_ms(1500);
    let started = Instant::now();
    let login = Login::start(&client, 3003, &gjp2_of(3003));
    let (status, stages, _, _) = login.finish(Duration::from_secs(10));
    expect(status, S::TimedOut);
    assert_eq!(stages.last(), Some(&dashauth_login_stage::Failed));
    assert!(
        stages.contains(&dashauth_login_stage::WaitingForBot),
        "{stages:?}"
    );
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1400), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2500), "{elapsed:?}");
}

#[test]
fn unreachable_server_fails_the_login_with_network_within_seconds() {
    let server = server();
    let client = Client::for_server(&server);
    server.shutdown();
    let started = Instant::now();
    let login = Login::start(&client, 3004, &gjp2_of(3004));
    let (status, stages, _, _) = login.finish(Duration::from_secs(10));
    expect(status, S::Network);
    assert_eq!(stages.last(), Some(&dashauth_login_stage::Failed));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn server_shut_down_while_waiting_for_the_bot_fails_the_login_with_network() {
    let (client, [asked, _elsewhere]) = client_whose_bot_never_sees_the_message();
    let login = Login::start(&client, 3009, &gjp2_of(3009));
    let until = Instant::now() + Duration::from_secs(10);
    while login.poll().1 != dashauth_login_stage::WaitingForBot {
        assert!(Instant::now() < until, "never reached WAITING_FOR_BOT");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    asked.shutdown();
    let (status, stages, token, _) = login.finish(Duration::from_secs(10));
    expect(status, S::Network);
    assert!(token.is_none());
    assert_eq!(stages.last(), Some(&dashauth_login_stage::Failed));
    assert!(last_error().contains("could not reach"), "{}", last_error());
    // Well before the 60 s deadline: a gone server is not a bot that is slow.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn wrong_gjp2_fails_the_login_with_gd_bad_credentials() {
    let server = server();
    let client = Client::for_server(&server);
    let first = Login::start(&client, 3005, &gjp2_of(3005));
    expect(first.finish(Duration::from_secs(30)).0, S::Ok);
    let second = Login::start(&client, 3005, "not-the-same-gjp2");
    let (status, _, _, _) = second.finish(Duration::from_secs(30));
    expect(status, S::GdBadCredentials);
    assert!(
        last_error().contains("log out and back in"),
        "{}",
        last_error()
    );
}

#[test]
fn login_poll_and_free_never_block_while_gd_is_slow() {
    let server = server_with(Config {
        gd_latency: Duration::from_millis(500),
        ..Config::default()
    });
    let client = Client::for_server(&server);
    let login = Login::start(&client, 3006, &gjp2_of(3006));
    let (status, stages, _, slowest) = login.finish(Duration::from_secs(30));
    expect(status, S::Ok);
    // Each GD request takes 500 ms, so every stage is seen, in order.
    use dashauth_login_stage::*;
    let expected = [SendingMessage, WaitingForBot, CleaningUp, Done];
    let seen: Vec<_> = stages
        .iter()
        .filter(|s| expected.contains(s))
        .copied()
        .collect();
    assert_eq!(seen, expected, "{stages:?}");
    assert!(
        slowest < Duration::from_millis(50),
        "a poll took {slowest:?}"
    );

    // Free while the GD request (500 ms of latency) is in flight.
    let busy = Login::start(&client, 3007, &gjp2_of(3007));
    let until = Instant::now() + Duration::from_secs(10);
    while busy.poll().1 != dashauth_login_stage::SendingMessage {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(1));
    }
    let started = Instant::now();
    drop(busy);
    assert!(started.elapsed() < Duration::from_millis(50));
}

#[test]
fn a_login_keeps_the_settings_it_started_with() {
    let server = server();
    let client = Client::for_server(&server);
    let login = Login::start(&client, 3008, &gjp2_of(3008));
    // Changing or freeing the client does not affect the running login.
    // SAFETY: a live client.
    expect(
        unsafe {
            dashauth::ffi::client::dashauth_client_set_gd_url(
                client.0,
                cs("http://127.0.0.1:9/database").as_ptr(),
            )
        },
        S::Ok,
    );
    drop(client);
    expect(login.finish(Duration::from_secs(30)).0, S::Ok);
}
