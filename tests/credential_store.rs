//! The credential store shared by several processes at once, as mods of one player
//! running in several game instances (or launchers) share it: this test binary runs
//! itself as worker processes that save, load and forget in the same file together.

use dashauth::credentials::CredentialStore;
use dashauth::device::Device;
use dashauth::keys::{DeviceKey, KeyType};
use dashauth::protocol::{AccountId, Uuid};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

const WORKERS: u32 = 4;
const ACCOUNTS_PER_WORKER: u32 = 40;
const SERVER: &str = "http://127.0.0.1:8787";
/// Set in a worker process: the store path and the worker's number.
const PATH_VAR: &str = "DASHAUTH_TEST_STORE_WORKER_PATH";
const WORKER_VAR: &str = "DASHAUTH_TEST_STORE_WORKER";
const PEM: &str = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";

fn account(id: u32) -> AccountId {
    AccountId::try_from(id).unwrap_or_else(|e| panic!("{e}"))
}

/// The id of the `generation`th device of `account`.
fn device_id(account: u32, generation: u8) -> Uuid {
    let mut bytes = [0x33; 16];
    bytes[..4].copy_from_slice(&account.to_be_bytes());
    bytes[4] = generation;
    Uuid::new_v4(bytes)
}

fn device(pem: &str, id: Uuid) -> Device {
    let text = json!({
        "version": 1,
        "device_id": id.to_string(),
        "certificate": PEM,
        "ca_certificate": PEM,
        "expires_at": 1_900_000_000_000i64,
        "private_key_pem": pem,
    });
    Device::from_json(&text.to_string()).unwrap_or_else(|e| panic!("{e}"))
}

/// Worker `w` owns accounts w*1000+1 ..: for each it saves a first device, reads it
/// back, replaces it, checks that forgetting the first (stale) device does nothing, and
/// forgets the second device of every odd account. Every other worker does the same at
/// the same moment on its own accounts, in the same file.
fn work(path: &Path, w: u32) {
    let store = CredentialStore::new(path).unwrap_or_else(|e| panic!("{e}"));
    let pem = DeviceKey::generate_type(KeyType::P256)
        .and_then(|k| k.to_pkcs8_pem())
        .unwrap_or_else(|e| panic!("{e}"));
    for i in 1..=ACCOUNTS_PER_WORKER {
        let id = w * 1000 + i;
        let (first, second) = (device_id(id, 1), device_id(id, 2));
        store
            .save(SERVER, account(id), &device(&pem, first))
            .unwrap_or_else(|e| panic!("{e}"));
        let loaded = store
            .load(SERVER, account(id))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.map(|d| d.id()), Some(first), "account {id}");
        store
            .save(SERVER, account(id), &device(&pem, second))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(store.forget(SERVER, account(id), &first), Ok(false));
        if i % 2 == 1 {
            assert_eq!(store.forget(SERVER, account(id), &second), Ok(true));
        }
    }
}

/// Runs as a worker when started by `processes_sharing_a_store_lose_no_entry`, and
/// does nothing otherwise.
#[test]
fn store_worker() {
    let (Ok(path), Ok(w)) = (std::env::var(PATH_VAR), std::env::var(WORKER_VAR)) else {
        return;
    };
    work(
        Path::new(&path),
        w.parse().unwrap_or_else(|e| panic!("{e}")),
    );
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn processes_sharing_a_store_lose_no_entry() {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "dashauth-credential-store-{}-{}",
        std::process::id(),
        dashauth::clock::now_ms()
    )));
    let path = dir.0.join("shared").join("credentials.json");
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("{e}"));
    let workers: Vec<_> = (1..=WORKERS)
        .map(|w| {
            Command::new(&exe)
                .args(["--exact", "store_worker", "--nocapture", "--test-threads=1"])
                .env(PATH_VAR, &path)
                .env(WORKER_VAR, w.to_string())
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect();
    for mut worker in workers {
        let status = worker.wait().unwrap_or_else(|e| panic!("{e}"));
        assert!(status.success(), "a worker failed: {status}");
    }

    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let file: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let entries = file["entries"].as_array().cloned().unwrap_or_default();
    let even = usize::try_from(WORKERS * ACCOUNTS_PER_WORKER / 2).unwrap_or(usize::MAX);
    assert_eq!(entries.len(), even, "{file:#}");
    let store = CredentialStore::new(&path).unwrap_or_else(|e| panic!("{e}"));
    for w in 1..=WORKERS {
        for i in 1..=ACCOUNTS_PER_WORKER {
            let id = w * 1000 + i;
            let loaded = store
                .load(SERVER, account(id))
                .unwrap_or_else(|e| panic!("{e}"));
            let expected = (i % 2 == 0).then(|| device_id(id, 2));
            assert_eq!(loaded.map(|d| d.id()), expected, "account {id}");
        }
    }
    // Nothing moved aside, no temporary file left.
    let mut names: Vec<String> = std::fs::read_dir(dir.0.join("shared"))
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["credentials.json", "credentials.json.lock"]);
}
