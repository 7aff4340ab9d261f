//! Secrets the server hands out: bearer tokens, challenges and ids, all from the OS
//! CSPRNG. Tokens are kept only as SHA-256 hashes and compared in constant time.

use crate::protocol::Uuid;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rsa::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// Random bytes in a token.
pub const TOKEN_BYTES: usize = 32;
/// Characters in a challenge (the protocol allows 16–32). 30, so that the subject
/// `auth-{challenge}` (35 characters) fits GD's 35-character subject limit; 178 bits.
pub const CHALLENGE_CHARS: usize = 30;
const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    OsRng.fill_bytes(&mut bytes);
    bytes
}

/// A new bearer token: 32 random bytes, base64url without padding (43 characters).
pub fn new_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<TOKEN_BYTES>())
}

/// A new random UUID v4.
pub fn new_uuid() -> Uuid {
    Uuid::new_v4(random_bytes())
}

/// A new challenge of [`CHALLENGE_CHARS`] characters of `[A-Za-z0-9]`.
pub fn new_challenge() -> String {
    let mut out = String::with_capacity(CHALLENGE_CHARS);
    while out.len() < CHALLENGE_CHARS {
        for b in random_bytes::<64>() {
            // Rejection sampling: 248 = 4 * 62, so every character is equally likely.
            if b < 248 && out.len() < CHALLENGE_CHARS {
                out.push(char::from(
                    ALPHANUMERIC[usize::from(b) % ALPHANUMERIC.len()],
                ));
            }
        }
    }
    out
}

/// The SHA-256 of a token: what the store keeps instead of the token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash([u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

impl TokenHash {
    /// Hashes a presented token.
    pub fn of(token: &str) -> Self {
        TokenHash(Sha256::digest(token.as_bytes()).into())
    }

    /// A hash read back from the store; `None` unless it is 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(TokenHash)
    }

    /// The whole hash, as the store keeps it.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The half of the hash the store indexes by. The index lookup may take
    /// data-dependent time, so the full hash is then checked with [`Self::matches`].
    pub fn lookup_key(&self) -> [u8; 16] {
        let mut key = [0u8; 16];
        key.copy_from_slice(&self.0[..16]);
        key
    }

    /// Constant-time equality of the full hashes.
    pub fn matches(&self, other: &TokenHash) -> bool {
        constant_time_eq(&self.0, &other.0)
    }
}

/// Equality whose running time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_base64url_characters() {
        let token = new_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(token, new_token());
    }

    #[test]
    fn challenges_follow_the_protocol() {
        let c = new_challenge();
        assert!(crate::protocol::is_valid_challenge(&c), "{c}");
        assert_ne!(c, new_challenge());
    }

    #[test]
    fn hashes_compare_by_content() {
        assert!(TokenHash::of("a").matches(&TokenHash::of("a")));
        assert!(!TokenHash::of("a").matches(&TokenHash::of("b")));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
