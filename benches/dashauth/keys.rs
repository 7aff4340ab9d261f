//! P-256 and Ed25519 key generation and nonce signing (src/keys, ring) against OpenSSL on
//! the same machine in the same run: `openssl speed -seconds 3 ecdsap256 ed25519` for
//! signing, and `openssl_keys.c` (libcrypto's EVP API in one process, built here with
//! `cc`) for key generation, which `openssl speed` 3.0 does not time.

use dashauth::keys::{DeviceKey, KeyType};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long each of our figures runs.
const BUDGET: Duration = Duration::from_secs(3);

/// Mean time per call of `op`, called for `BUDGET`.
fn per_op(mut op: impl FnMut(u32)) -> Duration {
    let started = Instant::now();
    let mut n = 0u32;
    while started.elapsed() < BUDGET {
        op(n);
        n += 1;
    }
    started.elapsed() / n.max(1)
}

/// Microseconds with one decimal: these operations take a few of them.
pub fn fmt_us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// The two key types of the comparison.
pub const TYPES: [KeyType; 2] = [KeyType::P256, KeyType::Ed25519];

/// Our figures for one key type.
#[derive(Clone, Copy, Default)]
pub struct Ours {
    /// `DeviceKey::generate_type`: ring's PKCS#8 generation, then the key parsed from it.
    pub keygen: Duration,
    /// ring's `generate_pkcs8` alone (the part of `keygen` that OpenSSL's keygen does).
    pub ring_generate: Duration,
    /// ring's key pair from that PKCS#8 (`EcdsaKeyPair::from_pkcs8`,
    /// `Ed25519KeyPair::from_pkcs8_maybe_unchecked`): the rest of `keygen`, which derives
    /// the public key again to check it against the document's.
    pub ring_parse: Duration,
    /// `DeviceKey::sign_nonce` (base64 of the signature of the decimal timestamp).
    pub sign: Duration,
}

/// Measures our key generation and nonce signing for `key_type`.
pub fn ours(key_type: KeyType) -> Ours {
    let rng = SystemRandom::new();
    let keygen = per_op(|_| {
        DeviceKey::generate_type(key_type).expect("key generation");
    });
    let ring_generate = per_op(|_| match key_type {
        KeyType::P256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("P-256");
        }
        _ => {
            Ed25519KeyPair::generate_pkcs8(&rng).expect("Ed25519");
        }
    });
    let pkcs8 = match key_type {
        KeyType::P256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng),
        _ => Ed25519KeyPair::generate_pkcs8(&rng),
    }
    .expect("key generation");
    let ring_parse = per_op(|_| match key_type {
        KeyType::P256 => {
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
                .expect("parses");
        }
        _ => {
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.as_ref()).expect("parses");
        }
    });
    let key = DeviceKey::generate_type(key_type).expect("key generation");
    let base = dashauth::clock::now_ms();
    key.sign_nonce(base).expect("signs"); // first-use setup out of the timing
    let sign = per_op(|i| {
        key.sign_nonce(base + i64::from(i)).expect("signs");
    });
    Ours {
        keygen,
        ring_generate,
        ring_parse,
        sign,
    }
}

/// OpenSSL's figures for one key type.
#[derive(Clone, Copy, Default)]
pub struct Theirs {
    /// `openssl speed` sign (1 / signs per second).
    pub speed_sign: Duration,
    /// `EVP_PKEY_keygen` with a context reused for every key.
    pub keygen: Duration,
    /// The same, plus the key's PKCS#8 DER (what ring's generation hands out).
    pub keygen_pkcs8: Duration,
    /// `EVP_DigestSign` of the decimal timestamp, as `dashauth_sign_nonce` signs.
    pub evp_sign: Duration,
}

/// OpenSSL's figures for P-256 and Ed25519, in [`TYPES`] order, with its version;
/// `Err` says what is missing (openssl, a C compiler, libssl-dev).
pub fn theirs() -> Result<(String, [Theirs; 2]), String> {
    let version = run(Command::new("openssl").arg("version"))?;
    let speed =
        run(Command::new("openssl").args(["speed", "-seconds", "3", "ecdsap256", "ed25519"]))?;
    let program = build_program()?;
    let evp = run(Command::new(&program).arg("3"));
    let _ = std::fs::remove_file(&program);
    let evp = evp?;
    let figures = |curve: &str, speed_marker: &str| -> Result<Theirs, String> {
        Ok(Theirs {
            speed_sign: speed_sign(&speed, speed_marker)
                .ok_or_else(|| format!("no {speed_marker} line in `openssl speed`"))?,
            keygen: evp_figure(&evp, curve, "keygen")?,
            keygen_pkcs8: evp_figure(&evp, curve, "keygen+pkcs8")?,
            evp_sign: evp_figure(&evp, curve, "sign")?,
        })
    };
    Ok((
        version.trim().to_string(),
        [
            figures("p256", "(nistp256)")?,
            figures("ed25519", "(Ed25519)")?,
        ],
    ))
}

fn run(command: &mut Command) -> Result<String, String> {
    let out = command
        .output()
        .map_err(|e| format!("{:?}: {e}", command.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?}: {}",
            command.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Compiles `openssl_keys.c` into the target directory.
fn build_program() -> Result<PathBuf, String> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/dashauth/openssl_keys.c");
    let out = std::env::temp_dir().join(format!("dashauth-openssl-keys-{}", std::process::id()));
    run(
        Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
            .arg("-O2")
            .arg("-o")
            .arg(&out)
            .arg(&source)
            .arg("-lcrypto"),
    )?;
    Ok(out)
}

/// ` 256 bits ecdsa (nistp256)   0.0000s   0.0000s  71447.6  24632.4`: the sign column
/// in seconds has too few digits, so the time is 1 / signs per second.
fn speed_sign(text: &str, marker: &str) -> Option<Duration> {
    let line = text.lines().find(|l| l.contains(marker))?;
    let rate: f64 = line
        .split_whitespace()
        .filter(|w| !w.ends_with('s'))
        .filter_map(|w| w.parse::<f64>().ok())
        .nth(1)?; // after the bit count
    (rate > 0.0).then(|| Duration::from_secs_f64(1.0 / rate))
}

/// `<curve> <operation> <ns per op> <ops>` from `openssl_keys.c`.
fn evp_figure(text: &str, curve: &str, operation: &str) -> Result<Duration, String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.len() == 4 && w[0] == curve && w[1] == operation)
        .and_then(|w| w[2].parse::<f64>().ok())
        .map(|ns| Duration::from_secs_f64(ns / 1e9))
        .ok_or_else(|| format!("no {curve} {operation} figure from openssl_keys.c"))
}
