//! Secrets at rest: the AccessKey secrets the RPC door must read back in clear (HMAC needs
//! the secret itself, `crate::auth`) are stored sealed with XChaCha20-Poly1305 under a key
//! that only the components hold (the Spin variable `secrets_key`, 64 hex digits, secret).
//! Whoever reads the store, a backup or a replica's dump, learns no secret.
//!
//! - **Sealed form:** `v1:<key id>:<nonce>:<ciphertext>` (hex; the key id is the first 8 hex
//!   digits of the key's SHA-256, the nonce 24 random bytes). The AccessKey's id is the
//!   associated data: a sealed secret moved onto another key's record does not open.
//! - **Rotation:** set `secrets_key_previous` to the old key and `secrets_key` to a new one
//!   (every replica); secrets sealed with either still open, new ones are sealed with the
//!   new key. `POST /admin/v1/orgs/{orgId}/reseal-access-keys` reseals one org's keys under
//!   the current key (at most `auth::MAX_CREDENTIALS` records); once every org is resealed,
//!   drop `secrets_key_previous`.
//! - A key that is missing or not 64 hex digits is a configuration error the component
//!   reports (mint and verification refuse; nothing is ever stored in clear).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::fmt;

/// The key [`Secrets::for_tests`] holds, for test launchers that set `secrets_key`.
#[cfg(any(test, feature = "testing"))]
pub const TEST_KEY: &str = "5ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2e75ec2";

/// One sealing key: 32 bytes, and the id sealed secrets name it by.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey {
    bytes: [u8; 32],
    id: String,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself (settings end up in logs).
        write!(f, "SealingKey({})", self.id)
    }
}

impl SealingKey {
    /// The key of a variable's value: 64 hex digits.
    pub fn parse(name: &str, hex_value: &str) -> Result<SealingKey, String> {
        let bad = || format!("variable {name} must be 64 hex digits (32 random bytes)");
        let raw = hex::decode(hex_value.trim()).map_err(|_| bad())?;
        let bytes: [u8; 32] = raw.try_into().map_err(|_| bad())?;
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Ok(SealingKey { bytes, id })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The sealing keys a component holds: the current one, and the one before it while a
/// rotation is under way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    pub current: Option<SealingKey>,
    pub previous: Option<SealingKey>,
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// No `secrets_key` is configured.
    NoKey,
    /// Sealed with a key this component does not hold (rotated away, or another app's).
    UnknownKey(String),
    /// Not a sealed secret, or it does not open (tampered with, or moved to another id).
    Corrupt,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::NoKey => write!(f, "the secrets_key variable is not set"),
            SecretError::UnknownKey(id) => write!(
                f,
                "sealed with key {id}, which is neither secrets_key nor secrets_key_previous"
            ),
            SecretError::Corrupt => write!(f, "a sealed secret does not open"),
        }
    }
}

impl Secrets {
    /// A fixed key for tests (never a default of the app's).
    #[cfg(any(test, feature = "testing"))]
    pub fn for_tests() -> Secrets {
        Secrets {
            current: SealingKey::parse("test", TEST_KEY).ok(),
            previous: None,
        }
    }

