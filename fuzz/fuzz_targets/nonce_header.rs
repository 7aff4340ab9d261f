//! `Authorization: Nonce …` values and UUIDs as the server reads them: never a panic,
//! and an accepted header prints back to one that parses the same.
#![no_main]

use dashauth::protocol::{NonceHeader, Uuid};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = text.parse::<Uuid>();
    if let Ok(header) = text.parse::<NonceHeader>() {
        assert_eq!(header.to_string().parse::<NonceHeader>().ok(), Some(header));
    }
});
