//! The embedded GD emulator (protocol.md section 7) as a GD client sees it: accounts,
//! listings, downloads, deletions and injected faults, over real HTTP.

mod server_support;

use dashauth::gd::{self, GdError, endpoint};
use dashauth::http::{Http, Response};
use dashauth::server::{GdFault, ServerHandle};
use server_support::{Player, start_server};
use std::collections::HashSet;
use std::time::Duration;

fn post(server: &ServerHandle, endpoint: &str, fields: &[(&str, &str)]) -> Response {
    let url = format!("{}/{endpoint}", server.gd_url());
    Http::new(Duration::from_secs(5))
        .post_form(&url, &gd::form_encode(fields))
        .unwrap_or_else(|e| panic!("{endpoint}: {e}"))
}

fn listing(server: &ServerHandle, player: &Player, page: &str, sent: bool) -> String {
    let id = player.account_id.to_string();
    let mut fields = vec![
        ("accountID", id.as_str()),
        ("gjp2", player.gjp2.as_str()),
        ("secret", gd::SECRET),
        ("page", page),
    ];
    if sent {
        fields.push(("getSent", "1"));
    }
    post(server, endpoint::GET_MESSAGES, &fields).body
}

#[test]
fn account_is_created_on_first_use_and_bound_to_its_gjp2() {
    let server = start_server(|_| {});
    let player = Player::new(&server, 7001);
    player
        .send(server.bot_account_id(), "hi")
        .unwrap_or_else(|e| panic!("{e}"));
    let impostor = post(
        &server,
        endpoint::GET_MESSAGES,
        &[
            ("accountID", "7001"),
            ("gjp2", "wrong"),
            ("secret", gd::SECRET),
            ("page", "0"),
        ],
    );
    assert_eq!(impostor.body, "-1");
    let no_secret = post(
        &server,
        endpoint::GET_MESSAGES,
        &[("accountID", "7001"), ("gjp2", &player.gjp2), ("page", "0")],
    );
    assert_eq!(no_secret.body, "-1");
    assert_eq!(player.send(999_999, "to nobody"), Err(GdError::Rejected));
}

#[test]
fn listings_are_newest_first_in_pages_of_50() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7101), Player::new(&server, 7102));
    bob.create_gd_account();
    for n in 1..60 {
        alice
            .send(bob.account_id, &format!("message {n}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let first = listing(&server, &bob, "0", false);
    assert!(
        first.ends_with("#59:0:50"),
        "{}",
        &first[first.len() - 20..]
    );
    let page = gd::parse_message_page(&first).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.messages.len(), 50);
    assert_eq!(page.messages[0].subject, "message 59");
    assert_eq!(page.messages[0].account_id, alice.account_id);
    assert_eq!(page.messages[0].username, "Player7101");
    assert!(page.messages[0].age.ends_with("second") || page.messages[0].age.ends_with("seconds"));
    assert!(page.messages.iter().all(|m| m.body.is_none() && !m.sent));
    let second = listing(&server, &bob, "1", false);
    assert!(second.ends_with("#59:50:50"), "{second}");
    assert_eq!(listing(&server, &bob, "2", false), "-2");
    let outbox = alice
        .gd()
        .get_messages(alice.account_id, &alice.gjp2, 0, true);
    let outbox = outbox.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(outbox.page.total, 59);
    assert!(
        outbox
            .messages
            .iter()
            .all(|m| m.sent && m.account_id == bob.account_id)
    );
}

#[test]
fn download_serves_the_body_and_marks_it_read() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7201), Player::new(&server, 7202));
    bob.create_gd_account();
    alice
        .send(bob.account_id, "subject")
        .unwrap_or_else(|e| panic!("{e}"));
    let id = gd::parse_message_page(&listing(&server, &bob, "0", false))
        .unwrap_or_else(|e| panic!("{e}"))
        .messages[0]
        .id
        .to_string();
    let fields = [
        ("accountID", "7202"),
        ("gjp2", bob.gjp2.as_str()),
        ("secret", gd::SECRET),
        ("messageID", id.as_str()),
    ];
    let body = post(&server, endpoint::DOWNLOAD_MESSAGE, &fields).body;
    let message = gd::parse_message(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(message.body.as_deref(), Some("DashAuth test"));
    assert_eq!(message.subject, "subject");
    let again = gd::parse_message_page(&listing(&server, &bob, "0", false));
    assert!(again.map(|p| p.messages[0].read).unwrap_or(false));
}

