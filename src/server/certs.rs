//! The server's certificate authority: an RSA key created on first start and kept in the
//! store (shared by every instance) that signs device certificates with
//! CN = device id, so that `openssl verify -CAfile ca.pem device.pem` accepts them.

use super::store::Store;
use super::tokens::random_bytes;
use crate::keys::DevicePublicKey;
use crate::protocol::Uuid;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::Sha256;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};
use x509_cert::Certificate;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::{DecodePem, Encode, EncodePem};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

/// Size of the CA key created on first start.
pub const CA_KEY_BITS: usize = 2048;
/// How long the CA certificate is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(20 * 365 * 24 * 3600);
/// Device certificates start this long before issue, so that a device whose clock is a
/// little behind does not see a certificate from the future.
pub const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// The CA key file 0.1 kept in the data directory (imported into the store).
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// The CA certificate file 0.1 kept in the data directory.
pub const CA_CERT_FILE: &str = "ca-cert.pem";
const CA_SUBJECT: &str = "CN=DashAuth Device CA,O=DashAuth";
/// Name of the CA in the store's secrets.
const CA_SECRET: &str = "device_ca";

/// The CA as the store keeps it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredCa {
    key_pem: String,
    cert_pem: String,
}

/// The CA files 0.1 kept in the data directory, if both are there.
fn legacy_files(dir: Option<&Path>) -> io::Result<Option<(String, String)>> {
    let Some(dir) = dir else {
        return Ok(None);
    };
    let (key_path, cert_path) = (dir.join(CA_KEY_FILE), dir.join(CA_CERT_FILE));
    if !(key_path.exists() && cert_path.exists()) {
        return Ok(None);
    }
    Ok(Some((
        std::fs::read_to_string(key_path)?,
        std::fs::read_to_string(cert_path)?,
    )))
}

/// A device certificate just issued.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// X.509 PEM.
    pub pem: String,
    /// Its notAfter, UNIX ms.
    pub expires_at: i64,
}

/// The CA key and certificate.
pub struct CertAuthority {
    signer: SigningKey<Sha256>,
    name: Name,
    cert_pem: String,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertAuthority(<private>)")
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {e}"))
}

impl CertAuthority {
    /// The CA every instance shares, from the store: created and stored on first start
    /// (or imported from the `ca-key.pem`/`ca-cert.pem` that 0.1 wrote into the data
    /// directory, so that certificates issued before the upgrade still verify). Key and
    /// certificate are stored as one value, so instances starting together cannot end up
    /// with one's key and another's certificate.
    pub async fn load_or_create(store: &Store, legacy_dir: Option<&Path>) -> io::Result<Self> {
        let stored = store.secret(CA_SECRET).await.map_err(io::Error::other)?;
        let pair = match stored {
            Some(pair) => pair,
            None => {
                let fresh = match legacy_files(legacy_dir)? {
                    Some((key, cert)) => Self::from_pem(&key, &cert)?,
                    None => Self::create()?,
                };
                let pair = StoredCa {
                    key_pem: fresh.private_key_pem()?,
                    cert_pem: fresh.cert_pem.clone(),
                };
                let json = serde_json::to_string(&pair).map_err(io::Error::other)?;
                store
                    .secret_or_insert(CA_SECRET, &json)
                    .await
                    .map_err(io::Error::other)?
            }
        };
        let pair: StoredCa = serde_json::from_str(&pair).map_err(|e| invalid("stored CA", e))?;
        Self::from_pem(&pair.key_pem, &pair.cert_pem)
    }

