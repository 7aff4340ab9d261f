use super::*;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
use rsa::traits::PublicKeyParts;
use std::collections::HashSet;

fn vector_key() -> DeviceKey {
    let vector = include_str!("../../tests/vectors/nonce-rsa2048.json");
    let v: serde_json::Value = serde_json::from_str(vector).unwrap_or_else(|e| panic!("{e}"));
    let pem = v["private_key_pkcs8_pem"].as_str().unwrap_or_default();
    DeviceKey::from_pkcs8_pem(pem).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn nonce_timestamps_in_a_tight_loop_are_distinct_and_increasing() {
    let key = vector_key();
    let before = crate::clock::now_ms();
    let stamps: Vec<i64> = (0..10_000).map(|_| key.next_nonce_timestamp()).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    assert!(stamps[0] >= before);
}

#[test]
fn nonce_timestamps_from_eight_threads_sharing_clones_are_distinct() {
    let key = vector_key();
    let stamps: Vec<i64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let key = key.clone();
                scope.spawn(move || {
                    (0..2_000)
                        .map(|_| key.next_nonce_timestamp())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|_| panic!("thread panicked")))
            .collect()
    });
    let distinct: HashSet<i64> = stamps.iter().copied().collect();
    assert_eq!(distinct.len(), stamps.len());
}

#[test]
fn a_rotated_key_continues_the_old_keys_clock() {
    let old = vector_key();
    let last = old.next_nonce_timestamp() + 1_000;
    old.set_last_nonce_ms(last);
    let new = vector_key().sharing_nonce_clock_of(&old);
    assert!(new.next_nonce_timestamp() > last);
}

#[test]
fn keys_a_few_bits_short_of_2048_are_refused() {
    let private =
        RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2047).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(private.n().bits(), 2047);
    assert_eq!(private.size() * 8, 2048, "the byte count rounds up");
    let pem = private
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        DeviceKey::from_pkcs8_pem(&pem),
        Err(Error::InvalidArgument(m)) if m.contains("2047 bits")
    ));
    let public = private
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        DevicePublicKey::from_spki_pem(&public),
        Err(m) if m.contains("2047 bits")
    ));
}