#[test]
fn delete_takes_message_id_or_any_number_of_messages_and_is_sender_for_the_outbox() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7301), Player::new(&server, 7302));
    bob.create_gd_account();
    for n in 0..12 {
        alice
            .send(bob.account_id, &format!("m{n}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let inbox = bob.gd().get_messages(bob.account_id, &bob.gjp2, 0, false);
    let ids: Vec<u64> = inbox
        .unwrap_or_else(|e| panic!("{e}"))
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    let all: Vec<String> = ids.iter().map(u64::to_string).collect();
    let eleven = all[1..].join(",");
    let base = [
        ("accountID", "7302"),
        ("gjp2", bob.gjp2.as_str()),
        ("secret", gd::SECRET),
    ];
    let with = |extra: (&'static str, &str)| {
        let mut fields = base.to_vec();
        fields.push(extra);
        post(&server, endpoint::DELETE_MESSAGES, &fields).body
    };
    assert_eq!(with(("messageID", &all[0])), "1");
    // Real GD takes any number of ids and answers 1 whatever it deleted.
    assert_eq!(with(("messages", &format!("{eleven},999999,x"))), "1");
    assert_eq!(listing(&server, &bob, "0", false), "-2");
    assert_eq!(with(("messages", &eleven)), "1", "already gone: still 1");
    // Deleting from the inbox leaves the sender's outbox alone, and vice versa.
    let outbox = alice
        .gd()
        .get_messages(alice.account_id, &alice.gjp2, 0, true);
    let sent: Vec<u64> = outbox
        .unwrap_or_else(|e| panic!("{e}"))
        .messages
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(sent.len(), 12);
    alice
        .gd()
        .delete_messages(alice.account_id, &alice.gjp2, &sent, true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listing(&server, &alice, "0", true), "-2");
}

#[test]
fn injected_faults_cover_every_kind() {
    let server = start_server(|c| c.gd_fault_rate = 1.0);
    let player = Player::new(&server, 7401);
    let mut kinds = HashSet::new();
    for _ in 0..60 {
        let r = post(
            &server,
            endpoint::GET_MESSAGES,
            &[
                ("accountID", "7401"),
                ("gjp2", &player.gjp2),
                ("secret", gd::SECRET),
            ],
        );
        let kind = match gd::check_response(r.status, &r.body) {
            Err(GdError::Rejected) => "-1",
            Err(GdError::Unavailable(_)) if r.status == 500 => "500",
            Err(GdError::HtmlPage(_)) => "html",
            Ok(text) if gd::parse_message_page(text).is_err() => "garbage",
            other => panic!("not a fault: {other:?}"),
        };
        kinds.insert(kind);
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(server.metrics().emulator_faults, 60);
}

#[test]
fn subjects_are_served_back_verbatim_even_when_they_do_not_decode() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7501), Player::new(&server, 7502));
    bob.create_gd_account();
    let upload = |subject: &str| {
        let fields = [
            ("accountID", "7501"),
            ("gjp2", alice.gjp2.as_str()),
            ("toAccountID", "7502"),
            ("subject", subject),
            ("body", "not:base64"),
            ("secret", gd::SECRET),
        ];
        post(&server, endpoint::UPLOAD_MESSAGE, &fields).body
    };
    assert_eq!(upload("_w"), "1");
    assert_eq!(upload("a:G|k"), "1", "separators are stripped, as GD does");
    let text = listing(&server, &bob, "0", false);
    assert!(
        text.contains(":4:aGk:") && text.contains(":4:_w:"),
        "{text}"
    );
    let page = gd::parse_message_page(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.unparsed_ids.len(), 1, "{page:?}");
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].subject, "hi");
}

