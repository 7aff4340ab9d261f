//! One test suite for the store interface, run against each backend: SQLite always,
//! PostgreSQL when `DASHAUTH_TEST_DATABASE_URL` is set (see `testing.rs`).

use super::testing::TestDatabase;
use super::*;
use crate::server::tokens::TokenHash;

fn account(n: u32) -> AccountId {
    AccountId::new(n).unwrap_or_else(|e| panic!("{e}"))
}

fn id(n: u8) -> Uuid {
    Uuid::new_v4([n; 16])
}

fn client(last: u8) -> IpAddr {
    IpAddr::from([198, 51, 100, last])
}

fn challenge(n: u8, account_id: u32, from: IpAddr, expires_at: i64) -> NewChallenge {
    NewChallenge {
        id: id(n),
        account: account(account_id),
        code: format!("{:0>30}", format!("c{n}")),
        bot_account_id: 71,
        requested_by: from,
        audience: None,
        created_at: i64::from(n),
        expires_at,
    }
}

fn subject(c: &NewChallenge) -> String {
    crate::protocol::challenge_subject(&c.code)
}

fn key() -> DevicePublicKey {
    let vector: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/vectors/nonce-rsa2048.json"))
            .unwrap_or_else(|e| panic!("{e}"));
    let pem = vector["public_key_spki_pem"].as_str().unwrap_or_default();
    DevicePublicKey::from_spki_pem(pem).unwrap_or_else(|e| panic!("{e}"))
}

fn device(n: u8, account_id: u32, expires_at: i64) -> Device {
    Device {
        id: id(n),
        account: account(account_id),
        key: key(),
        name: format!("PC {n}"),
        platform: "linux".into(),
        certificate_pem: "-----BEGIN CERTIFICATE-----\n".into(),
        certificate_expires_at: expires_at,
        revoked: false,
        created_at: i64::from(n),
    }
}

fn ok<T>(result: StoreResult<T>) -> T {
    result.unwrap_or_else(|e| panic!("store: {e}"))
}

async fn add(store: &Store, c: NewChallenge, limits: &Limits) -> Admission {
    ok(store.add_challenge(c, limits, 0).await)
}

/// A client's sixth challenge for one account evicts that client's oldest, never
/// another client's: a stranger cannot push out the challenge of a player logging in.
async fn only_the_same_clients_challenges_are_evicted(store: Store) {
    let limits = Limits {
        pending_challenges_per_account: 2,
        ..Limits::default()
    };
    let player = challenge(1, 7, client(1), 1000);
    assert_eq!(
        add(&store, player.clone(), &limits).await,
        Admission::Added { evicted: 0 }
    );
    for n in 10..20 {
        add(&store, challenge(n, 7, client(2), 1000), &limits).await;
    }
    let found = ok(store
        .pending_challenge_for_subject(&subject(&player), 10)
        .await);
    assert_eq!(
        found.map(|p| p.id),
        Some(player.id),
        "the player's challenge stays"
    );
    // The stranger holds at most the cap for the account.
    assert_eq!(ok(store.challenge_count(10).await), 3);
    let own = challenge(2, 7, client(1), 1000);
    add(&store, own, &limits).await;
    assert_eq!(
        add(&store, challenge(3, 7, client(1), 1000), &limits).await,
        Admission::Added { evicted: 1 }
    );
    assert_eq!(
        ok(store
            .pending_challenge_for_subject(&subject(&player), 10)
            .await),
        None
    );
}

/// A full store takes a batch from the heaviest holder for a client that holds none,
/// and refuses the heaviest holder itself.
async fn a_full_store_evicts_the_heaviest_holder(store: Store) {
    let limits = Limits {
        challenges: 10,
        ..Limits::default()
    };
    for n in 0..8 {
        add(
            &store,
            challenge(n, 100 + u32::from(n), client(1), 1000),
            &limits,
        )
        .await;
    }
    add(&store, challenge(8, 200, client(2), 1000), &limits).await;
    add(&store, challenge(9, 201, client(2), 1000), &limits).await;
    assert_eq!(ok(store.challenge_count(0).await), 10);
    assert_eq!(
        add(&store, challenge(20, 300, client(3), 1000), &limits).await,
        Admission::Added { evicted: 1 },
        "a newcomer gets a place"
    );
    let first = challenge(0, 100, client(1), 1000);
    assert_eq!(
        ok(store
            .pending_challenge_for_subject(&subject(&first), 0)
            .await),
        None
    );
    let refused = add(&store, challenge(21, 400, client(1), 1000), &limits).await;
    assert_eq!(
        refused,
        Admission::Full {
            retry_after_ms: 1000
        },
        "the heaviest holder"
    );
    assert_eq!(
        add(&store, challenge(22, 401, client(2), 1000), &limits).await,
        Admission::Added { evicted: 1 },
        "a lighter holder still gets a place"
    );
    assert_eq!(ok(store.challenge_count(0).await), 10);
}

