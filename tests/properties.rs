//! Property tests of everything that parses outside input (issue 12): GD's codecs and
//! message listings, the nonce header, JSON payloads and device save files. Each
//! property runs a bounded number of cases inside `cargo test`; fuzz/ runs the same
//! parsers unbounded.

mod server_support;

use dashauth::device::Device;
use dashauth::gd::{self, GdMessage, PageInfo, Raw, RawMessage};
use dashauth::protocol::{self, ChallengeData, Envelope, NonceHeader, Payload, Uuid};
use proptest::prelude::*;
use std::sync::OnceLock;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn uuid() -> impl Strategy<Value = Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::new_v4)
}

/// What GD (and the emulator) store of a field a sender chose: separators removed.
fn stored(text: &str) -> String {
    gd::strip_separators(text)
}

fn message(
    id: u64,
    account_id: u32,
    username: &str,
    subject: &str,
    body: Option<&str>,
) -> RawMessage {
    GdMessage {
        id,
        account_id,
        user_id: 7,
        subject: Raw(stored(&gd::encode_subject(subject))),
        body: body.map(|b| Raw(stored(&gd::encode_body(b)))),
        username: stored(username),
        age: "1 second".into(),
        read: false,
        sent: false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn subjects_and_bodies_survive_gd_encoding(text in any::<String>()) {
        prop_assert_eq!(gd::decode_subject(&gd::encode_subject(&text)).ok(), Some(text.clone()));
        prop_assert_eq!(gd::decode_body(&gd::encode_body(&text)).ok(), Some(text));
    }

    #[test]
    fn decoders_never_panic(text in any::<String>()) {
        let _ = gd::decode_subject(&text);
        let _ = gd::decode_body(&text);
        let _ = gd::form_decode(&text);
        let _ = gd::check_response(200, &text);
        let _ = gd::parse_message(&text);
        let _ = gd::parse_message_page(&text);
    }

    #[test]
    fn forms_round_trip(fields in proptest::collection::vec((any::<String>(), any::<String>()), 0..6)) {
        let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(gd::form_decode(&gd::form_encode(&borrowed)), fields);
    }

    /// Whatever a sender puts in its username, subject or body, a listing names the
    /// account that really sent each message, and holds exactly the messages sent.
    #[test]
    fn no_sender_smuggling_through_separators(
        senders in proptest::collection::vec(
            (1u32..u32::MAX, "[a-zA-Z0-9:|#~ ]{0,24}", any::<String>(), proptest::option::of(any::<String>())),
            1..5,
        ),
    ) {
        let messages: Vec<RawMessage> = senders
            .iter()
            .enumerate()
            .map(|(i, (account, name, subject, body))| message(i as u64 + 1, *account, name, subject, body.as_deref()))
            .collect();
        let page = PageInfo { total: messages.len() as u32, offset: 0, page_size: 50 };
        let parsed = gd::parse_message_page(&gd::format_message_page(&messages, page))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(parsed.messages.len(), senders.len());
        prop_assert!(parsed.unparsed_ids.is_empty());
        for (got, (account, _, subject, _)) in parsed.messages.iter().zip(&senders) {
            prop_assert_eq!(got.account_id, *account);
            prop_assert_eq!(&got.subject, subject);
        }
    }

    /// Mutating a valid listing never panics the parser, and whatever it accepts names
    /// only accounts that appear in the text.
    #[test]
    fn mutated_listings_never_panic(
        account in 1u32..u32::MAX,
        subject in any::<String>(),
        cut in any::<prop::sample::Index>(),
        insert in "[:|#~0-9]{0,4}",
    ) {
        let page = PageInfo { total: 1, offset: 0, page_size: 50 };
        let text = gd::format_message_page(&[message(1, account, "p", &subject, None)], page);
        let mut at = cut.index(text.len() + 1);
        while !text.is_char_boundary(at) { at -= 1; }
        let mutated = format!("{}{insert}{}", &text[..at], &text[at..]);
        if let Ok(parsed) = gd::parse_message_page(&mutated) {
            for m in parsed.messages {
                prop_assert!(mutated.contains(&m.account_id.to_string()));
            }
        }
        let _ = gd::parse_message(&text[..at]);
    }

    #[test]
    fn nonce_headers_round_trip(id in uuid(), ts in 0i64..i64::MAX, sig in "[A-Za-z0-9+/=]{1,400}") {
        let header = NonceHeader { device_id: id, timestamp_ms: ts, signature: sig };
        prop_assert_eq!(header.to_string().parse::<NonceHeader>().ok(), Some(header));
    }

    #[test]
    fn nonce_header_parsing_never_panics(text in any::<String>(), id in uuid()) {
        let _ = text.parse::<NonceHeader>();
        let _ = format!("Nonce {id} {text}").parse::<NonceHeader>();
        let _ = text.parse::<Uuid>();
    }

    #[test]
    fn payloads_round_trip(bot in any::<u32>(), challenge in any::<String>(), id in uuid(), message in any::<String>()) {
        let data = ChallengeData { bot_account_id: bot, challenge, id };
        let ok = serde_json::to_string(&Envelope::ok(data.clone())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let parsed: Payload<ChallengeData> = protocol::parse_payload(&ok).map_err(TestCaseError::fail)?;
        prop_assert_eq!(parsed, Payload::Data(data.clone()));
        let bare = serde_json::to_string(&data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(protocol::parse_payload::<ChallengeData>(&bare).ok(), Some(Payload::Data(data)));
        let failed = serde_json::to_string(&Envelope::<ChallengeData>::error(message.clone())).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(protocol::parse_payload::<ChallengeData>(&failed).ok(), Some(Payload::Failure(message)));
    }

    #[test]
    fn payload_parsing_never_panics(text in any::<String>(), json in arbitrary_json()) {
        let _ = protocol::parse_payload::<ChallengeData>(&text);
        let _ = protocol::parse_payload::<ChallengeData>(&json);
        let _ = protocol::parse_payload::<String>(&json);
    }
}

/// JSON texts shaped like envelopes, with arbitrary values in their fields.
fn arbitrary_json() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map("[a-z_]{1,14}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    (any::<bool>(), value).prop_map(|(success, data)| {
        serde_json::json!({"success": success, "message": "m", "data": data}).to_string()
    })
}

/// A real save file: a device registered with a server started once for these tests.
fn saved_device() -> &'static String {
    static SAVED: OnceLock<String> = OnceLock::new();
    SAVED.get_or_init(|| {
        let server = server_support::start_server(|_| {});
        let player = server_support::Player::new(&server, 9300);
        let client =
            dashauth::client::Client::new(&server.base_url()).unwrap_or_else(|e| panic!("{e}"));
        let account =
            dashauth::protocol::AccountId::new(player.account_id).unwrap_or_else(|e| panic!("{e}"));
        let challenge = client
            .request_challenge(account)
            .unwrap_or_else(|e| panic!("{e}"));
        player.send_until_accepted(server.bot_account_id(), &challenge.subject());
        let key = dashauth::keys::DeviceKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let device = (0..20)
            .find_map(|_| {
                Device::enroll(&client, &challenge.id, &key, "properties", "linux")
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .unwrap_or_else(|| panic!("the bot never saw the enrolment message"));
        device.to_json().unwrap_or_else(|e| panic!("{e}"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..config() })]

    #[test]
    fn device_files_round_trip_and_mutations_never_panic(
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let saved = saved_device();
        let device = Device::from_json(saved).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let again = device.to_json().map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(Device::from_json(&again).map(|d| d.id()).ok(), Some(device.id()));

        let mut bytes = saved.clone().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = Device::from_json(&String::from_utf8_lossy(&bytes));
        let _ = Device::from_json(&saved[..cut.index(saved.len())]);
    }
}
