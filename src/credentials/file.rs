//! The store file on disk: the sidecar lock, bounded reads, atomic replacement and
//! moving an unreadable file aside.

use super::MAX_FILE_BYTES;
use super::format::{Contents, Unreadable};
use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Tells apart the temporary files of the threads of one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn store_error(path: &Path, what: &str) -> impl FnOnce(io::Error) -> Error {
    let path = path.display().to_string();
    let what = what.to_string();
    move |e| Error::Store(format!("{what} {path}: {e}"))
}

/// Whether the store file exists; an error only when that cannot be told.
pub fn exists(path: &Path) -> Result<bool> {
    path.try_exists()
        .map_err(store_error(path, "cannot look up"))
}

/// `<dir>/<file name><suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The store file with its lock held, shared or exclusive, until dropped.
pub struct Locked {
    path: PathBuf,
    lock: File,
}

impl Locked {
    /// The shared lock for reading; `None` when the file's directory does not exist
    /// (a read does not create it).
    pub fn shared(path: &Path) -> Result<Option<Locked>> {
        let lock = match open_lock_file(path) {
            Ok(lock) => lock,
            Err(Error::Store(_)) if !parent_exists(path) => return Ok(None),
            Err(e) => return Err(e),
        };
        lock.lock_shared()
            .map_err(store_error(path, "cannot lock"))?;
        Ok(Some(Locked {
            path: path.to_path_buf(),
            lock,
        }))
    }

    /// The exclusive lock for a change, creating the file's directory if missing.
    pub fn exclusive(path: &Path) -> Result<Locked> {
        create_parent(path)?;
        let lock = open_lock_file(path)?;
        lock.lock().map_err(store_error(path, "cannot lock"))?;
        Ok(Locked {
            path: path.to_path_buf(),
            lock,
        })
    }

    /// Trades a shared lock for the exclusive one. Not atomic (std leaves converting a
    /// held lock unspecified, and it deadlocks on Windows): the caller reads again.
    pub fn upgrade(&mut self) -> Result<()> {
        self.lock
            .unlock()
            .map_err(store_error(&self.path, "cannot unlock"))?;
        self.lock
            .lock()
            .map_err(store_error(&self.path, "cannot lock"))
    }

    /// The file's contents: `None` when there is no file, `Some(Err)` when it is not a
    /// store this version can read. Never reads more than [`MAX_FILE_BYTES`] + 1 bytes.
    pub fn read(&self) -> Result<Option<std::result::Result<Contents, Unreadable>>> {
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(store_error(&self.path, "cannot open")(e)),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(store_error(&self.path, "cannot read"))?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_FILE_BYTES {
            return Ok(Some(Err(Unreadable(format!(
                "larger than {MAX_FILE_BYTES} bytes"
            )))));
        }
        Ok(Some(Contents::parse(&bytes)))
    }

    /// Renames the file to `<file name>.corrupt-<unix ms>` (with `-<n>` if that exists)
    /// beside it. Needs the exclusive lock.
    pub fn move_aside(&self) -> Result<()> {
        let stamp = format!(".corrupt-{}", crate::clock::now_ms());
        let mut aside = sibling(&self.path, &stamp);
        let mut n = 1u32;
        // Only lock holders rename into these names, so the check cannot race.
        while aside
            .try_exists()
            .map_err(store_error(&aside, "cannot look up"))?
        {
            n = n.saturating_add(1);
            aside = sibling(&self.path, &format!("{stamp}-{n}"));
        }
        match std::fs::rename(&self.path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(store_error(&self.path, "cannot move aside")(e)),
        }
        sync_dir(&self.path);
        Ok(())
    }

    /// Replaces the file with `bytes`: a temporary file (0600) in the same directory,
    /// synced, renamed over it. Needs the exclusive lock.
    pub fn replace(&self, bytes: &[u8]) -> Result<()> {
        remove_stale_temps(&self.path);
        let temp = sibling(
            &self.path,
            &format!(
                ".tmp-{}-{}",
                std::process::id(),
                TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
        );
        let written = write_new(&temp, bytes).and_then(|()| {
            std::fs::rename(&temp, &self.path).map_err(store_error(&self.path, "cannot replace"))
        });
        if written.is_err() {
            // The temporary file holds private keys: it does not stay behind.
            let _ = std::fs::remove_file(&temp);
        }
        written?;
        sync_dir(&self.path);
        Ok(())
    }
}

/// Removes the temporary files a process killed mid-write left (they hold private
/// keys). Under the exclusive lock no other writer has one open; best effort.
fn remove_stale_temps(path: &Path) {
    let (Some(name), Some(entries)) = (
        path.file_name(),
        std::fs::read_dir(parent_of(path).unwrap_or(Path::new("."))).ok(),
    ) else {
        return;
    };
    let mut prefix = name.to_os_string();
    prefix.push(".tmp-");
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        if entry.file_name().as_encoded_bytes().starts_with(prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = private_options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(store_error(path, "cannot create"))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(store_error(path, "cannot write"))
}

fn open_lock_file(path: &Path) -> Result<File> {
    let lock_path = sibling(path, ".lock");
    private_options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(store_error(&lock_path, "cannot open"))
}

/// Options for a file only the player may read: 0600 on unix (Windows files inherit
/// the directory's ACL, which in a user's profile is the user's already).
fn private_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

fn parent_of(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

fn parent_exists(path: &Path) -> bool {
    parent_of(path).is_none_or(Path::is_dir)
}

/// Creates the missing directories above the file (0700 on unix) and the lock file,
/// without waiting for any lock: proves the store can work.
pub fn prepare(path: &Path) -> Result<()> {
    create_parent(path)?;
    open_lock_file(path).map(drop)
}

/// Creates the missing directories above the file (0700 on unix).
fn create_parent(path: &Path) -> Result<()> {
    let Some(parent) = parent_of(path) else {
        return Ok(());
    };
    if parent.is_dir() {
        return Ok(());
    }
    #[allow(unused_mut)]
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(parent)
        .map_err(store_error(parent, "cannot create the directory"))
}

/// Makes a rename durable (unix); best effort, since the rename itself has happened.
fn sync_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = parent_of(path).or(Some(Path::new(".")))
        && let Ok(dir) = File::open(dir)
    {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}
