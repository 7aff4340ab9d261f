//! The server's certificate authority: an RSA key created on first start (persisted as
//! PEM in the data directory when there is one) that signs device certificates with
//! CN = device id, so that `openssl verify -CAfile ca.pem device.pem` accepts them.

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
/// File names in the data directory.
pub const CA_KEY_FILE: &str = "ca-key.pem";
/// File names in the data directory.
pub const CA_CERT_FILE: &str = "ca-cert.pem";
const CA_SUBJECT: &str = "CN=DashAuth Device CA,O=DashAuth";

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
    /// Loads the CA from `data_dir`, creating and saving it there on first start; with
    /// no directory, creates one that lives as long as the process.
    pub fn load_or_create(data_dir: Option<&Path>) -> io::Result<Self> {
        let Some(dir) = data_dir else {
            return Self::create();
        };
        let (key_path, cert_path) = (dir.join(CA_KEY_FILE), dir.join(CA_CERT_FILE));
        if key_path.exists() && cert_path.exists() {
            let key = std::fs::read_to_string(&key_path)?;
            let cert = std::fs::read_to_string(&cert_path)?;
            return Self::from_pem(&key, &cert);
        }
        let ca = Self::create()?;
        std::fs::create_dir_all(dir)?;
        write_private(&key_path, &ca.private_key_pem()?)?;
        std::fs::write(&cert_path, &ca.cert_pem)?;
        Ok(ca)
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

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    std::fs::write(path, contents)
}
