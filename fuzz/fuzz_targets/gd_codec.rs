//! GD's XOR/base64 codecs, form bodies and response classification: never a panic, and
//! whatever decodes encodes back to text that decodes the same.
#![no_main]

use dashauth::gd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(subject) = gd::decode_subject(&text) {
        assert_eq!(
            gd::decode_subject(&gd::encode_subject(&subject)).ok(),
            Some(subject)
        );
    }
    if let Ok(body) = gd::decode_body(&text) {
        assert_eq!(gd::decode_body(&gd::encode_body(&body)).ok(), Some(body));
    }
    let fields = gd::form_decode(&text);
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(gd::form_decode(&gd::form_encode(&borrowed)), fields);
    let status = data.first().map_or(200, |b| 100 + u16::from(*b) * 2);
    let _ = gd::check_response(status, &text);
});
