//! Credentials of the two doors, minted by the admin API.
//!
//! - REST bearer tokens are shown once and stored only as their SHA-256: the key *is* the hash
//!   (`keys::token`), so authenticating a request is one read.
//! - RPC AccessKey pairs: verifying an ACS3-HMAC-SHA256 signature needs the secret itself
//!   (HMAC cannot be checked against a hash of the key), so the secret is stored sealed with
//!   the components' `secrets_key` ([`crate::secrets`]) and opened to verify: whoever reads
//!   only the store learns no secret.
//! - Both are revocable (issue 24): each org's record lists its credentials
//!   ([`TokenRef`], [`AccessKeyRef`]; at most [`MAX_CREDENTIALS`] of each kind), so the
//!   admin API lists and deletes them by id without a key scan; a deleted token's or
//!   AccessKey's record is gone, so the next request with it is refused. An AccessKey can
//!   also be disabled (kept, refused) and enabled again.

use crate::catalog::OrgId;
use crate::env::{Env, Millis};
use crate::keys;
use crate::records::Store;
use crate::secrets::{SecretError, Secrets};
use crate::store::StoreError;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The most REST tokens, and the most AccessKeys, one org holds (its record lists them).
pub const MAX_CREDENTIALS: usize = 32;

/// The stored side of a REST bearer token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub org_id: OrgId,
    pub created_at: Timestamp,
    /// The id the admin API lists and deletes it by (`None`: minted before ids existed).
    #[serde(default)]
    pub id: Option<String>,
    /// Its org is over its REST request limit until then (`crate::ratelimit`, "Flags").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_until: Option<Millis>,
}

/// A REST token as its org's record lists it: its id, and the hash its record is keyed by
/// (never the token; the admin API shows only the id and when it was made).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRef {
    pub id: String,
    pub hash: String,
    pub created_at: Timestamp,
}

/// An AccessKey as its org's record lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyRef {
    pub id: String,
    pub created_at: Timestamp,
}

/// An RPC AccessKey pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyRecord {
    pub access_key_id: String,
    pub org_id: OrgId,
    /// The secret, sealed ([`crate::secrets`]; HMAC verification opens it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_secret: Option<String>,
    /// The secret in clear, on records minted before secrets were sealed only (empty on
    /// every other; the admin API's reseal seals it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_key_secret: String,
    pub created_at: Timestamp,
    /// A disabled key is kept but refused (`InvalidAccessKeyId.Inactive`).
    #[serde(default)]
    pub disabled: bool,
    /// Its org is over its RPC request limit until then (`crate::ratelimit`, "Flags").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_until: Option<Millis>,
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Compares two secrets in constant time (over their hashes, so lengths leak nothing).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (ha, hb) = (Sha256::digest(a), Sha256::digest(b));
    ha.iter()
        .zip(hb.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The token of a `Bearer <token>` credential (scheme case-insensitive), else `None`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let v = value.trim();
    v.get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .map(|_| v[7..].trim())
}

/// Whether `presented` is the `configured` secret (compared in constant time); an unset
/// or blank secret matches nothing.
pub fn is_secret(presented: Option<&str>, configured: Option<&str>) -> bool {
    match (presented, configured.filter(|c| !c.trim().is_empty())) {
        (Some(p), Some(c)) => constant_time_eq(p.as_bytes(), c.as_bytes()),
        _ => false,
    }
}

fn random_hex(env: &dyn Env, words: usize) -> String {
    (0..words)
        .map(|_| format!("{:016x}", env.random_u64()))
        .collect()
}

/// A new REST bearer token (256 random bits, shown once) and the reference its org lists.
pub fn new_token(st: &Store<'_>) -> (String, TokenRef) {
    let token = format!("ict_{}", random_hex(st.env(), 4));
    let reference = TokenRef {
        id: format!("tok-{}", random_hex(st.env(), 1)),
        hash: sha256_hex(token.as_bytes()),
        created_at: Timestamp(st.now_ms()),
    };
    (token, reference)
}

/// Stores the token `r` refers to, for `org`.
pub fn store_token(st: &Store<'_>, org: &str, r: &TokenRef) -> Result<(), StoreError> {
    let record = TokenRecord {
        throttled_until: None,
        org_id: org.to_owned(),
        created_at: r.created_at,
        id: Some(r.id.clone()),
    };
    // The key is the hash of a fresh random token: unique, so a blind set is safe (R1).
    st.put_new(&keys::token(&r.hash), &record)?;
    Ok(())
}

