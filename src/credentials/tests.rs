use super::format::Contents;
use super::*;
use crate::keys::{DeviceKey, KeyType};
use serde_json::{Value, json};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

const SERVER: &str = "https://auth.example.com";
const OTHER_SERVER: &str = "https://auth.example.org:8443/dashauth";
const PEM: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

/// A directory of its own under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dashauth-credentials-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        TempDir(dir)
    }

    fn store(&self) -> CredentialStore {
        CredentialStore::new(self.0.join("credentials.json")).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The names in the directory, sorted.
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn account(id: u32) -> AccountId {
    AccountId::try_from(id).unwrap_or_else(|e| panic!("{e:?}"))
}

fn uuid(n: u32) -> Uuid {
    let mut bytes = [0x5a; 16];
    bytes[..4].copy_from_slice(&n.to_be_bytes());
    Uuid::new_v4(bytes)
}

/// A device with id `uuid(n)`, built from its save text: no server needed.
fn device(n: u32) -> Device {
    static KEY: OnceLock<String> = OnceLock::new();
    let pem = KEY.get_or_init(|| {
        DeviceKey::generate_type(KeyType::P256)
            .and_then(|k| k.to_pkcs8_pem())
            .unwrap_or_else(|e| panic!("{e}"))
    });
    let text = json!({
        "version": 1,
        "device_id": uuid(n).to_string(),
        "certificate": PEM,
        "ca_certificate": PEM,
        "expires_at": 1_900_000_000_000i64 + i64::from(n),
        "private_key_pem": pem,
    });
    Device::from_json(&text.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn loaded_id(store: &CredentialStore, server: &str, id: u32) -> Option<Uuid> {
    store
        .load(server, account(id))
        .unwrap_or_else(|e| panic!("{e}"))
        .map(|d| d.id())
}

fn save(store: &CredentialStore, server: &str, id: u32, device_n: u32) {
    store
        .save(server, account(id), &device(device_n))
        .unwrap_or_else(|e| panic!("{e}"));
}

fn file_json(store: &CredentialStore) -> Value {
    let text = std::fs::read_to_string(store.path()).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_saved_device_loads_back_whole() {
    let dir = TempDir::new();
    let store = dir.store();
    let saved = device(1);
    store
        .save(SERVER, account(71), &saved)
        .unwrap_or_else(|e| panic!("{e}"));
    let back = store
        .load(SERVER, account(71))
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("nothing loaded"));
    assert_eq!(back.id(), saved.id());
    assert_eq!(back.expires_at(), saved.expires_at());
    assert_eq!(back.certificate_pem(), PEM);
    assert_eq!(
        back.key().to_pkcs8_pem().ok(),
        saved.key().to_pkcs8_pem().ok()
    );

    let file = file_json(&store);
    assert_eq!(file["format"], "dashauth-credentials");
    assert_eq!(file["version"], 1);
    let entry = &file["entries"][0];
    assert_eq!(entry["server"], SERVER);
    assert_eq!(entry["account_id"], 71);
    assert!(entry["saved_at"].as_i64().is_some_and(|t| t > 0));
    // The device is a nested object, not a string holding JSON.
    assert_eq!(entry["device"]["device_id"], saved.id().to_string());
}

#[test]
fn nothing_saved_loads_as_none_without_creating_anything() {
    let dir = TempDir::new();
    let store = dir.store();
    assert_eq!(loaded_id(&store, SERVER, 1), None);
    let nowhere = CredentialStore::new(dir.0.join("missing").join("credentials.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded_id(&nowhere, SERVER, 1), None);
    let forgot = nowhere.forget(SERVER, account(1), &uuid(1));
    assert_eq!(forgot, Ok(false));
    assert!(!dir.0.join("missing").exists());
}

#[test]
fn accounts_and_servers_are_kept_apart() {
    let dir = TempDir::new();
    let store = dir.store();
    save(&store, SERVER, 1, 10);
    save(&store, SERVER, 2, 20);
    save(&store, OTHER_SERVER, 1, 30);
    assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(10)));
    assert_eq!(loaded_id(&store, SERVER, 2), Some(uuid(20)));
    assert_eq!(loaded_id(&store, OTHER_SERVER, 1), Some(uuid(30)));
    assert_eq!(loaded_id(&store, OTHER_SERVER, 2), None);
    // The URL is compared exactly, as Client::base_url gives it.
    assert_eq!(loaded_id(&store, &format!("{SERVER}/"), 1), None);
}

#[test]
fn saving_replaces_only_its_own_entry() {
    let dir = TempDir::new();
    let store = dir.store();
    save(&store, SERVER, 1, 10);
    save(&store, SERVER, 2, 20);
    save(&store, SERVER, 1, 11);
    assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(11)));
    assert_eq!(loaded_id(&store, SERVER, 2), Some(uuid(20)));
    assert_eq!(
        file_json(&store)["entries"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn forget_with_a_stale_device_id_keeps_the_newer_device() {
    let dir = TempDir::new();
    let store = dir.store();
    save(&store, SERVER, 1, 10);
    save(&store, SERVER, 2, 20);
    save(&store, SERVER, 1, 11);
    assert_eq!(store.forget(SERVER, account(1), &uuid(10)), Ok(false));
    assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(11)));
    assert_eq!(store.forget(OTHER_SERVER, account(1), &uuid(11)), Ok(false));
    assert_eq!(store.forget(SERVER, account(1), &uuid(11)), Ok(true));
    assert_eq!(loaded_id(&store, SERVER, 1), None);
    assert_eq!(loaded_id(&store, SERVER, 2), Some(uuid(20)));
    assert_eq!(store.forget(SERVER, account(1), &uuid(11)), Ok(false));
}

#[test]
fn forget_exact_keeps_a_device_another_process_rotated() {
    let dir = TempDir::new();
    let store = dir.store();
    let stale = device(30);
    store
        .save(SERVER, account(3), &stale)
        .unwrap_or_else(|e| panic!("{e}"));
    // Another process rotated it: same id, another key (and certificate).
    let key = DeviceKey::generate_type(KeyType::P256)
        .and_then(|k| k.to_pkcs8_pem())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut text: serde_json::Value =
        serde_json::from_str(&stale.to_json().unwrap_or_else(|e| panic!("{e}")))
            .unwrap_or_else(|e| panic!("{e}"));
    text["private_key_pem"] = json!(key);
    let rotated = Device::from_json(&text.to_string()).unwrap_or_else(|e| panic!("{e}"));
    store
        .save(SERVER, account(3), &rotated)
        .unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(store.forget_exact(SERVER, account(3), &stale), Ok(false));
    assert_eq!(loaded_id(&store, SERVER, 3), Some(uuid(30)));
    assert_eq!(store.forget_exact(SERVER, account(3), &rotated), Ok(true));
    assert_eq!(loaded_id(&store, SERVER, 3), None);
}

/// Files that are not a store this version reads, named for the failure messages.
fn unreadable_files() -> Vec<(&'static str, Vec<u8>)> {
    let dir = TempDir::new();
    let store = dir.store();
    save(&store, SERVER, 1, 10);
    let good = std::fs::read(store.path()).unwrap_or_else(|e| panic!("{e}"));
    let mut too_new: Value = serde_json::from_slice(&good).unwrap_or_else(|e| panic!("{e}"));
    too_new["version"] = json!(2);
    let too_new = too_new.to_string();
    let mut not_utf8 = good.clone();
    let at = not_utf8.len() / 2;
    not_utf8[at] = 0xff;
    let mut huge = good.clone();
    huge.resize(
        usize::try_from(MAX_FILE_BYTES).unwrap_or(usize::MAX) + 1,
        b' ',
    );
    vec![
        ("garbage", b"\x00\x01 not json".to_vec()),
        ("truncated", good[..good.len() / 2].to_vec()),
        ("empty", Vec::new()),
        ("too new", too_new.into_bytes()),
        ("not UTF-8", not_utf8),
        ("huge", huge),
        ("not an object", b"[1, 2]".to_vec()),
        ("other JSON", br#"{"version": 1, "entries": []}"#.to_vec()),
        (
            "no version",
            br#"{"format": "dashauth-credentials", "entries": []}"#.to_vec(),
        ),
        (
            "entries not a list",
            br#"{"format": "dashauth-credentials", "version": 1, "entries": {}}"#.to_vec(),
        ),
    ]
}

/// The one `.corrupt-` file beside the store, with its bytes.
fn aside_bytes(dir: &TempDir) -> Vec<u8> {
    let aside: Vec<String> = dir
        .names()
        .into_iter()
        .filter(|n| n.starts_with("credentials.json.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{:?}", dir.names());
    std::fs::read(dir.0.join(&aside[0])).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_unreadable_file_is_moved_aside_on_load_and_a_save_then_works() {
    for (what, bytes) in unreadable_files() {
        let dir = TempDir::new();
        let store = dir.store();
        std::fs::write(store.path(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded_id(&store, SERVER, 1), None, "{what}");
        assert!(!store.path().exists(), "{what}");
        assert!(aside_bytes(&dir) == bytes, "{what}: the aside file differs");
        save(&store, SERVER, 1, 12);
        assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(12)), "{what}");
    }
}

#[test]
fn an_unreadable_file_is_moved_aside_by_a_save_or_a_forget() {
    for (what, bytes) in unreadable_files() {
        let dir = TempDir::new();
        let store = dir.store();
        std::fs::write(store.path(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        save(&store, SERVER, 1, 12);
        assert!(aside_bytes(&dir) == bytes, "{what}: the aside file differs");
        assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(12)), "{what}");

        let dir = TempDir::new();
        let store = dir.store();
        std::fs::write(store.path(), &bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.forget(SERVER, account(1), &uuid(10)),
            Ok(false),
            "{what}"
        );
        assert!(aside_bytes(&dir) == bytes, "{what}: the aside file differs");
    }
}

#[test]
fn a_second_unreadable_file_does_not_replace_the_first_aside() {
    let dir = TempDir::new();
    let store = dir.store();
    for bytes in [b"first".as_slice(), b"second".as_slice()] {
        std::fs::write(store.path(), bytes).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded_id(&store, SERVER, 1), None);
    }
    let mut kept: Vec<Vec<u8>> = dir
        .names()
        .iter()
        .filter(|n| n.contains(".corrupt-"))
        .map(|n| std::fs::read(dir.0.join(n)).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    kept.sort();
    assert_eq!(kept, vec![b"first".to_vec(), b"second".to_vec()]);
}

#[test]
fn entries_this_version_cannot_read_survive_a_save() {
    let dir = TempDir::new();
    let store = dir.store();
    let bad_device = json!({
        "server": SERVER, "account_id": 5, "saved_at": 1,
        "device": {"version": 1, "device_id": uuid(50).to_string(), "private_key_pem": "not a key"}
    });
    let foreign = json!({"kind": "from a later version", "account_id": "five"});
    let file = json!({
        "format": "dashauth-credentials",
        "version": 1,
        "written_by": "a later 1.x",
        "entries": [bad_device, foreign],
    });
    std::fs::write(store.path(), file.to_string()).unwrap_or_else(|e| panic!("{e}"));

    // The unreadable device is no device, but the file is not corrupt.
    assert_eq!(loaded_id(&store, SERVER, 5), None);
    assert!(store.path().exists());
    save(&store, SERVER, 6, 60);

    let after = file_json(&store);
    let entries = after["entries"].as_array().cloned().unwrap_or_default();
    assert!(entries.contains(&bad_device), "{after:#}");
    assert!(entries.contains(&foreign), "{after:#}");
    assert_eq!(after["written_by"], "a later 1.x");
    assert_eq!(loaded_id(&store, SERVER, 6), Some(uuid(60)));
    // A forget reads the device id without the rest of the device.
    assert_eq!(store.forget(SERVER, account(5), &uuid(50)), Ok(true));
    assert!(
        !file_json(&store)["entries"]
            .as_array()
            .is_some_and(|e| e.contains(&bad_device))
    );
}

#[test]
fn a_save_beyond_the_entry_limit_drops_the_entry_saved_longest_ago() {
    let dir = TempDir::new();
    let store = dir.store();
    let device = format::device_value(&device(1)).unwrap_or_else(|e| panic!("{e}"));
    // Full, written directly: the oldest entry is account 100, saved at 1.
    let entries: Vec<Value> = (0..MAX_ENTRIES)
        .map(|i| {
            let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
            // Saved times out of order, so that the oldest is not simply the first.
            let saved_at = if n == 100 { 1 } else { 1_000 + i64::from(n) };
            json!({"server": SERVER, "account_id": n, "saved_at": saved_at, "device": device})
        })
        .collect();
    let file = json!({"format": "dashauth-credentials", "version": 1, "entries": entries});
    std::fs::write(store.path(), file.to_string()).unwrap_or_else(|e| panic!("{e}"));

    save(&store, SERVER, 100_000, 2);
    assert_eq!(
        file_json(&store)["entries"].as_array().map(Vec::len),
        Some(MAX_ENTRIES)
    );
    assert_eq!(loaded_id(&store, SERVER, 100), None);
    assert_eq!(loaded_id(&store, SERVER, 100_000), Some(uuid(2)));
    assert_eq!(loaded_id(&store, SERVER, 1), Some(uuid(1)));
    assert_eq!(loaded_id(&store, SERVER, 256), Some(uuid(1)));
}

#[test]
fn the_size_limit_drops_old_entries_but_never_the_one_saved() {
    let device = format::device_value(&device(1)).unwrap_or_else(|e| panic!("{e}"));
    let one = serde_json::to_string_pretty(&device).map_or(0, |t| t.len());
    let mut contents = Contents::empty();
    for n in 1..=3 {
        contents.put(
            &format::Key::new(SERVER, account(n)),
            device.clone(),
            i64::from(n),
        );
    }
    // The newest is saved first in time but is the one just saved.
    contents.put(&format::Key::new(SERVER, account(9)), device.clone(), 0);
    let limit = u64::try_from(one * 3).unwrap_or(u64::MAX);
    let text = contents
        .bounded_text(MAX_ENTRIES, limit)
        .unwrap_or_else(|e| panic!("{e}"));
    let back = Contents::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(back.device(&format::Key::new(SERVER, account(9))).is_some());
    assert!(back.device(&format::Key::new(SERVER, account(1))).is_none());
    assert!(back.device(&format::Key::new(SERVER, account(3))).is_some());

    let too_small = contents.bounded_text(MAX_ENTRIES, 100);
    assert!(matches!(too_small, Err(Error::InvalidArgument(_))));
}

#[cfg(unix)]
#[test]
fn the_file_its_lock_and_a_created_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    let store = CredentialStore::new(dir.0.join("dashauth").join("credentials.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    save(&store, SERVER, 1, 10);
    let mode = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    assert_eq!(mode(store.path()), 0o600);
    assert_eq!(
        mode(&dir.0.join("dashauth").join("credentials.json.lock")),
        0o600
    );
    assert_eq!(mode(&dir.0.join("dashauth")), 0o700);
    // A file that was readable by others becomes private with the next save.
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("{e}"));
    save(&store, SERVER, 2, 20);
    assert_eq!(mode(store.path()), 0o600);
}

#[test]
fn only_the_store_and_its_lock_stay_in_the_directory() {
    let dir = TempDir::new();
    let store = dir.store();
    // What a process killed between writing and renaming leaves.
    std::fs::write(dir.0.join("credentials.json.tmp-1-0"), "keys")
        .unwrap_or_else(|e| panic!("{e}"));
    save(&store, SERVER, 1, 10);
    save(&store, SERVER, 2, 20);
    assert_eq!(store.forget(SERVER, account(1), &uuid(10)), Ok(true));
    assert_eq!(
        dir.names(),
        vec!["credentials.json", "credentials.json.lock"]
    );
}

#[test]
fn a_path_that_is_no_file_is_refused() {
    let dir = TempDir::new();
    assert!(matches!(
        CredentialStore::new(&dir.0),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        CredentialStore::new(""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        CredentialStore::new("/"),
        Err(Error::InvalidArgument(_))
    ));
    let long = dir.0.join("x".repeat(MAX_PATH_BYTES));
    assert!(matches!(
        CredentialStore::new(long),
        Err(Error::InvalidArgument(_))
    ));
    assert!(CredentialStore::new(dir.0.join("not yet there.json")).is_ok());
}

#[test]
fn a_directory_in_the_files_place_is_a_store_error_and_is_left_alone() {
    let dir = TempDir::new();
    let store = dir.store();
    std::fs::create_dir(store.path()).unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        store.load(SERVER, account(1)),
        Err(Error::Store(_))
    ));
    assert!(matches!(
        store.save(SERVER, account(1), &device(1)),
        Err(Error::Store(_))
    ));
    assert!(store.path().is_dir());
}

#[test]
fn a_server_url_that_cannot_be_a_key_is_refused() {
    let dir = TempDir::new();
    let store = dir.store();
    for server in [String::new(), "h".repeat(MAX_SERVER_BYTES + 1)] {
        let saved = store.save(&server, account(1), &device(1));
        assert!(matches!(saved, Err(Error::InvalidArgument(_))));
    }
    assert!(!store.path().exists());
}

#[test]
fn threads_saving_at_once_lose_no_entry() {
    let dir = TempDir::new();
    let store = dir.store();
    std::thread::scope(|s| {
        for t in 1..=4u32 {
            let store = store.clone();
            s.spawn(move || {
                for i in 0..15 {
                    save(&store, SERVER, t * 100 + i, t * 100 + i);
                }
            });
        }
    });
    for t in 1..=4u32 {
        for i in 0..15 {
            assert_eq!(
                loaded_id(&store, SERVER, t * 100 + i),
                Some(uuid(t * 100 + i))
            );
        }
    }
}
