//! The bot (protocol.md section 3): what it costs GD, how it cleans up, and how it
//! survives GD failures, observed through the emulator it talks to over HTTP.

mod server_support;

use dashauth::gd::{self, endpoint};
use dashauth::http::Http;
use dashauth::protocol::challenge_subject;
use dashauth::server::{Config, EMULATOR_BOT_GJP2, ServerHandle};
use server_support::fake_gd::FakeGd;
use server_support::{Api, Player, eventually, login, start_server, wait_for_token};
use std::time::{Duration, Instant};

fn inbox_of_bot(server: &ServerHandle) -> usize {
    let bot = Player::new(server, server.bot_account_id());
    bot.gd()
        .get_messages(server.bot_account_id(), EMULATOR_BOT_GJP2, 0, false)
        .map(|page| page.messages.len())
        .unwrap_or(usize::MAX)
}

/// A raw GD request to the server's emulator; the answer's body.
fn gd_post(server: &ServerHandle, endpoint: &str, fields: &[(&str, &str)]) -> String {
    let url = format!("{}/{endpoint}", server.gd_url());
    Http::new(Duration::from_secs(5))
        .post_form(&url, &gd::form_encode(fields))
        .unwrap_or_else(|e| panic!("{endpoint}: {e}"))
        .body
}

/// The bot's inbox as GD lists it, unparsed.
fn raw_inbox_of_bot(server: &ServerHandle) -> String {
    let bot = server.bot_account_id().to_string();
    let fields = [
        ("accountID", bot.as_str()),
        ("gjp2", EMULATOR_BOT_GJP2),
        ("secret", gd::SECRET),
        ("page", "0"),
    ];
    gd_post(server, endpoint::GET_MESSAGES, &fields)
}

#[test]
fn undecodable_subjects_do_not_stop_logins_and_are_deleted() {
    let server = start_server(|_| {});
    let bot = server.bot_account_id().to_string();
    // `_w` is base64 of a byte that is not UTF-8; `!!` is not base64 at all. Anyone
    // can send the bot such a message.
    for subject in ["_w", "!!"] {
        let fields = [
            ("accountID", "6801"),
            ("gjp2", "6801680168016801680168016801680168016801"),
            ("toAccountID", bot.as_str()),
            ("subject", subject),
            ("body", "x"),
            ("secret", gd::SECRET),
        ];
        assert_eq!(gd_post(&server, endpoint::UPLOAD_MESSAGE, &fields), "1");
    }
    assert!(
        raw_inbox_of_bot(&server).contains(":4:!!:"),
        "served verbatim"
    );
    let api = Api::new(&server);
    login(&api, &server, &Player::new(&server, 6802));
    eventually("the bot to delete the bad messages", || {
        raw_inbox_of_bot(&server) == "-2"
    });
    login(&api, &server, &Player::new(&server, 6803));
}

#[test]
fn bot_makes_no_gd_requests_while_idle() {
    let server = start_server(|c| c.poll_interval = Duration::from_millis(20));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        server.emulator_request_count(),
        0,
        "no challenge, no request"
    );

    let api = Api::new(&server);
    login(&api, &server, &Player::new(&server, 6001));
    eventually("the bot to delete the message", || {
        server.metrics().bot_count(endpoint::DELETE_MESSAGES) > 0
    });
    std::thread::sleep(Duration::from_millis(100));
    let after_login = server.emulator_request_count();
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        server.emulator_request_count(),
        after_login,
        "idle again after login"
    );
}

