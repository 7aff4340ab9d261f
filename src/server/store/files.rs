//! The data directory of the SQLite backend (protocol.md section 8): created 0700
//! whatever the umask, its files 0600, a file that group or others can read refused with
//! a message saying how to fix it, and one server process at a time (a lock file).

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

/// The database file in the data directory.
pub const DATABASE_FILE: &str = "dashauth.sqlite3";
/// Held locked while a server uses the directory.
const LOCK_FILE: &str = "dashauth.lock";

/// Why the data directory cannot be used.
#[derive(Debug)]
pub enum DataDirError {
    /// A filesystem operation failed.
    Io(PathBuf, std::io::Error),
    /// A file holding secrets is readable by group or others.
    TooOpen(PathBuf, u32),
    /// Another process uses the directory.
    InUse(PathBuf),
}

impl fmt::Display for DataDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDirError::Io(path, e) => write!(f, "{}: {e}", path.display()),
            DataDirError::TooOpen(path, mode) => write!(
                f,
                "{} holds the server's keys and is readable by others (mode {mode:o}); \
                 refusing to start. Fix it with: chmod 600 '{}'",
                path.display(),
                path.display()
            ),
            DataDirError::InUse(path) => write!(
                f,
                "{} is in use by another dashauth-server process; stop it, or give each \
                 process its own --data-dir (several instances share state through \
                 --database-url postgres://…)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for DataDirError {}

/// An opened data directory, locked for this process.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
    /// Removed on drop (a throwaway store).
    ephemeral: bool,
}

impl DataDir {
    /// Opens `path`, creating it (0700) when missing, and checks its files.
    pub fn open(path: &Path) -> Result<DataDir, DataDirError> {
        create_private_dir(path)?;
        let db = path.join(DATABASE_FILE);
        // Files written by an earlier version hold the CA key too.
        for name in [DATABASE_FILE, super::super::certs::CA_KEY_FILE] {
            check_private(&path.join(name))?;
        }
        // Created here 0600 so that SQLite, which gives its -wal and -shm files the
        // database file's mode, never makes a file others can read.
        create_private_file(&db)?;
        let lock = lock(path)?;
        Ok(DataDir {
            path: path.to_path_buf(),
            _lock: lock,
            ephemeral: false,
        })
    }

    /// A new private directory under the system's temporary directory, removed when
    /// dropped.
    pub fn ephemeral() -> Result<DataDir, DataDirError> {
        let name = format!(
            "dashauth-{}",
            super::super::tokens::new_uuid()
                .to_string()
                .replace('-', "")
        );
        let mut dir = DataDir::open(&std::env::temp_dir().join(name))?;
        dir.ephemeral = true;
        Ok(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.path.join(DATABASE_FILE)
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if self.ephemeral {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |e| DataDirError::Io(path.to_path_buf(), e)
}

fn lock(dir: &Path) -> Result<File, DataDirError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DataDirError::InUse(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => Err(DataDirError::Io(path, e)),
    }
}

#[cfg(unix)]
fn create_private_dir(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(io(path))?;
    // The mode given to mkdir is masked by the umask; set it again explicitly.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).map_err(io(path))
}

#[cfg(not(unix))]
fn create_private_dir(path: &Path) -> Result<(), DataDirError> {
    std::fs::create_dir_all(path).map_err(io(path))
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if path.exists() {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> Result<(), DataDirError> {
    if !path.exists() {
        File::create(path).map_err(io(path))?;
    }
    Ok(())
}

/// Refuses an existing file that group or others may read or write.
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(DataDirError::TooOpen(path.to_path_buf(), mode));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DataDirError::Io(path.to_path_buf(), e)),
    }
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), DataDirError> {
    Ok(())
}
