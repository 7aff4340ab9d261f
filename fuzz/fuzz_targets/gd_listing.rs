//! GD message listings and single messages as the bot reads them: never a panic, and a
//! parsed listing formats and parses back to the same senders.
#![no_main]

use dashauth::gd;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = gd::parse_message(&text);
    if let Ok(page) = gd::parse_message_page(&text) {
        let raw: Vec<gd::RawMessage> = page.messages.iter().map(|m| m.to_raw()).collect();
        let again = gd::parse_message_page(&gd::format_message_page(&raw, page.page));
        if !raw.is_empty() {
            let again = again.unwrap_or_else(|e| panic!("a formatted listing does not parse: {e}"));
            let senders =
                |p: &gd::MessagePage| p.messages.iter().map(|m| m.account_id).collect::<Vec<_>>();
            assert_eq!(senders(&again), senders(&page));
        }
    }
});
