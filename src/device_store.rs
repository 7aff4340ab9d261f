//! Where a client keeps the devices the one-call sign-in enrols: the credential store
//! file a mod names (shared by every process and mod naming it), or, without one, memory
//! for as long as the client lives.

use crate::credentials::CredentialStore;
use crate::device::Device;
use crate::error::Result;
use crate::protocol::AccountId;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// A client's devices, per (DashAuth server, GD account). Clones share them.
#[derive(Debug, Clone)]
pub enum DeviceStore {
    /// In memory, for the life of the client and its snapshots.
    Memory(Arc<Mutex<HashMap<(String, u32), Device>>>),
    /// In a credential store file.
    File(CredentialStore),
}

impl Default for DeviceStore {
    fn default() -> Self {
        DeviceStore::Memory(Arc::default())
    }
}

fn locked<T>(map: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is one insert or remove: a poisoned map is still consistent.
    map.lock().unwrap_or_else(|e| e.into_inner())
}

impl DeviceStore {
    /// The credential store file at `path`, prepared ([`CredentialStore::prepare`]).
    pub fn file(path: &Path) -> Result<DeviceStore> {
        let store = CredentialStore::new(path)?;
        store.prepare()?;
        Ok(DeviceStore::File(store))
    }

    /// The device kept for (server, account), if any.
    pub fn load(&self, server: &str, account: AccountId) -> Result<Option<Device>> {
        match self {
            DeviceStore::Memory(map) => Ok(locked(map)
                .get(&(server.to_string(), account.get()))
                .cloned()),
            DeviceStore::File(store) => store.load(server, account),
        }
    }

    /// Keeps `device` for (server, account), replacing what was there.
    pub fn save(&self, server: &str, account: AccountId, device: &Device) -> Result<()> {
        match self {
            DeviceStore::Memory(map) => {
                locked(map).insert((server.to_string(), account.get()), device.clone());
                Ok(())
            }
            DeviceStore::File(store) => store.save(server, account, device),
        }
    }

    /// Forgets the device kept for (server, account) if it is still this very device
    /// ([`Device::same_credentials`]): another process may have rotated it meanwhile.
    pub fn forget(&self, server: &str, account: AccountId, device: &Device) -> Result<bool> {
        match self {
            DeviceStore::Memory(map) => {
                let mut map = locked(map);
                let key = (server.to_string(), account.get());
                if map.get(&key).is_some_and(|d| d.same_credentials(device)) {
                    map.remove(&key);
                    return Ok(true);
                }
                Ok(false)
            }
            DeviceStore::File(store) => store.forget_exact(server, account, device),
        }
    }
}