/// Deletes the token `r` refers to: the next request with it is a 401.
pub fn delete_token(st: &Store<'_>, r: &TokenRef) -> Result<(), StoreError> {
    st.delete(&keys::token(&r.hash))
}

/// Mints a REST bearer token for `org` that no org record lists (tests and tools that
/// need a token without the admin API); returns the token.
pub fn mint_token(st: &Store<'_>, org: &str) -> Result<String, StoreError> {
    let (token, r) = new_token(st);
    store_token(st, org, &r)?;
    Ok(token)
}

/// The org a REST bearer token belongs to (`None`: unknown token). One store read. The
/// door reads the whole caller ([`caller_for_token`]); tests need only the org.
#[cfg(test)]
pub fn org_for_token(st: &Store<'_>, token: &str) -> Result<Option<OrgId>, StoreError> {
    Ok(caller_for_token(st, token)?.map(|c| c.org))
}

/// Who presents a REST bearer token, for the door and its limiter (`None`: unknown
/// token). One store read.
pub fn caller_for_token(
    st: &Store<'_>,
    token: &str,
) -> Result<Option<crate::ratelimit::Caller>, StoreError> {
    if token.is_empty() || token.len() > 512 {
        return Ok(None);
    }
    let key = keys::token(&sha256_hex(token.as_bytes()));
    Ok(st
        .get::<TokenRecord>(&key)?
        .map(|s| crate::ratelimit::Caller {
            org: s.value.org_id,
            credential: key,
            throttled_until: s.value.throttled_until,
        }))
}

/// An AccessKey pair as minted: the secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MintedAccessKey {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub org_id: OrgId,
}

/// Fresh random bytes for a seal's nonce.
fn nonce(env: &dyn Env) -> [u8; 24] {
    let mut n = [0u8; 24];
    for chunk in n.chunks_mut(8) {
        chunk.copy_from_slice(&env.random_u64().to_le_bytes());
    }
    n
}

/// A new AccessKey pair for `org` (not stored yet): the record, its secret sealed with
/// `secrets`' current key, and the pair as shown once.
pub fn new_access_key(
    st: &Store<'_>,
    org: &str,
    secrets: &Secrets,
) -> Result<(AccessKeyRecord, MintedAccessKey), SecretError> {
    let minted = MintedAccessKey {
        access_key_id: format!("LTAI{}", &random_hex(st.env(), 2)[..20]),
        access_key_secret: random_hex(st.env(), 2)[..30].to_owned(),
        org_id: org.to_owned(),
    };
    let record = sealed_record(&minted, secrets, nonce(st.env()), Timestamp(st.now_ms()))?;
    Ok((record, minted))
}

/// The stored record of `pair`: its secret sealed under `secrets`' current key.
fn sealed_record(
    pair: &MintedAccessKey,
    secrets: &Secrets,
    nonce: [u8; 24],
    created_at: Timestamp,
) -> Result<AccessKeyRecord, SecretError> {
    Ok(AccessKeyRecord {
        access_key_id: pair.access_key_id.clone(),
        org_id: pair.org_id.clone(),
        sealed_secret: Some(secrets.seal(&pair.access_key_id, &pair.access_key_secret, nonce)?),
        access_key_secret: String::new(),
        created_at,
        disabled: false,
        throttled_until: None,
    })
}

/// The secret of `record`, opened with `secrets` (a legacy clear one as is).
pub fn secret_of(record: &AccessKeyRecord, secrets: &Secrets) -> Result<String, SecretError> {
    match &record.sealed_secret {
        Some(sealed) => secrets.open(&record.access_key_id, sealed),
        None if !record.access_key_secret.is_empty() => Ok(record.access_key_secret.clone()),
        None => Err(SecretError::Corrupt),
    }
}

/// `record` sealed under `secrets`' current key, or `None` when it already is.
pub fn resealed(
    env: &dyn Env,
    record: &AccessKeyRecord,
    secrets: &Secrets,
) -> Result<Option<AccessKeyRecord>, SecretError> {
    if record
        .sealed_secret
        .as_deref()
        .is_some_and(|s| secrets.is_current(s))
    {
        return Ok(None);
    }
    let secret = secret_of(record, secrets)?;
    let mut next = record.clone();
    next.sealed_secret = Some(secrets.seal(&record.access_key_id, &secret, nonce(env))?);
    next.access_key_secret = String::new();
    Ok(Some(next))
}

/// Deletes AccessKey `id`: the next call signed with it is `InvalidAccessKeyId.NotFound`.
pub fn delete_access_key(st: &Store<'_>, id: &str) -> Result<(), StoreError> {
    st.delete(&keys::access_key(id))
}

