//! The store file's JSON (format version 1, see the module docs): parsing into entries
//! kept as JSON values, so that what this version cannot read is written back as it was.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::protocol::{AccountId, Uuid};
use serde_json::{Map, Value, json};

/// The `format` field: tells a store file from any other JSON a path may name.
pub const FORMAT_NAME: &str = "dashauth-credentials";
/// The `version` this code writes and the newest it reads.
pub const FORMAT_VERSION: u64 = 1;

/// What an entry is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    server: String,
    account_id: u32,
}

impl Key {
    /// The key of (server base URL, account); the URL is compared byte for byte.
    pub fn new(server: &str, account_id: AccountId) -> Key {
        Key {
            server: server.to_string(),
            account_id: account_id.get(),
        }
    }

    /// The key an entry is stored under, if it has a readable one.
    fn of(entry: &Value) -> Option<Key> {
        let server = entry.get("server")?.as_str()?;
        let account_id = u32::try_from(entry.get("account_id")?.as_u64()?).ok()?;
        Some(Key {
            server: server.to_string(),
            account_id,
        })
    }

    fn holds(&self, entry: &Value) -> bool {
        Key::of(entry).is_some_and(|k| k == *self)
    }
}

/// Why a file is not a store this version can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub String);

/// A store file's contents.
#[derive(Debug, Clone)]
pub struct Contents {
    /// The top-level object without `entries`: unknown fields survive a rewrite.
    top: Map<String, Value>,
    entries: Vec<Value>,
    /// The entry just saved, which the size bounds never evict.
    saved: Option<Key>,
}

impl Contents {
    /// A store with no entries, as a missing file reads.
    pub fn empty() -> Contents {
        Contents {
            top: Map::new(),
            entries: Vec::new(),
            saved: None,
        }
    }

    /// Parses a whole file (UTF-8 checked by serde_json).
    pub fn parse(bytes: &[u8]) -> std::result::Result<Contents, Unreadable> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| Unreadable(format!("not JSON: {e}")))?;
        let Value::Object(mut top) = value else {
            return Err(Unreadable("not a JSON object".into()));
        };
        if top.get("format").and_then(Value::as_str) != Some(FORMAT_NAME) {
            return Err(Unreadable(format!("no \"format\": \"{FORMAT_NAME}\"")));
        }
        match top.get("version").and_then(Value::as_u64) {
            Some(FORMAT_VERSION) => {}
            Some(v) if v > FORMAT_VERSION => {
                return Err(Unreadable(format!(
                    "format version {v} is newer than {FORMAT_VERSION}"
                )));
            }
            _ => return Err(Unreadable("no valid \"version\"".into())),
        }
        let Some(Value::Array(entries)) = top.remove("entries") else {
            return Err(Unreadable("no \"entries\" array".into()));
        };
        Ok(Contents {
            top,
            entries,
            saved: None,
        })
    }

    /// The device of the first entry under `key` that reads as one.
    pub fn device(&self, key: &Key) -> Option<Device> {
        self.entries
            .iter()
            .filter(|e| key.holds(e))
            .find_map(|e| Device::from_json(&e.get("device")?.to_string()).ok())
    }

    /// Replaces the entries under `key` with one holding `device`, saved at `now_ms`.
    pub fn put(&mut self, key: &Key, device: Value, now_ms: i64) {
        self.entries.retain(|e| !key.holds(e));
        self.entries.push(json!({
            "server": key.server,
            "account_id": key.account_id,
            "saved_at": now_ms,
            "device": device,
        }));
        self.saved = Some(key.clone());
    }

    /// Removes the entries under `key` whose device is `device_id`; whether there was one.
    pub fn remove(&mut self, key: &Key, device_id: &Uuid) -> bool {
        let before = self.entries.len();
        self.entries
            .retain(|e| !(key.holds(e) && device_id_of(e) == Some(*device_id)));
        self.entries.len() != before
    }

    /// Removes the entries under `key` whose device is `device` (a [`device_value`]):
    /// the same id, certificate and keys, whatever its nonce clock says; whether there
    /// was one.
    pub fn remove_same(&mut self, key: &Key, device: &Value) -> bool {
        const IDENTITY: [&str; 4] = [
            "device_id",
            "certificate",
            "private_key_pem",
            "pending_private_key_pem",
        ];
        let same = |stored: Option<&Value>| {
            stored.is_some_and(|stored| {
                IDENTITY
                    .iter()
                    .all(|field| stored.get(field) == device.get(field))
            })
        };
        let before = self.entries.len();
        self.entries
            .retain(|e| !(key.holds(e) && same(e.get("device"))));
        self.entries.len() != before
    }

    /// The file text, after dropping the entries saved longest ago until there are at
    /// most `max_entries` and the text is at most `max_bytes`.
    pub fn bounded_text(&mut self, max_entries: usize, max_bytes: u64) -> Result<String> {
        while self.entries.len() > max_entries {
            if !self.evict_oldest() {
                break;
            }
        }
        loop {
            let text = self.to_text()?;
            if u64::try_from(text.len()).unwrap_or(u64::MAX) <= max_bytes {
                return Ok(text);
            }
            if !self.evict_oldest() {
                return Err(Error::InvalidArgument(format!(
                    "the device does not fit in a credential store of {max_bytes} bytes"
                )));
            }
        }
    }

    fn to_text(&self) -> Result<String> {
        let mut top = self.top.clone();
        top.insert("format".into(), FORMAT_NAME.into());
        top.insert("version".into(), FORMAT_VERSION.into());
        top.insert("entries".into(), Value::Array(self.entries.clone()));
        serde_json::to_string_pretty(&Value::Object(top))
            .map_err(|e| Error::Internal(format!("credential store JSON: {e}")))
    }

    /// Drops the entry saved longest ago (entries without a readable `saved_at` first),
    /// never the one just saved; whether there was one to drop.
    fn evict_oldest(&mut self) -> bool {
        let saved = self.saved.as_ref();
        let oldest = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !saved.is_some_and(|k| k.holds(e)))
            .min_by_key(|(_, e)| {
                e.get("saved_at")
                    .and_then(Value::as_i64)
                    .unwrap_or(i64::MIN)
            })
            .map(|(i, _)| i);
        match oldest {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }
}

/// The device id an entry holds, read without parsing the rest of its device.
fn device_id_of(entry: &Value) -> Option<Uuid> {
    entry
        .get("device")?
        .get("device_id")?
        .as_str()?
        .parse()
        .ok()
}

/// A device's save text as the JSON object nested in its entry.
pub fn device_value(device: &Device) -> Result<Value> {
    let text = device.to_json()?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("a device's save text is not JSON: {e}")))
}
