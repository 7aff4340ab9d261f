//! Compact JWS (RFC 7515/7519) with EdDSA over Ed25519, encoded by hand over ring.
//!
//! Why not a JWT crate: the server signs one algorithm with one key type, and checks only
//! its own tokens (introspection). A general JWT library would add a runtime dependency
//! and algorithm negotiation this needs none of; what must be exactly right (base64url
//! without padding, signing input `header.payload`, refusing every `alg` but EdDSA) fits
//! in this file. The tests verify the tokens with an independent library (`jsonwebtoken`)
//! against the published JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The only algorithm signed or accepted.
pub const ALG: &str = "EdDSA";
/// Longest token accepted for checking: far above any this server signs.
pub const MAX_JWT_BYTES: usize = 4096;

/// The JOSE header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always `EdDSA`.
    pub alg: String,
    /// Always `JWT`.
    #[serde(default)]
    pub typ: Option<String>,
    /// The signing key's id (JWKS `kid`).
    pub kid: String,
}

/// The claims of an access token (protocol.md section 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The server's public base URL.
    pub iss: String,
    /// The GD account id, decimal.
    pub sub: String,
    /// The third-party service the token is for.
    pub aud: String,
    /// Issued at, UNIX seconds.
    pub iat: i64,
    /// Expires at, UNIX seconds.
    pub exp: i64,
    /// Unique id.
    pub jti: String,
    /// The GD account id, as a number.
    pub gd_account_id: u32,
    /// The GD username the bot saw, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gd_username: Option<String>,
    /// The GD user id the bot saw, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gd_user_id: Option<u32>,
    /// The device whose credential minted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<String>,
    /// How the account was proven: `gd_message` or `device`.
    pub amr: Vec<String>,
}

/// Why a token could not be decoded or checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, bad JSON, oversized.
    Malformed(String),
    /// An algorithm other than EdDSA.
    Algorithm(String),
    /// The signature does not verify.
    Signature,
}

impl std::fmt::Display for JwtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwtError::Malformed(m) => write!(f, "malformed JWT: {m}"),
            JwtError::Algorithm(a) => write!(f, "JWT algorithm {a:?} is not EdDSA"),
            JwtError::Signature => f.write_str("JWT signature does not verify"),
        }
    }
}

fn encode_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_vec(value)
        .map(|json| URL_SAFE_NO_PAD.encode(json))
        .map_err(|e| e.to_string())
}

/// `header.payload`, the bytes the signature covers.
pub fn signing_input(kid: &str, claims: &Claims) -> Result<String, String> {
    let header = Header {
        alg: ALG.into(),
        typ: Some("JWT".into()),
        kid: kid.into(),
    };
    Ok(format!(
        "{}.{}",
        encode_json(&header)?,
        encode_json(claims)?
    ))
}

/// The compact token: `signing_input.signature`.
pub fn assemble(signing_input: &str, signature: &[u8]) -> String {
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// Whether `token` looks like a JWT (three dot-separated parts) rather than an opaque
/// bearer token.
pub fn is_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

/// A token split and decoded, its signature not yet checked.
#[derive(Debug, Clone)]
pub struct Unverified<'a> {
    /// The decoded header.
    pub header: Header,
    signing_input: &'a str,
    signature: Vec<u8>,
    payload: Vec<u8>,
}

fn part(text: &str, what: &str) -> Result<Vec<u8>, JwtError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| JwtError::Malformed(format!("{what} is not base64url without padding")))
}

/// Splits and decodes `token`; refuses any algorithm but EdDSA before anything else.
pub fn decode(token: &str) -> Result<Unverified<'_>, JwtError> {
    if token.len() > MAX_JWT_BYTES {
        return Err(JwtError::Malformed(format!(
            "{} bytes, more than any token this server signs",
            token.len()
        )));
    }
    let (signing_input, signature) = token
        .rsplit_once('.')
        .ok_or_else(|| JwtError::Malformed("not three dot-separated parts".into()))?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or_else(|| JwtError::Malformed("not three dot-separated parts".into()))?;
    let header: Header = serde_json::from_slice(&part(header, "header")?)
        .map_err(|e| JwtError::Malformed(format!("header: {e}")))?;
    if header.alg != ALG {
        return Err(JwtError::Algorithm(header.alg));
    }
    Ok(Unverified {
        header,
        signing_input,
        signature: part(signature, "signature")?,
        payload: part(payload, "payload")?,
    })
}

impl Unverified<'_> {
    /// The claims, once `public_key` (raw Ed25519) verifies the signature.
    pub fn verify(self, public_key: &[u8]) -> Result<Claims, JwtError> {
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwtError::Signature)?;
        serde_json::from_slice(&self.payload)
            .map_err(|e| JwtError::Malformed(format!("claims: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    fn claims() -> Claims {
        Claims {
            iss: "http://127.0.0.1:1".into(),
            sub: "71".into(),
            aud: "me.mod".into(),
            iat: 1,
            exp: 2,
            jti: "j".into(),
            gd_account_id: 71,
            gd_username: None,
            gd_user_id: Some(5),
            device_id: None,
            amr: vec!["gd_message".into()],
        }
    }

    fn signed(pair: &Ed25519KeyPair) -> String {
        let input = signing_input("k1", &claims()).unwrap_or_default();
        assemble(&input, pair.sign(input.as_bytes()).as_ref())
    }

    fn pair() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .unwrap_or_else(|e| panic!("{e}"));
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_token_round_trips_and_absent_claims_are_left_out() {
        let pair = pair();
        let token = signed(&pair);
        assert!(is_jwt(&token));
        let payload = token.split('.').nth(1).unwrap_or_default();
        let json = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap_or_default())
            .unwrap_or_default();
        assert!(!json.contains("gd_username"), "{json}");
        let decoded = decode(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decoded.header.kid, "k1");
        let verified = decoded.verify(pair.public_key().as_ref());
        assert_eq!(verified, Ok(claims()));
    }

    #[test]
    fn another_key_a_changed_payload_or_another_alg_is_refused() {
        let token = signed(&pair());
        let other = pair();
        let decoded = decode(&token).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            decoded.verify(other.public_key().as_ref()),
            Err(JwtError::Signature)
        );
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k1"}"#),
            token.split('.').nth(1).unwrap_or_default()
        );
        assert!(matches!(decode(&none), Err(JwtError::Algorithm(a)) if a == "none"));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(5000)] {
            assert!(
                matches!(decode(bad), Err(JwtError::Malformed(_))),
                "{bad:.20}"
            );
        }
    }
}
