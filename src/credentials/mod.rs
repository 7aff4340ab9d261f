//! The credential store: one file, shared by every mod and process that names it, that
//! keeps a device (keys and certificates, never a gjp2) per (server, account), so that
//! one verification by GD message serves every DashAuth mod of the player on that server.
//!
//! # File format (version 1)
//!
//! ```json
//! {
//!   "format": "dashauth-credentials",
//!   "version": 1,
//!   "entries": [
//!     {
//!       "server": "https://auth.example.com",
//!       "account_id": 71,
//!       "saved_at": 1764540000000,
//!       "device": { "version": 1, "device_id": "…", "private_key_pem": "…", … }
//!     }
//!   ]
//! }
//! ```
//!
//! `server` is the client's base URL exactly as [`crate::client::Client::base_url`] gives
//! it; `saved_at` is UNIX ms; `device` is the [`Device::to_json`] object, nested. Fields
//! this version does not know (at the top or in an entry) are kept as they are, and so
//! are entries it cannot read: another version or a hand edit loses nothing.
//!
//! # On disk
//!
//! - Every change is a read-modify-write under an exclusive lock on the sidecar
//!   `<file>.lock` (never renamed nor deleted: a lock on the data file itself would be
//!   lost with the rename). Reads take a shared lock.
//! - The new text goes to `<file>.tmp-<pid>-<n>` in the same directory (mode 0600), is
//!   synced, then renamed over the file: a reader sees the old file or the new one, never
//!   half of one; temporary files a killed process left are removed by the next save.
//!   The lock file is 0600 too (on Windows both inherit the directory's ACL).
//! - A missing parent directory is created (0700 on unix) by [`CredentialStore::save`]:
//!   a mod names a shared directory that the first mod to sign in has to create.
//! - A file that is not a store this version can read (corrupt, truncated, empty, not
//!   UTF-8, over [`MAX_FILE_BYTES`], a newer `version`) is renamed to
//!   `<file name>.corrupt-<unix ms>` beside it, never deleted, and the store starts empty.
//! - At most [`MAX_ENTRIES`] entries and [`MAX_FILE_BYTES`]: a save beyond either drops
//!   the entries saved longest ago (never the one being saved).

mod file;
mod format;
#[cfg(test)]
mod tests;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::protocol::{AccountId, Uuid};
use file::Locked;
use format::{Contents, Key};
use std::path::{Path, PathBuf};

/// Largest store file read; a larger one is moved aside as corrupt.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most entries a store keeps.
pub const MAX_ENTRIES: usize = 256;
/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 4096;
/// Longest server base URL accepted as a key, in bytes.
pub const MAX_SERVER_BYTES: usize = 2048;

/// A credential store file (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct CredentialStore {
    path: PathBuf,
}

