//! The C++ example, built the way a mod links libdashauth (the cdylib cargo built for
//! this test run, with include/), runs the whole flow against the reference server over
//! loopback and reports failures the way it promises.

mod cpp_support;

use dashauth::server::{Config, ServerHandle};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Where cargo put the cdylib for this test run. `cargo test` builds the library with
/// every crate type of Cargo.toml, cdylib included, next to this test binary in
/// `<target>/<profile>/deps/`; it copies it up to `<target>/<profile>/` only for
/// `cargo build`. Derived from the test binary's path rather than CARGO_TARGET_DIR so it
/// also holds for `--release`, `--target` and a target dir set in cargo config.
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let deps = exe.parent().expect("the test binary is in a directory");
    let name = format!(
        "{}dashauth{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .find(|dir| dir.join(&name).is_file())
        .unwrap_or_else(|| {
            panic!(
                "no {name} in {} or its parent: Cargo.toml's crate-type must list cdylib",
                deps.display()
            )
        })
        .to_path_buf()
}

/// Compiles cpp-example/main.cpp once per test binary, with the warnings CI wants.
fn example() -> &'static Path {
    static EXAMPLE: OnceLock<PathBuf> = OnceLock::new();
    EXAMPLE.get_or_init(|| {
        let lib_dir = library_dir();
        let exe = cpp_support::scratch_dir("cpp_example").join("dashauth-example");
        cpp_support::run(
            cpp_support::cxx_compiler()
                .args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
                .arg("-I")
                .arg(cpp_support::include_dir())
                .arg(cpp_support::repo_root().join("cpp-example/main.cpp"))
                .arg("-L")
                .arg(&lib_dir)
                .arg("-ldashauth")
                .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
                .arg("-o")
                .arg(&exe),
        );
        exe
    })
}

/// The emulator creates the account on first sight of this (account id, gjp2) pair.
const ACCOUNT_ID: &str = "1234";
const GJP2: &str = "0123456789abcdef0123456789abcdef01234567";

/// Runs the example with every setting on its command line, so that DASHAUTH_*
/// variables in the test's environment cannot change what it does.
fn run_example(server_url: &str, gd_url: &str) -> (Output, String, String) {
    let output = Command::new(example())
        .args([server_url, gd_url, ACCOUNT_ID, GJP2])
        .output()
        .expect("the example starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stdout, stderr)
}

#[test]
fn example_runs_the_whole_flow_against_the_reference_server() {
    let server = ServerHandle::start(Config::default()).expect("the reference server starts");
    let (output, stdout, stderr) = run_example(&server.base_url(), &server.gd_url());
    server.shutdown();

    let printed = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert!(
        output.status.success(),
        "example failed: {}\n{printed}",
        output.status
    );
    for line in [
        "... signing in with this device",
        "with a GD message and a new device",
        "\"sub\":\"1234\"",
        "\"aud\":\"dashauth.cpp-example\"",
        "All 5 steps succeeded.",
    ] {
        assert!(stdout.contains(line), "missing {line:?}\n{printed}");
    }
    // Steps 3 and 4 sign in with the stored device: one request, no GD message.
    assert_eq!(
        stdout.matches(" ms, without a GD message").count(),
        2,
        "{printed}"
    );
}

#[test]
fn example_reports_an_unreachable_server_with_status_and_message() {
    // Port 1 on loopback refuses connections: the login fails fast with NETWORK.
    let (output, stdout, stderr) = run_example("http://127.0.0.1:1", "http://127.0.0.1:1/database");

    let printed = format!("--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
    assert_eq!(output.status.code(), Some(1), "{printed}");
    assert!(stderr.contains("FAILED: sign-in: "), "{printed}");
    assert!(
        stderr.to_lowercase().contains("network"),
        "the status is named\n{printed}"
    );
    assert!(!stdout.contains("access token: "), "{printed}");
}

/// Saves the device JSON of argv[1] to argv[2] with dashauth::Device::save.
const SAVE_SOURCE: &str = r#"#include "dashauth.hpp"
#include <cstdio>

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    auto device = dashauth::Device::from_json(argv[1]);
    if (!device) { std::fprintf(stderr, "from_json: %s\n", device.message().c_str()); return 1; }
    auto saved = device->save(argv[2]);
    if (!saved) { std::fprintf(stderr, "save: %s\n", saved.message().c_str()); return 1; }
    return 0;
}
"#;

#[cfg(unix)]
#[test]
fn device_save_writes_a_file_only_its_owner_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = cpp_support::scratch_dir("cpp_save");
    let source = dir.join("save.cpp");
    std::fs::write(&source, SAVE_SOURCE).expect("write the source");
    let exe = dir.join("save");
    let lib_dir = library_dir();
    cpp_support::run(
        cpp_support::cxx_compiler()
            .args(["-std=c++17", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
            .arg("-I")
            .arg(cpp_support::include_dir())
            .arg(&source)
            .arg("-L")
            .arg(&lib_dir)
            .arg("-ldashauth")
            .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
            .arg("-o")
            .arg(&exe),
    );
    let vector: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cpp_support::repo_root().join("tests/vectors/nonce-rsa2048.json"))
            .expect("vector"),
    )
    .expect("JSON");
    let cert = "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n";
    let json = serde_json::json!({
        "version": 1,
        "device_id": "0b5f4c5e-7a55-4a8e-9d7b-3c2a1f0e9d8c",
        "certificate": cert,
        "ca_certificate": cert,
        "expires_at": 4_000_000_000_000i64,
        "private_key_pem": vector["private_key_pkcs8_pem"],
    })
    .to_string();

    let fresh = dir.join("fresh.json");
    let existing = dir.join("existing.json");
    let _ = std::fs::remove_file(&fresh);
    // A file left world-readable by an older version is narrowed, not just truncated.
    std::fs::write(&existing, "old").expect("write");
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for path in [&fresh, &existing] {
        cpp_support::run(Command::new(&exe).arg(&json).arg(path));
        let mode = std::fs::metadata(path).expect("saved").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
        let saved: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("JSON");
        assert_eq!(saved["private_key_pem"], vector["private_key_pkcs8_pem"]);
    }
}
