//! DashAuth response bodies as the client reads them (envelope or bare data): never a
//! panic, whatever the server or a proxy sends.
#![no_main]

use dashauth::protocol::{ChallengeData, parse_payload};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_payload::<ChallengeData>(&text);
    let _ = parse_payload::<String>(&text);
    let _ = parse_payload::<serde_json::Value>(&text);
});