    /// Reads `secrets_key` and `secrets_key_previous` through `var` (absent or empty: none).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Secrets, String> {
        let key = |name: &str| match var(name) {
            Some(v) if !v.trim().is_empty() => SealingKey::parse(name, &v).map(Some),
            _ => Ok(None),
        };
        Ok(Secrets {
            current: key("secrets_key")?,
            previous: key("secrets_key_previous")?,
        })
    }

    /// `plain` sealed under the current key, bound to `id`; `nonce` must be fresh random
    /// bytes.
    pub fn seal(&self, id: &str, plain: &str, nonce: [u8; 24]) -> Result<String, SecretError> {
        let key = self.current.as_ref().ok_or(SecretError::NoKey)?;
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Corrupt)?;
        Ok(format!(
            "v1:{}:{}:{}",
            key.id,
            hex::encode(nonce),
            hex::encode(sealed)
        ))
    }

    /// The key a sealed secret names, if this component holds it.
    fn key_for(&self, key_id: &str) -> Result<&SealingKey, SecretError> {
        [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or_else(|| match (&self.current, &self.previous) {
                (None, None) => SecretError::NoKey,
                _ => SecretError::UnknownKey(key_id.to_owned()),
            })
    }

    /// The secret `sealed` holds for `id`.
    pub fn open(&self, id: &str, sealed: &str) -> Result<String, SecretError> {
        let mut parts = sealed.split(':');
        let (Some("v1"), Some(key_id), Some(nonce), Some(body), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SecretError::Corrupt);
        };
        let key = self.key_for(key_id)?;
        let nonce = hex::decode(nonce).map_err(|_| SecretError::Corrupt)?;
        let body = hex::decode(body).map_err(|_| SecretError::Corrupt)?;
        if nonce.len() != 24 {
            return Err(SecretError::Corrupt);
        }
        let cipher = XChaCha20Poly1305::new((&key.bytes).into());
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &body,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| SecretError::Corrupt)
    }

    /// Whether `sealed` is sealed under the current key (a reseal would change nothing).
    pub fn is_current(&self, sealed: &str) -> bool {
        match (&self.current, sealed.split(':').nth(1)) {
            (Some(k), Some(id)) => k.id == id,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    fn secrets(current: Option<&str>, previous: Option<&str>) -> Secrets {
        Secrets::from_vars(|name| match name {
            "secrets_key" => current.map(str::to_owned),
            "secrets_key_previous" => previous.map(str::to_owned),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn a_sealed_secret_opens_only_with_its_key_and_its_id() {
        let s = secrets(Some(K1), None);
        let sealed = s.seal("LTAI1", "the-secret", [7; 24]).unwrap();
        assert!(!sealed.contains("the-secret"));
        assert!(sealed.starts_with("v1:"));
        assert_eq!(s.open("LTAI1", &sealed).unwrap(), "the-secret");
        // Moved onto another key's record: it does not open.
        assert_eq!(s.open("LTAI2", &sealed), Err(SecretError::Corrupt));
        // Tampered with: it does not open.
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(s.open("LTAI1", &tampered), Err(SecretError::Corrupt));
        for junk in ["", "v1", "v2:a:b:c", "v1:x:00:00", "v1:a:b:c:d"] {
            assert!(s.open("LTAI1", junk).is_err(), "{junk}");
        }
        // Another app's key: named, refused.
        let other = secrets(Some(K2), None);
        assert!(matches!(
            other.open("LTAI1", &sealed),
            Err(SecretError::UnknownKey(_))
        ));
        assert_eq!(
            Secrets::default().seal("LTAI1", "x", [0; 24]),
            Err(SecretError::NoKey)
        );
    }

    #[test]
    fn a_rotation_opens_both_keys_and_seals_with_the_new_one() {
        let old = secrets(Some(K1), None);
        let sealed = old.seal("LTAI1", "s", [1; 24]).unwrap();
        let rotating = secrets(Some(K2), Some(K1));
        assert_eq!(rotating.open("LTAI1", &sealed).unwrap(), "s");
        assert!(!rotating.is_current(&sealed));
        let resealed = rotating.seal("LTAI1", "s", [2; 24]).unwrap();
        assert!(rotating.is_current(&resealed));
        assert_eq!(
            secrets(Some(K2), None).open("LTAI1", &resealed).unwrap(),
            "s"
        );
    }

    #[test]
    fn a_malformed_key_is_an_error_naming_the_variable_and_debug_hides_the_key() {
        let e = Secrets::from_vars(|n| (n == "secrets_key").then(|| "abc".to_owned()));
        assert!(e.unwrap_err().contains("secrets_key"));
        let s = secrets(Some(K1), None);
        let shown = format!("{s:?}");
        assert!(!shown.contains(K1) && !shown.contains("0001"), "{shown}");
    }
}