#[test]
fn emulator_caps_messages_per_box_and_accounts() {
    let server = start_server(|c| {
        c.limits.emulator_messages_per_account = 3;
        c.limits.emulator_accounts = 4; // the bot and three players
    });
    let (alice, bob) = (Player::new(&server, 7601), Player::new(&server, 7602));
    bob.create_gd_account();
    for n in 0..5 {
        alice
            .send(bob.account_id, &format!("m{n}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let subjects = |player: &Player, sent: bool| -> Vec<String> {
        let page = player
            .gd()
            .get_messages(player.account_id, &player.gjp2, 0, sent)
            .unwrap_or_else(|e| panic!("{e}"));
        page.messages.into_iter().map(|m| m.subject).collect()
    };
    assert_eq!(subjects(&bob, false), ["m4", "m3", "m2"], "oldest dropped");
    assert_eq!(subjects(&alice, true), ["m4", "m3", "m2"]);
    Player::new(&server, 7603).create_gd_account();
    let refused = Player::new(&server, 7604);
    assert_eq!(
        refused.gd().get_messages(7604, &refused.gjp2, 0, false),
        Err(GdError::Rejected),
        "no room for a fifth account"
    );
    assert_eq!(subjects(&bob, false).len(), 3, "known accounts still work");
}

/// A raw request of `player` to the emulator: the answer's body.
fn as_player(
    server: &ServerHandle,
    player: &Player,
    endpoint: &str,
    extra: &[(&str, &str)],
) -> String {
    let id = player.account_id.to_string();
    let mut fields = vec![
        ("accountID", id.as_str()),
        ("gjp2", player.gjp2.as_str()),
        ("secret", gd::SECRET),
    ];
    fields.extend_from_slice(extra);
    post(server, endpoint, &fields).body
}

#[test]
fn message_settings_decide_who_may_message_an_account() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7701), Player::new(&server, 7702));
    bob.create_gd_account();
    let set = |ms: &str| {
        as_player(
            &server,
            &bob,
            endpoint::UPDATE_ACCOUNT_SETTINGS,
            &[("mS", ms)],
        )
    };
    assert_eq!(set("2"), "1", "messages from nobody");
    assert_eq!(alice.send(bob.account_id, "hi"), Err(GdError::Rejected));
    assert_eq!(set("1"), "1", "friends only: the emulator has no friends");
    assert_eq!(alice.send(bob.account_id, "hi"), Err(GdError::Rejected));
    assert_eq!(set("0"), "1", "everyone");
    assert_eq!(alice.send(bob.account_id, "hi"), Ok(()));
    assert_eq!(set("7"), "-1", "not a setting");
    assert_eq!(
        as_player(&server, &bob, endpoint::UPDATE_ACCOUNT_SETTINGS, &[]),
        "-1"
    );
}

#[test]
fn block_lists_refuse_messages_both_ways_and_are_listed() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7801), Player::new(&server, 7802));
    alice.create_gd_account();
    bob.create_gd_account();
    let target = [("targetAccountID", "7802")];
    let blocked_list = |player: &Player, kind: &str| {
        as_player(&server, player, endpoint::GET_USER_LIST, &[("type", kind)])
    };
    assert_eq!(blocked_list(&alice, "1"), "-2", "empty");
    assert_eq!(
        as_player(&server, &alice, endpoint::BLOCK_USER, &target),
        "1"
    );
    assert_eq!(alice.send(bob.account_id, "hi"), Err(GdError::Rejected));
    assert_eq!(bob.send(alice.account_id, "hi"), Err(GdError::Rejected));
    // GD's user objects: key 1 username, 2 user id, 16 account id.
    let list = blocked_list(&alice, "1");
    let keys: Vec<&str> = list.split(':').collect();
    let value = |key: &str| {
        keys.chunks_exact(2)
            .find(|kv| kv[0] == key)
            .map(|kv| kv[1].to_string())
    };
    assert_eq!(value("1").as_deref(), Some("Player7802"), "{list}");
    assert_eq!(value("16").as_deref(), Some("7802"), "{list}");
    assert!(
        value("2").is_some_and(|uid| uid.parse::<u32>().is_ok()),
        "{list}"
    );
    assert_eq!(blocked_list(&alice, "0"), "-2", "friends: none");
    assert_eq!(blocked_list(&bob, "1"), "-2", "bob blocked nobody");
    assert_eq!(
        as_player(&server, &alice, endpoint::UNBLOCK_USER, &target),
        "1"
    );
    assert_eq!(alice.send(bob.account_id, "hi"), Ok(()));
    assert_eq!(blocked_list(&alice, "1"), "-2");
    let nobody = [("targetAccountID", "999999")];
    assert_eq!(
        as_player(&server, &alice, endpoint::BLOCK_USER, &nobody),
        "1",
        "GD answers 1 whether the target exists or not"
    );
}