#[test]
fn one_inbox_fetch_per_interval_however_many_challenges_and_polls() {
    let interval = Duration::from_millis(250);
    let server = start_server(|c| c.poll_interval = interval);
    let api = Api::new(&server);
    let ids: Vec<String> = (0..20).map(|i| api.challenge(6100 + i).0).collect();
    let started = Instant::now();
    let before = server.metrics().bot_count(endpoint::GET_MESSAGES);
    // Three clients hammer challenge_complete, each call a hint to fetch now.
    std::thread::scope(|scope| {
        for chunk in ids.chunks(7) {
            let api = Api::new(&server);
            scope.spawn(move || {
                while started.elapsed() < Duration::from_millis(1500) {
                    for id in chunk {
                        api.complete(id, 0).expect(401);
                    }
                }
            });
        }
    });
    let fetches = server.metrics().bot_count(endpoint::GET_MESSAGES) - before;
    let allowed = (started.elapsed().as_millis() / interval.as_millis()) as u64 + 1;
    assert!(fetches >= 1, "pending challenges are looked for");
    assert!(
        fetches <= allowed,
        "{fetches} fetches, at most {allowed} allowed"
    );
}

/// Fills the bot's inbox with `n` messages from strangers.
fn spam_bot(server: &ServerHandle, first_account: u32, n: usize) {
    let senders = n.div_ceil(30) as u32;
    let mut left = n;
    for sender in 0..senders {
        let stranger = Player::new(server, first_account + sender);
        for k in 0..left.min(30) {
            stranger.send_until_accepted(server.bot_account_id(), &format!("spam {k}"));
        }
        left = left.saturating_sub(30);
    }
}

#[test]
fn a_backlog_of_several_pages_is_drained_in_one_pass_within_the_budget() {
    // A long interval: only the hint below starts a pass during the test.
    let server = start_server(|c| c.poll_interval = Duration::from_secs(30));
    spam_bot(&server, 6500, 120); // three pages: 50, 50, 20
    let api = Api::new(&server);
    let (id, _) = api.challenge(6599);
    api.complete(&id, 0).expect(401);
    eventually("the bot to drain its inbox", || inbox_of_bot(&server) == 0);
    std::thread::sleep(Duration::from_millis(100));
    let m = server.metrics();
    assert_eq!(m.bot_count(endpoint::GET_MESSAGES), 3, "pages 0, 1 and 2");
    assert_eq!(
        m.bot_count(endpoint::DELETE_MESSAGES),
        1,
        "120 ids in one request"
    );
}

#[test]
fn a_small_budget_reads_before_it_deletes() {
    let server = start_server(|c| {
        c.poll_interval = Duration::from_secs(30);
        c.gd_requests_per_second = 0.1; // a bucket of two requests
    });
    spam_bot(&server, 6520, 120);
    let api = Api::new(&server);
    let (id, _) = api.challenge(6598);
    api.complete(&id, 0).expect(401);
    eventually("the bot to read two pages", || {
        server.metrics().bot_count(endpoint::GET_MESSAGES) == 2
    });
    std::thread::sleep(Duration::from_millis(300));
    let m = server.metrics();
    assert_eq!(m.bot_count(endpoint::GET_MESSAGES), 2, "no third page");
    assert_eq!(
        m.bot_count(endpoint::DELETE_MESSAGES),
        0,
        "the delete waits for budget: finding logins comes first"
    );
}

#[test]
fn challenge_complete_pulls_the_next_fetch_forward() {
    // Without the hint the first fetch would come 3 s after the challenge.
    let server = start_server(|c| c.poll_interval = Duration::from_secs(3));
    let api = Api::new(&server);
    let player = Player::new(&server, 6201);
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(server.bot_account_id(), &challenge_subject(&challenge));
    api.complete(&id, 1500).expect(200);
}