impl CredentialStore {
    /// Checks the path (non-empty, not a directory, ≤ 4096 bytes); does not touch the disk otherwise.
    pub fn new(path: impl Into<PathBuf>) -> Result<CredentialStore> {
        let path = path.into();
        let bytes = path.as_os_str().len();
        if bytes == 0 || bytes > MAX_PATH_BYTES {
            return Err(Error::InvalidArgument(format!(
                "the credential store path must be 1–{MAX_PATH_BYTES} bytes"
            )));
        }
        // "dir/.." or "/" name no file to rename over.
        if path.file_name().is_none() || path.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "the credential store path {} is a directory, not a file",
                path.display()
            )));
        }
        Ok(CredentialStore { path })
    }

    /// The store file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the store usable now rather than at the first save: creates the missing
    /// directories above the file (0700 on unix) and the lock file. A mod author then
    /// learns of a path that cannot work when setting it, not from players who verify by
    /// GD message at every launch. The store file itself is not created.
    pub fn prepare(&self) -> Result<()> {
        file::prepare(&self.path)
    }

    /// The device saved for (server base URL, account), or None. A file that is corrupt, truncated, not UTF-8, too large
    /// or written by a newer format version is moved aside (renamed to `<file name>.corrupt-<unix ms>` next to it, never
    /// deleted) and the answer is Ok(None). An entry whose device cannot be read (bad key PEM...) is Ok(None) for that
    /// key but is kept in the file untouched. Only real I/O failures (permission denied, disk error) are Err(Error::Store(..)).
    pub fn load(&self, server: &str, account_id: AccountId) -> Result<Option<Device>> {
        let key = Key::new(server, account_id);
        let Some(mut locked) = Locked::shared(&self.path)? else {
            // No directory, hence no file: nothing saved yet.
            return Ok(None);
        };
        let contents = match locked.read()? {
            Some(Ok(contents)) => contents,
            None => return Ok(None),
            Some(Err(_)) => {
                // Moving aside needs the exclusive lock; another process may have
                // replaced the file meanwhile, so it is read again under it.
                locked.upgrade()?;
                match locked.read()? {
                    Some(Ok(contents)) => contents,
                    None => return Ok(None),
                    Some(Err(_)) => {
                        locked.move_aside()?;
                        return Ok(None);
                    }
                }
            }
        };
        Ok(contents.device(&key))
    }

    /// Saves (replaces) the device for (server, account), leaving every other entry as it was (entries it cannot parse are
    /// preserved verbatim as serde_json::Value). Read-modify-write under an exclusive lock.
    pub fn save(&self, server: &str, account_id: AccountId, device: &Device) -> Result<()> {
        check_server(server)?;
        let key = Key::new(server, account_id);
        let device = format::device_value(device)?;
        let mut locked = Locked::exclusive(&self.path)?;
        let mut contents = self.read_or_start_over(&mut locked)?;
        contents.put(&key, device, crate::clock::now_ms());
        let text = contents.bounded_text(MAX_ENTRIES, MAX_FILE_BYTES)?;
        locked.replace(text.as_bytes())
    }

    /// Removes the entry for (server, account) only if it still holds `device_id` (another process may have enrolled a newer
    /// device meanwhile); returns whether it removed one.
    pub fn forget(&self, server: &str, account_id: AccountId, device_id: &Uuid) -> Result<bool> {
        self.forget_where(server, account_id, |contents, key| {
            contents.remove(key, device_id)
        })
    }

    /// Removes the entry for (server, account) only if it still holds this very device:
    /// the same id, certificate and keys. A rotation keeps the device id, so this is
    /// what a sign-in uses: another process may have rotated the device (or kept the key
    /// of a rotation whose reply was lost) since this one read it.
    pub fn forget_exact(
        &self,
        server: &str,
        account_id: AccountId,
        device: &Device,
    ) -> Result<bool> {
        let device = format::device_value(device)?;
        self.forget_where(server, account_id, |contents, key| {
            contents.remove_same(key, &device)
        })
    }

    fn forget_where(
        &self,
        server: &str,
        account_id: AccountId,
        remove: impl FnOnce(&mut Contents, &Key) -> bool,
    ) -> Result<bool> {
        let key = Key::new(server, account_id);
        if !file::exists(&self.path)? {
            // Nothing to forget; no need to create a lock file (or its directory).
            return Ok(false);
        }
        let mut locked = Locked::exclusive(&self.path)?;
        let mut contents = self.read_or_start_over(&mut locked)?;
        if !remove(&mut contents, &key) {
            return Ok(false);
        }
        let text = contents.bounded_text(MAX_ENTRIES, MAX_FILE_BYTES)?;
        locked.replace(text.as_bytes())?;
        Ok(true)
    }

    /// The file's contents under an exclusive lock: empty when there is no file, and
    /// when it cannot be read, after moving it aside.
    fn read_or_start_over(&self, locked: &mut Locked) -> Result<Contents> {
        match locked.read()? {
            Some(Ok(contents)) => Ok(contents),
            None => Ok(Contents::empty()),
            Some(Err(_)) => {
                locked.move_aside()?;
                Ok(Contents::empty())
            }
        }
    }
}

fn check_server(server: &str) -> Result<()> {
    if server.is_empty() || server.len() > MAX_SERVER_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the server URL of a stored device must be 1–{MAX_SERVER_BYTES} bytes"
        )));
    }
    Ok(())
}
