//! What the library costs a game: stripped sizes of the mod build (the library without
//! the server feature, built by `bench/run.sh`), and threads and resident memory of this
//! process, which runs no server, while idle and during a login.

use crate::capi::{Client, Login, Poll};
use crate::login::new_account;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Sizes in bytes of the mod build's libraries.
pub struct Sizes {
    pub cdylib_stripped: u64,
    pub cdylib: u64,
    pub staticlib: u64,
    pub staticlib_stripped: u64,
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .len()
}

/// A stripped copy of `path` (`strip --strip-all`; `--strip-debug` for an archive,
/// whose symbols the mod's linker still needs), and its size.
fn stripped_size(path: &Path, archive: bool) -> u64 {
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "stripped-{}",
        path.file_name().expect("a file").to_string_lossy()
    ));
    std::fs::copy(path, &copy).expect("copies the library");
    let flag = if archive {
        "--strip-debug"
    } else {
        "--strip-all"
    };
    let status = Command::new("strip")
        .arg(flag)
        .arg(&copy)
        .status()
        .expect("runs strip");
    assert!(status.success(), "strip failed");
    size(&copy)
}

/// The sizes, if `DASHAUTH_BENCH_LIB_DIR` names the mod build's output (`bench/run.sh`
/// sets it; the bench profile's own library has the server feature on).
pub fn sizes() -> Option<Sizes> {
    let dir = PathBuf::from(std::env::var_os("DASHAUTH_BENCH_LIB_DIR")?);
    let cdylib = dir.join("libdashauth.so");
    let staticlib = dir.join("libdashauth.a");
    Some(Sizes {
        cdylib: size(&cdylib),
        cdylib_stripped: stripped_size(&cdylib, false),
        staticlib: size(&staticlib),
        staticlib_stripped: stripped_size(&staticlib, true),
    })
}

/// Threads and resident memory of this process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub threads: u64,
    pub rss_kib: u64,
}

/// Reads `/proc/self/status`.
pub fn usage() -> Usage {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Usage {
        threads: field("Threads:"),
        rss_kib: field("VmRSS:"),
    }
}

/// The library's footprint in this process.
pub struct Footprint {
    /// Before any library call.
    pub baseline: Usage,
    /// With a client built, no login running.
    pub idle: Usage,
    /// The most seen while one login ran.
    pub during_login: Usage,
    /// After the login was freed and its worker ended.
    pub after: Usage,
    /// How long the worker thread took to end after the login was freed.
    pub worker_exit: Duration,
}

/// Measures one login's footprint. Call before anything else starts threads here.
pub fn measure(base_url: &str, gd_url: &str) -> Footprint {
    let baseline = usage();
    let client = Client::new(base_url, gd_url);
    let idle = usage();
    let mut during = idle;
    let mut login = Login::start(&client, new_account());
    loop {
        let now = usage();
        during.threads = during.threads.max(now.threads);
        during.rss_kib = during.rss_kib.max(now.rss_kib);
        match login.poll() {
            Poll::Pending => std::thread::sleep(Duration::from_millis(1)),
            Poll::Done(_) => break,
            Poll::Failed(e) => panic!("footprint login failed: {e}"),
        }
    }
    drop(login);
    let freed = Instant::now();
    while usage().threads > baseline.threads && freed.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(1));
    }
    let worker_exit = freed.elapsed();
    let after = usage();
    drop(client);
    Footprint {
        baseline,
        idle,
        during_login: during,
        after,
        worker_exit,
    }
}