#[test]
fn profiles_show_the_message_setting_and_hide_blocked_accounts() {
    let server = start_server(|_| {});
    let (alice, bob) = (Player::new(&server, 7851), Player::new(&server, 7852));
    alice.create_gd_account();
    bob.create_gd_account();
    let profile = |viewer: &Player| {
        let answer = as_player(
            &server,
            viewer,
            endpoint::GET_USER_INFO,
            &[("targetAccountID", "7852")],
        );
        gd::parse_user_info(&answer).map_err(|_| answer)
    };
    let shown = profile(&alice).unwrap_or_else(|a| panic!("{a}"));
    assert_eq!(shown.user.account_id, 7852);
    assert_eq!(shown.user.username, "Player7852");
    assert_eq!(shown.messages, gd::MessageSetting::All);
    assert_eq!(
        as_player(
            &server,
            &bob,
            endpoint::UPDATE_ACCOUNT_SETTINGS,
            &[("mS", "1")]
        ),
        "1"
    );
    let friends_only = profile(&alice).unwrap_or_else(|a| panic!("{a}"));
    assert_eq!(friends_only.messages, gd::MessageSetting::FriendsOnly);
    assert!(!friends_only.is_friend, "the emulator has no friends");
    assert_eq!(
        alice.gd().user_info(7851, &alice.gjp2, 7852),
        Ok(friends_only),
        "the library's request reads the same"
    );

    // GD serves profiles without the caller's credentials too.
    let anonymous = post(
        &server,
        endpoint::GET_USER_INFO,
        &[("targetAccountID", "7852"), ("secret", gd::SECRET)],
    );
    assert!(
        gd::parse_user_info(&anonymous.body).is_ok(),
        "{anonymous:?}"
    );
    let target = [("targetAccountID", "7851")];
    assert_eq!(as_player(&server, &bob, endpoint::BLOCK_USER, &target), "1");
    assert_eq!(profile(&alice), Err("-1".into()), "bob blocked alice");
    let impostor = Player::with_gjp2(&server, 7851, "wrong");
    assert_eq!(profile(&impostor), Err("-1".into()));
    let nobody = as_player(
        &server,
        &alice,
        endpoint::GET_USER_INFO,
        &[("targetAccountID", "999999")],
    );
    assert_eq!(nobody, "-1");
}

#[test]
fn the_sent_message_limit_refuses_uploads_until_the_outbox_shrinks() {
    let server = start_server(|c| c.emulator_outbox_limit = Some(2));
    let (alice, bob) = (Player::new(&server, 7901), Player::new(&server, 7902));
    bob.create_gd_account();
    assert_eq!(alice.send(bob.account_id, "one"), Ok(()));
    assert_eq!(alice.send(bob.account_id, "two"), Ok(()));
    assert_eq!(alice.send(bob.account_id, "three"), Err(GdError::Rejected));
    let sent = alice
        .gd()
        .get_messages(alice.account_id, &alice.gjp2, 0, true);
    let oldest = sent.unwrap_or_else(|e| panic!("{e}")).messages[1].id;
    alice
        .gd()
        .delete_messages(alice.account_id, &alice.gjp2, &[oldest], true)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(alice.send(bob.account_id, "three"), Ok(()));
}

#[test]
fn cdn_faults_answer_as_the_gd_cdn_does() {
    let server = start_server(|c| c.gd_fault_rate = 1.0);
    let player = Player::new(&server, 8001);
    let cases = [
        (GdFault::CdnBlocked, 403, "error code: 1005", "cdn_blocked"),
        (
            GdFault::CdnRateLimited,
            429,
            "error code: 1015",
            "rate_limited",
        ),
        (GdFault::RobtopNo, 200, "no", "blacklisted"),
    ];
    for (fault, status, body, kind) in cases {
        server.set_gd_fault_kinds(&[fault]);
        let r = post(
            &server,
            endpoint::GET_MESSAGES,
            &[
                ("accountID", "8001"),
                ("gjp2", &player.gjp2),
                ("secret", gd::SECRET),
            ],
        );
        assert_eq!((r.status, r.body.as_str()), (status, body));
        assert_eq!(
            gd::check_response(r.status, &r.body).map_err(|e| e.kind()),
            Err(kind)
        );
    }
}

#[test]
fn listings_carry_the_senders_username_and_user_id() {
    let server = start_server(|_| {});
    let (alice, carol, bob) = (
        Player::new(&server, 8101),
        Player::new(&server, 8102),
        Player::new(&server, 8103),
    );
    bob.create_gd_account();
    alice
        .send(bob.account_id, "a")
        .unwrap_or_else(|e| panic!("{e}"));
    carol
        .send(bob.account_id, "c")
        .unwrap_or_else(|e| panic!("{e}"));
    let page = bob.gd().get_messages(bob.account_id, &bob.gjp2, 0, false);
    let page = page.unwrap_or_else(|e| panic!("{e}"));
    let (c, a) = (&page.messages[0], &page.messages[1]);
    assert_eq!(
        (a.username.as_str(), c.username.as_str()),
        ("Player8101", "Player8102")
    );
    assert!(a.user_id >= 100_000 && c.user_id >= 100_000);
    assert_ne!(a.user_id, c.user_id, "each account its own user id");
}
