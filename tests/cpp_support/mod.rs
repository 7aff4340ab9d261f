//! The C and C++ toolchain for the tests that build C/C++ code against the headers and
//! the library, as a mod does. No compiler is a test failure, not a skip: CI installs
//! one, and a silent pass would hide a broken header.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `include/`, where dashauth.h and dashauth.hpp are.
pub fn include_dir() -> PathBuf {
    repo_root().join("include")
}

/// The C compiler: `$CC`, else the first of cc, gcc, clang that runs.
pub fn c_compiler() -> Command {
    compiler("CC", "C compiler", &["cc", "gcc", "clang"])
}

/// The C++ compiler: `$CXX`, else the first of c++, g++, clang++ that runs.
pub fn cxx_compiler() -> Command {
    compiler("CXX", "C++ compiler", &["c++", "g++", "clang++"])
}

fn compiler(var: &str, what: &str, candidates: &[&str]) -> Command {
    // `$CC` may carry arguments, e.g. "ccache cc" or "clang --target=...".
    if let Some(words) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
        let mut words = words.split_whitespace();
        let mut command = Command::new(words.next().unwrap_or_default());
        command.args(words);
        return command;
    }
    for candidate in candidates {
        let runs = Command::new(candidate)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success());
        if runs {
            return Command::new(candidate);
        }
    }
    panic!(
        "no {what} found (${var} is unset and none of {candidates:?} runs). These tests \
         check that C and C++ mods can use the headers and the library: install one \
         (e.g. `apt-get install build-essential`) or set ${var}."
    );
}

/// Runs `command` and returns its output; panics with the command line and everything it
/// printed when it cannot start or exits non-zero.
pub fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// A directory for one test's generated files, under cargo's per-test scratch space.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        panic!("cannot create {}: {e}", dir.display());
    }
    dir
}