async fn a_challenge_is_validated_and_consumed_once(store: Store) {
    let c = challenge(1, 7, client(1), 1000);
    add(&store, c.clone(), &Limits::default()).await;
    let token = TokenHash::of("t1");
    assert_eq!(
        ok(store.complete_challenge(&c.id, &token, 5000, 10).await),
        Completion::Pending
    );
    assert!(ok(store.has_pending_challenges(71, 10).await));
    assert!(!ok(store.has_pending_challenges(72, 10).await));
    assert_eq!(ok(store.pending_counts_by_bot(10).await), vec![(71, 1)]);
    let sender = Sender {
        username: "Player7".into(),
        user_id: 99,
    };
    assert!(ok(store.validate_challenge(&c.id, &sender, 10, 2000).await));
    assert!(!ok(store
        .validate_challenge(&c.id, &sender, 10, 2000)
        .await));
    assert!(!ok(store.has_pending_challenges(71, 10).await));
    let done = ok(store.complete_challenge(&c.id, &token, 5000, 1500).await);
    assert_eq!(
        done,
        Completion::Consumed(Verified {
            account: account(7),
            audience: None,
            sender: Some(sender.clone()),
        })
    );
    let again = ok(store
        .complete_challenge(&c.id, &TokenHash::of("t2"), 5000, 1500)
        .await);
    assert_eq!(again, Completion::Missing);
    let grant = ok(store.token(&token, 1500).await).unwrap_or_else(|| panic!("token stored"));
    assert_eq!(grant.kind, TokenKind::Login);
    assert_eq!(grant.account, account(7));
    assert_eq!(grant.sender, Some(sender));
}

async fn an_expired_challenge_is_neither_pending_nor_validated(store: Store) {
    let c = challenge(2, 7, client(1), 1000);
    add(&store, c.clone(), &Limits::default()).await;
    assert!(!ok(store.has_pending_challenges(71, 1000).await));
    assert_eq!(
        ok(store
            .pending_challenge_for_subject(&subject(&c), 1000)
            .await),
        None
    );
    assert!(!ok(store
        .validate_challenge(&c.id, &Sender::default(), 1000, 5000)
        .await));
    let token = TokenHash::of("t");
    assert_eq!(
        ok(store.complete_challenge(&c.id, &token, 9, 1000).await),
        Completion::Missing
    );
    let swept = ok(store.sweep(1000).await);
    assert_eq!(swept.unvalidated_challenges, 1);
    assert_eq!(swept.challenges_left, 0);
}

async fn a_nonce_is_single_use_until_forgotten(store: Store) {
    let device = id(3);
    assert!(ok(store.use_nonce(&device, 5, 100).await));
    assert!(!ok(store.use_nonce(&device, 5, 100).await));
    assert!(ok(store.use_nonce(&id(4), 5, 100).await));
    ok(store.sweep(100).await);
    assert!(ok(store.use_nonce(&device, 5, 200).await));
}

async fn tokens_expire_and_are_revocable(store: Store) {
    let c = challenge(1, 9, client(1), 1000);
    add(&store, c.clone(), &Limits::default()).await;
    ok(store
        .validate_challenge(&c.id, &Sender::default(), 0, 1000)
        .await);
    let hash = TokenHash::of("t");
    ok(store.complete_challenge(&c.id, &hash, 100, 0).await);
    assert!(ok(store.token(&hash, 99).await).is_some());
    assert_eq!(ok(store.token(&hash, 100).await), None);
    assert_eq!(ok(store.token(&TokenHash::of("other"), 0).await), None);
    assert!(ok(store.remove_token(&hash).await));
    assert!(!ok(store.remove_token(&hash).await));
    assert_eq!(ok(store.token(&hash, 0).await), None);
}