    fn create() -> io::Result<Self> {
        let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, CA_KEY_BITS)
            .map_err(|e| invalid("CA key generation", e))?;
        let signer = SigningKey::<Sha256>::new(key);
        let name = Name::from_str(CA_SUBJECT).map_err(|e| invalid("CA name", e))?;
        let spki = SubjectPublicKeyInfoOwned::from_key(signer.as_ref().to_public_key())
            .map_err(|e| invalid("CA public key", e))?;
        let validity = Validity::from_now(CA_VALIDITY).map_err(|e| invalid("CA validity", e))?;
        let cert = CertificateBuilder::new(
            Profile::Root,
            random_serial()?,
            validity,
            name.clone(),
            spki,
            &signer,
        )
        .and_then(|b| b.build::<rsa::pkcs1v15::Signature>())
        .map_err(|e| invalid("CA certificate", e))?;
        let cert_pem = cert
            .to_pem(LineEnding::LF)
            .map_err(|e| invalid("CA certificate PEM", e))?;
        Ok(CertAuthority {
            signer,
            name,
            cert_pem,
        })
    }

    fn from_pem(key_pem: &str, cert_pem: &str) -> io::Result<Self> {
        let key =
            RsaPrivateKey::from_pkcs8_pem(key_pem.trim()).map_err(|e| invalid(CA_KEY_FILE, e))?;
        let cert = Certificate::from_pem(cert_pem.trim().as_bytes())
            .map_err(|e| invalid(CA_CERT_FILE, e))?;
        let signer = SigningKey::<Sha256>::new(key);
        let ours = signer
            .as_ref()
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| invalid(CA_KEY_FILE, e))?;
        let cert_key = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| invalid(CA_CERT_FILE, e))?;
        if cert_key != ours.as_bytes() {
            return Err(invalid(
                CA_CERT_FILE,
                "does not match the key in ca-key.pem",
            ));
        }
        Ok(CertAuthority {
            signer,
            name: cert.tbs_certificate.subject.clone(),
            cert_pem: cert_pem.trim().to_string() + "\n",
        })
    }

    fn private_key_pem(&self) -> io::Result<String> {
        self.signer
            .as_ref()
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| invalid("CA key PEM", e))
    }

    /// The CA certificate, X.509 PEM.
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a certificate for `device` and `key`, valid from now (minus [`BACKDATE`])
    /// for `validity`; `now_ms` is the server's clock.
    pub fn issue(
        &self,
        device: &Uuid,
        key: &DevicePublicKey,
        now_ms: i64,
        validity: Duration,
    ) -> Result<IssuedCertificate, String> {
        let subject = Name::from_str(&format!("CN={device}")).map_err(|e| e.to_string())?;
        let spki =
            SubjectPublicKeyInfoOwned::from_key(key.rsa().clone()).map_err(|e| e.to_string())?;
        let now_ms = u64::try_from(now_ms).unwrap_or(0);
        let validity_ms = u64::try_from(validity.as_millis()).unwrap_or(u64::MAX);
        let not_after_s = now_ms.saturating_add(validity_ms) / 1000;
        let validity = Validity {
            not_before: time_at((now_ms / 1000).saturating_sub(BACKDATE.as_secs()))?,
            not_after: time_at(not_after_s)?,
        };
        let profile = Profile::Leaf {
            issuer: self.name.clone(),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        };
        let serial = random_serial().map_err(|e| e.to_string())?;
        let cert = CertificateBuilder::new(profile, serial, validity, subject, spki, &self.signer)
            .and_then(|b| b.build::<rsa::pkcs1v15::Signature>())
            .map_err(|e| e.to_string())?;
        Ok(IssuedCertificate {
            pem: cert.to_pem(LineEnding::LF).map_err(|e| e.to_string())?,
            expires_at: i64::try_from(not_after_s.saturating_mul(1000)).unwrap_or(i64::MAX),
        })
    }
}

fn time_at(unix_s: u64) -> Result<Time, String> {
    Time::try_from(UNIX_EPOCH + Duration::from_secs(unix_s)).map_err(|e| e.to_string())
}

/// A positive 127-bit serial: unique without a counter that would need persisting.
fn random_serial() -> io::Result<SerialNumber> {
    let mut bytes: [u8; 16] = random_bytes();
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    SerialNumber::new(&bytes).map_err(|e| invalid("serial number", e))
}