#[test]
fn bot_deletes_what_a_page_held_in_one_request() {
    let server = start_server(|c| c.poll_interval = Duration::from_secs(30));
    spam_bot(&server, 6300, 25);
    assert_eq!(inbox_of_bot(&server), 25, "idle bot reads nothing");
    let api = Api::new(&server);
    let player = Player::new(&server, 6399);
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(server.bot_account_id(), &challenge_subject(&challenge));
    api.complete(&id, 3000).expect(200);
    // Validation answers the long poll before the pass goes on to delete.
    eventually("the bot to delete", || {
        server.metrics().bot_count(endpoint::DELETE_MESSAGES) > 0
    });
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(inbox_of_bot(&server), 0);
    let m = server.metrics();
    assert_eq!(m.bot_count(endpoint::GET_MESSAGES), 1);
    assert_eq!(
        m.bot_count(endpoint::DELETE_MESSAGES),
        1,
        "26 ids, one request"
    );
    assert_eq!(inbox_of_bot(&server), 0);
    assert_eq!(m.challenges_validated, 1);
}

#[test]
fn gd_delete_batch_splits_deletes_for_private_servers() {
    let server = start_server(|c| {
        c.poll_interval = Duration::from_secs(30);
        c.gd_delete_batch = Some(10);
    });
    spam_bot(&server, 6350, 25);
    let api = Api::new(&server);
    let player = Player::new(&server, 6398);
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(server.bot_account_id(), &challenge_subject(&challenge));
    api.complete(&id, 3000).expect(200);
    eventually("three deletes: 10 + 10 + 6", || {
        server.metrics().bot_count(endpoint::DELETE_MESSAGES) == 3
    });
    assert_eq!(inbox_of_bot(&server), 0);
}

#[test]
fn nul_terminated_subjects_validate() {
    let server = start_server(|_| {});
    let api = Api::new(&server);
    let player = Player::new(&server, 6810);
    let (id, challenge) = api.challenge(player.account_id);
    // What a client built on cocos2d's ZipUtils uploads: the base64 text, then NULs.
    let subject = format!(
        "{}\0\0\0",
        gd::encode_subject(&challenge_subject(&challenge))
    );
    let (from, to) = (
        player.account_id.to_string(),
        server.bot_account_id().to_string(),
    );
    let fields = [
        ("accountID", from.as_str()),
        ("gjp2", player.gjp2.as_str()),
        ("toAccountID", to.as_str()),
        ("subject", subject.as_str()),
        ("body", "x"),
        ("secret", gd::SECRET),
    ];
    assert_eq!(gd_post(&server, endpoint::UPLOAD_MESSAGE, &fields), "1");
    assert!(
        raw_inbox_of_bot(&server).contains('\0'),
        "served with its NULs"
    );
    wait_for_token(&api, &id);
}

