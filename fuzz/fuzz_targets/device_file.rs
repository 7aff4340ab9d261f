//! Device save files as a mod reads them back from disk: never a panic, and a file
//! that loads saves back to one that loads as the same device.
#![no_main]

use dashauth::device::Device;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(device) = Device::from_json(&text) {
        let saved = device
            .to_json()
            .unwrap_or_else(|e| panic!("a loaded device does not save: {e}"));
        let again = Device::from_json(&saved)
            .unwrap_or_else(|e| panic!("a saved device does not load: {e}"));
        assert_eq!(again.id(), device.id());
    }
});