/// Stores an AccessKey (its id is fresh and random: a blind set is safe, R1).
pub fn store_access_key(st: &Store<'_>, record: &AccessKeyRecord) -> Result<(), StoreError> {
    st.put_new(&keys::access_key(&record.access_key_id), record)?;
    Ok(())
}

/// The record of a known pair, sealed with [`Secrets::for_tests`] (tests that replay
/// captured requests signed with a fixed pair).
#[cfg(any(test, feature = "testing"))]
pub fn test_record(pair: &MintedAccessKey) -> AccessKeyRecord {
    sealed_record(pair, &Secrets::for_tests(), [0x5e; 24], Timestamp(0))
        .unwrap_or_else(|e| panic!("the test key seals: {e}"))
}

/// Mints and stores an AccessKey pair for `org` that no org record lists, sealed with
/// [`Secrets::for_tests`] (tests only); the secret is returned once.
#[cfg(any(test, feature = "testing"))]
pub fn mint_access_key(st: &Store<'_>, org: &str) -> Result<MintedAccessKey, StoreError> {
    let (record, minted) = new_access_key(st, org, &Secrets::for_tests())
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    store_access_key(st, &record)?;
    Ok(minted)
}

/// Looks an AccessKey up by id (`None`: unknown).
pub fn access_key(st: &Store<'_>, id: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
    if id.is_empty() || id.len() > 128 || id.contains('/') {
        return Ok(None);
    }
    Ok(st
        .get::<AccessKeyRecord>(&keys::access_key(id))?
        .map(|s| s.value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::{KeyValue, MemoryKv};

    #[test]
    fn a_token_maps_to_its_org_and_is_stored_only_hashed() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let t = mint_token(&Store::new(&kv, &env), "o1").unwrap();
        assert_eq!(
            org_for_token(&Store::new(&kv, &env), &t)
                .unwrap()
                .as_deref(),
            Some("o1")
        );
        assert_eq!(
            org_for_token(&Store::new(&kv, &env), "ict_nope").unwrap(),
            None
        );
        assert_eq!(org_for_token(&Store::new(&kv, &env), "").unwrap(), None);
        for k in kv.keys() {
            assert!(!k.contains(&t));
            let v = kv.get(&k).unwrap().unwrap();
            assert!(
                !String::from_utf8_lossy(&v).contains(&t),
                "token stored in clear"
            );
        }
    }

    #[test]
    fn token_lookup_is_one_store_read() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let t = mint_token(&Store::new(&kv, &env), "o1").unwrap();
        let before = kv.ops();
        org_for_token(&Store::new(&kv, &env), &t).unwrap();
        assert_eq!(kv.ops() - before, 1);
    }

    #[test]
    fn access_key_secrets_are_stored_sealed_and_open_for_hmac() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let ak = mint_access_key(&Store::new(&kv, &env), "o1").unwrap();
        assert!(ak.access_key_id.starts_with("LTAI"));
        assert_eq!(ak.access_key_id.len(), 24);
        assert_eq!(ak.access_key_secret.len(), 30);
        let got = access_key(&Store::new(&kv, &env), &ak.access_key_id)
            .unwrap()
            .unwrap();
        assert_eq!(got.org_id, "o1");
        assert_eq!(
            secret_of(&got, &Secrets::for_tests()).unwrap(),
            ak.access_key_secret
        );
        // Nowhere in the store in clear.
        for k in kv.keys() {
            let v = kv.get(&k).unwrap().unwrap();
            assert!(!String::from_utf8_lossy(&v).contains(&ak.access_key_secret));
        }
        assert_eq!(
            access_key(&Store::new(&kv, &env), "LTAIunknown").unwrap(),
            None
        );
    }

    #[test]
    fn a_legacy_clear_secret_is_resealed_and_a_current_one_left_alone() {
        let env = FakeEnv::at(0);
        let secrets = Secrets::for_tests();
        let legacy = AccessKeyRecord {
            access_key_id: "LTAIold".into(),
            org_id: "o1".into(),
            sealed_secret: None,
            access_key_secret: "clear-secret".into(),
            created_at: Timestamp(0),
            disabled: false,
            throttled_until: None,
        };
        assert_eq!(secret_of(&legacy, &secrets).unwrap(), "clear-secret");
        let sealed = resealed(&env, &legacy, &secrets).unwrap().unwrap();
        assert!(sealed.access_key_secret.is_empty());
        assert_eq!(secret_of(&sealed, &secrets).unwrap(), "clear-secret");
        assert_eq!(resealed(&env, &sealed, &secrets).unwrap(), None);
    }

    #[test]
    fn constant_time_eq_compares_content() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
