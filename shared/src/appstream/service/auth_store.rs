//! Verification's view of the store ([`AuthStore`]): AccessKeys through [`auth`], nonces
//! elected with `increment` on a per-nonce key (the first caller gets 1; never a CAS
//! creation, R1), and purged through the due index once their window has closed.

use crate::appstream::sign::{AccessKey, AuthStore, StoreFailure};
use crate::auth;
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::ops::Settings;
use crate::records::Store;
use crate::secrets::Secrets;
use crate::store::StoreError;

pub(super) struct KvAuth<'a> {
    pub st: Store<'a>,
    pub settings: &'a Settings,
    pub secrets: &'a Secrets,
}

/// The store's failure as verification reports it (the door answers it as a busy store).
fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

impl AuthStore for KvAuth<'_> {
    /// The caller as the limiter needs it (`crate::ratelimit::Caller`).
    type Owner = crate::ratelimit::Caller;

    fn access_key(
        &self,
        id: &str,
    ) -> Result<Option<AccessKey<crate::ratelimit::Caller>>, StoreFailure> {
        let Some(r) = auth::access_key(&self.st, id).map_err(failure)? else {
            return Ok(None);
        };
        // A secret that does not open is the app's misconfiguration (a missing or rotated
        // `secrets_key`), not the caller's fault: answered as a failure, never as a match.
        let secret = auth::secret_of(&r, self.secrets)
            .map_err(|e| StoreFailure(format!("AccessKey {id}: {e}")))?;
        Ok(Some(AccessKey {
            secret,
            owner: crate::ratelimit::Caller {
                org: r.org_id,
                credential: keys::access_key(id),
                throttled_until: r.throttled_until,
            },
            disabled: r.disabled,
        }))
    }

    fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        keep_until_ms: Millis,
    ) -> Result<bool, StoreFailure> {
        // Hashed: the nonce's characters are checked, but its length is the caller's choice.
        let key = keys::nonce(access_key_id, &auth::sha256_hex(nonce.as_bytes()));
        let n = self.st.counter_next(&key).map_err(failure)?;
        if n == 1 {
            due::schedule_purge(&self.st, self.settings, keep_until_ms, vec![key])
                .map_err(failure)?;
        }
        Ok(n == 1)
    }
}