#[test]
fn the_real_inbox_page_is_read_and_deleted_in_one_request() {
    let path = format!(
        "{}/tests/vectors/gd-inbox-page-real.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let expected: Vec<u64> = gd::parse_message_page(&page)
        .unwrap_or_else(|e| panic!("{e}"))
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    // GD answers the captured page first, then an empty inbox.
    let fake = FakeGd::start(move |endpoint, nth| match endpoint {
        endpoint::GET_MESSAGES if nth == 0 => page.clone(),
        endpoint::GET_MESSAGES => "-2".into(),
        _ => "1".into(),
    });
    let config = Config {
        poll_interval: Duration::from_millis(50),
        rate_limit_per_minute: 0,
        ..Config::for_gd(&fake.url, 4242, "feedfacefeedfacefeedfacefeedfacefeedface")
    };
    let server = ServerHandle::start(config).unwrap_or_else(|e| panic!("{e}"));
    let api = Api::new(&server);
    let (id, _) = api.challenge(6820);
    api.complete(&id, 0).expect(401);
    eventually("the bot to delete the page", || {
        !fake.requests(endpoint::DELETE_MESSAGES).is_empty()
    });
    std::thread::sleep(Duration::from_millis(200));
    let deletes = fake.requests(endpoint::DELETE_MESSAGES);
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    let ids: Vec<u64> = deletes[0]
        .field("messages")
        .unwrap_or_default()
        .split(',')
        .map(|id| id.parse().unwrap_or_else(|e| panic!("{id}: {e}")))
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(deletes[0].field("accountID"), Some("4242"));
    assert_eq!(deletes[0].field("isSender"), None, "from the inbox");
}

#[test]
fn logins_complete_with_a_30_percent_gd_fault_rate() {
    let server = start_server(|c| c.gd_fault_rate = 0.3);
    let api = Api::new(&server);
    // One round makes about nine GD requests, which at 30 % all succeed 4 % of the
    // time; rounds go on until faults were really injected (ten rounds without three
    // faults would take a broken fault injector).
    let mut rounds = 0;
    while server.metrics().emulator_faults < 3 && rounds < 10 {
        std::thread::scope(|scope| {
            for account in 6400..6406 {
                let (api, server) = (&api, &server);
                let account = account + rounds * 10;
                scope.spawn(move || login(api, server, &Player::new(server, account)));
            }
        });
        rounds += 1;
    }
    let metrics = server.metrics();
    assert!(
        metrics.emulator_faults >= 3,
        "faults were injected: {metrics:?}"
    );
    assert_eq!(metrics.challenges_validated, 6 * u64::from(rounds));
}

#[test]
fn bot_survives_constant_faults_and_recovers() {
    let server = start_server(|c| c.poll_interval = Duration::from_millis(20));
    let api = Api::new(&server);
    let player = Player::new(&server, 6501);
    let (id, challenge) = api.challenge(player.account_id);
    server.set_gd_fault_rate(1.0);
    // The bot records a failure after the emulator counted it: wait on the bot's side.
    let failed = || -> u64 {
        server
            .metrics()
            .bot_gd_requests
            .iter()
            .filter(|(_, outcome, _)| *outcome != "ok")
            .map(|(_, _, n)| n)
            .sum()
    };
    eventually("the bot to hit several faults", || failed() >= 6);
    assert!(server.metrics().emulator_faults >= 6);
    server.set_gd_fault_rate(0.0);
    player.send_until_accepted(server.bot_account_id(), &challenge_subject(&challenge));
    wait_for_token(&api, &id);
}

#[test]
fn bot_retries_gd_timeouts() {
    let server = start_server(|c| {
        c.poll_interval = Duration::from_millis(20);
        c.gd_timeout = Duration::from_millis(100);
    });
    let api = Api::new(&server);
    let player = Player::new(&server, 6601);
    let (id, challenge) = api.challenge(player.account_id);
    server.set_gd_latency(Duration::from_millis(400));
    eventually("the bot to time out twice", || {
        let m = server.metrics();
        m.bot_gd_requests
            .iter()
            .filter(|(_, outcome, _)| *outcome == "network")
            .map(|(_, _, n)| n)
            .sum::<u64>()
            >= 2
    });
    server.set_gd_latency(Duration::ZERO);
    player.send_until_accepted(server.bot_account_id(), &challenge_subject(&challenge));
    wait_for_token(&api, &id);
}

#[test]
fn bot_reads_an_external_gd_server_by_url() {
    let gd = start_server(|_| {});
    let config = Config {
        poll_interval: Duration::from_millis(50),
        rate_limit_per_minute: 0,
        ..Config::for_gd(
            &gd.gd_url(),
            777,
            "feedfacefeedfacefeedfacefeedfacefeedface",
        )
    };
    let server = ServerHandle::start(config).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(server.gd_url(), gd.gd_url());
    let api = Api::new(&server);
    // The player talks to the GD server; the bot account appears there on its first fetch.
    let player = Player::new(&gd, 6701);
    let (id, challenge) = api.challenge(player.account_id);
    player.send_until_accepted(777, &challenge_subject(&challenge));
    wait_for_token(&api, &id);
    assert!(gd.emulator_request_count() > 0);
    assert_eq!(server.emulator_request_count(), 0, "no emulator of its own");
    Api::new(&server)
        .post("database/getGJMessages20.php", None, None)
        .expect(404);
}