async fn a_devices_oldest_session_ends_beyond_the_cap(store: Store) {
    let d = device(5, 9, 10_000);
    assert_eq!(
        ok(store.add_device(&d, &Limits::default(), 0).await),
        Ok(())
    );
    let grant = TokenGrant {
        kind: TokenKind::Session,
        account: d.account,
        expires_at: 500,
        device: Some(d.id),
        audience: None,
        sender: None,
    };
    let hashes: Vec<TokenHash> = ["a", "b", "c"].iter().map(|t| TokenHash::of(t)).collect();
    for (at, hash) in hashes.iter().enumerate() {
        ok(store.add_session(hash, &grant, at as i64, 2).await);
    }
    assert_eq!(ok(store.token(&hashes[0], 0).await), None);
    assert_eq!(ok(store.token(&hashes[1], 0).await), Some(grant.clone()));
    assert_eq!(ok(store.token(&hashes[2], 0).await), Some(grant));
    // Revoking the device ends its sessions.
    assert!(
        ok(store.revoke_device(&d.id, account(8)).await).is_none(),
        "not the owner"
    );
    let revoked = ok(store.revoke_device(&d.id, account(9)).await);
    assert!(revoked.is_some_and(|d| d.revoked));
    assert_eq!(ok(store.token(&hashes[2], 0).await), None);
}

async fn devices_are_capped_and_old_inactive_ones_forgotten(store: Store) {
    let limits = Limits {
        devices_per_account: 2,
        ..Limits::default()
    };
    assert_eq!(
        ok(store.add_device(&device(1, 9, 1000), &limits, 0).await),
        Ok(())
    );
    assert_eq!(
        ok(store.add_device(&device(2, 9, 1000), &limits, 0).await),
        Ok(())
    );
    assert_eq!(
        ok(store.add_device(&device(3, 9, 1000), &limits, 0).await),
        Err(DevicesFull)
    );
    assert!(ok(store.revoke_device(&id(1), account(9)).await).is_some());
    assert_eq!(ok(store.active_devices(account(9), 0).await), 1);
    assert_eq!(
        ok(store.add_device(&device(3, 9, 1000), &limits, 0).await),
        Ok(())
    );
    // Certificates expired at 1000: three inactive, two are kept, the oldest goes.
    assert_eq!(
        ok(store.add_device(&device(4, 9, 5000), &limits, 2000).await),
        Ok(())
    );
    assert!(ok(store.device(&id(1)).await).is_none());
    assert!(ok(store.device(&id(2)).await).is_some());
    assert!(ok(store.device(&id(3)).await).is_some());
    let d4 = ok(store.device(&id(4)).await).unwrap_or_else(|| panic!("stored"));
    assert_eq!(d4.key, key());
    assert_eq!(d4.name, "PC 4");
    assert!(ok(store
        .replace_device_key(&id(4), &key(), "-----BEGIN X", 9000)
        .await));
    let d4 = ok(store.device(&id(4)).await).unwrap_or_else(|| panic!("stored"));
    assert_eq!(
        (d4.certificate_expires_at, d4.certificate_pem.as_str()),
        (9000, "-----BEGIN X")
    );
}

async fn one_instance_holds_a_bot_lease_at_a_time(store: Store) {
    assert!(ok(store.acquire_bot_lease(71, "a", 300, 0).await));
    assert!(!ok(store.acquire_bot_lease(71, "b", 300, 100).await));
    assert!(
        ok(store.acquire_bot_lease(72, "b", 300, 100).await),
        "another bot"
    );
    assert!(
        ok(store.acquire_bot_lease(71, "a", 600, 200).await),
        "renewed"
    );
    assert!(!ok(store.acquire_bot_lease(71, "b", 900, 599).await));
    assert!(
        ok(store.acquire_bot_lease(71, "b", 900, 600).await),
        "expired: taken over"
    );
}

async fn the_first_secret_stored_wins(store: Store) {
    assert_eq!(ok(store.secret("ca").await), None);
    assert_eq!(ok(store.secret_or_insert("ca", "one").await), "one");
    assert_eq!(ok(store.secret_or_insert("ca", "two").await), "one");
    assert_eq!(ok(store.secret("ca").await).as_deref(), Some("one"));
}

async fn sqlite_store() -> Store {
    Store::open(&Location::Ephemeral)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(super::sqlite_store().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = super::TestDatabase::create(stringify!($name)).await else {
                        return;
                    };
                    let location = super::Location::Postgres(db.url().to_string());
                    let store = super::Store::open(&location)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    super::$name(store).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

backend_tests!(
    only_the_same_clients_challenges_are_evicted,
    a_full_store_evicts_the_heaviest_holder,
    a_challenge_is_validated_and_consumed_once,
    an_expired_challenge_is_neither_pending_nor_validated,
    a_nonce_is_single_use_until_forgotten,
    tokens_expire_and_are_revocable,
    a_devices_oldest_session_ends_beyond_the_cap,
    devices_are_capped_and_old_inactive_ones_forgotten,
    one_instance_holds_a_bot_lease_at_a_time,
    the_first_secret_stored_wins,
);
