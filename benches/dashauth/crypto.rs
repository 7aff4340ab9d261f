//! Nonce signing and verification against OpenSSL's RSA-2048 on the same machine:
//! `dashauth_sign_nonce` through the C API, the old rsa-crate signer it replaced, and the
//! server's `DevicePublicKey::verify_nonce`.

use crate::capi;
use dashauth::keys::{DeviceKey, DevicePublicKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::RandomizedSigner;
use std::process::Command;
use std::time::{Duration, Instant};

/// Time per operation of `n` runs of `op`.
fn per_op(n: u32, mut op: impl FnMut(u32)) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        op(i);
    }
    started.elapsed() / n
}

/// Mean time of one `dashauth_sign_nonce`, over distinct timestamps.
pub fn sign_nonce(n: u32) -> Duration {
    let key = capi::DeviceKey::generate();
    key.sign_nonce(1); // first-use setup out of the timing
    let base = dashauth::clock::now_ms();
    per_op(n, |i| key.sign_nonce(base + i64::from(i)))
}

/// Mean time of one PKCS#1 v1.5 SHA-256 signature with the rsa crate, as
/// `dashauth_sign_nonce` did before it moved to ring.
pub fn sign_rsa_crate(n: u32) -> Duration {
    let key = DeviceKey::generate().expect("key");
    let private =
        rsa::RsaPrivateKey::from_pkcs8_pem(&key.to_pkcs8_pem().expect("pem")).expect("parses");
    let signer = SigningKey::<Sha256>::new(private);
    let mut rng = rsa::rand_core::OsRng;
    let base = dashauth::clock::now_ms();
    per_op(n, |i| {
        let _ = signer.sign_with_rng(&mut rng, (base + i64::from(i)).to_string().as_bytes());
    })
}

/// Mean time of one server-side `verify_nonce` of a valid signature.
pub fn verify_nonce(n: u32) -> Duration {
    let key = DeviceKey::generate().expect("key");
    let public = DevicePublicKey::from_spki_pem(&key.public_pem().expect("pem")).expect("key");
    let ts = dashauth::clock::now_ms();
    let signature = key.sign_nonce(ts).expect("signs");
    per_op(n, |_| assert!(public.verify_nonce(ts, &signature)))
}

/// OpenSSL's RSA-2048 sign and verify times.
pub struct OpenSsl {
    pub version: String,
    pub sign: Duration,
    pub verify: Duration,
}

/// Runs `openssl speed -seconds 3 rsa2048` and reads its summary line; `None` without
/// openssl.
pub fn openssl() -> Option<OpenSsl> {
    let version = Command::new("openssl").arg("version").output().ok()?;
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", "rsa2048"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000567s 0.000017s   1763.7  58823.5" (3.x may add encrypt and
    // decrypt columns after verify; sign and verify come first either way).
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let mut seconds = line
        .split_whitespace()
        .filter_map(|w| w.strip_suffix('s'))
        .filter_map(|w| w.parse::<f64>().ok());
    Some(OpenSsl {
        version: String::from_utf8_lossy(&version.stdout).trim().to_string(),
        sign: Duration::from_secs_f64(seconds.next()?),
        verify: Duration::from_secs_f64(seconds.next()?),
    })
}
