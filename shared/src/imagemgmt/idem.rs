//! `Idempotency-Key`: the same key with the same request within 24 hours replays the first
//! answer; with a different request it is a 422; while the first is still being recorded, a
//! 409 (docs/contract/imagemgmt-api.md). The first request is elected with `increment` on a
//! per-(org, key) counter (R1), then writes a `Pending` record under a key only it owns;
//! later writers change that record only by compare-and-swap (a stale or abandoned claim is
//! taken over that way, within the same lifetime).
//!
//! ## Lifetimes
//!
//! A key's *lifetime* begins with its first use (its `since`) and ends [`TTL_MS`] later:
//! then the key is fresh again, and its record and claim counter leave the store through
//! the due index's purge lane. The purge is a blind deletion ([`due::schedule_purge`]), so
//! it must never meet a later lifetime of the same key. Hence the record and the claim
//! live under keys of the **day** the lifetime began (`day = since / TTL_MS`, see
//! [`lifetime_keys`]):
//!
//! - a request on day `d` looks first at the lifetime of day `d - 1` (the only earlier one
//!   that can still be live, since a day is as long as the lifetime); if it is live, the
//!   request is decided by it (replay, 422, 409, or the takeover of an abandoned or stale
//!   claim, which keeps the lifetime). Otherwise it elects (or finds) the lifetime of day
//!   `d`. No record of day `d` can be expired on day `d`, so a lifetime is never renewed in
//!   place: a reuse after expiry is a fresh election under the new day's keys.
//! - the elected first request schedules the purge of its record and claim at
//!   `since + TTL_MS`, which is after its day ended. From then on nobody counts the claim
//!   (elections happen under the current day's keys) and nobody takes the record over (a
//!   request of day `d + 1` treats it as expired), so the purge, however late, and even
//!   repeated by racing advancers, deletes nothing anyone still uses: an absent record
//!   reads as "expired". (A request that took an abandoned claim over just before the end
//!   may still record its answer, which then goes with the rest: a retry of it comes more
//!   than 24 hours after the key's first use, and is fresh.)
//! - cost: one extra read per keyed request (the previous day's record), and for the first
//!   use of a key the purge's scheduling (three store calls, as for a nonce).
//!
//! An elected request that dies before writing its record leaves the key answering 409
//! until its day ends (then the next day's lifetime is elected), and its claim is purged
//! with the rest. A lifetime is elected at most once per day, and its keys are deleted only
//! after that day: no claim counter is ever deleted and then counted again within a day.
//! Records written before lifetimes existed (under `org/<org>/idem/<hash>`, without a day)
//! are never read again; they are left where they are.

use crate::api::{ApiRequest, ApiResponse, Problem};
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::records::{Change, UpdateError};
use crate::settings::Settings;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// How long an answer is replayed, from the key's first use; also the width of a day of
/// [`lifetime_keys`].
pub const TTL_MS: i64 = 24 * 3600 * 1000;
/// A claim still `Pending` after this long belongs to a request that died; it may be taken.
pub const LEASE_MS: i64 = 60 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "state")]
enum State {
    Pending,
    Done {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// The first attempt ended in a server error: the key may be used again.
    Abandoned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    fingerprint: String,
    /// The last write (a `Pending` claim's lease runs from here).
    at: i64,
    /// When the key's lifetime began (its first use): it ends `TTL_MS` later.
    #[serde(default)]
    since: i64,
    #[serde(flatten)]
    state: State,
}

impl Record {
    /// Whether the lifetime this record belongs to is over at `now`.
    fn expired(&self, now: Millis) -> bool {
        now - self.since >= TTL_MS
    }
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Begin {
    /// This request owns the key: run it, then [`finish`].
    Proceed(Claim),
    /// The first answer, replayed.
    Replay(ApiResponse),
    /// 409 (still being recorded) or 422 (different request).
    Refuse(Problem),
}

/// Ownership of a key by the running request.
#[derive(Debug)]
pub struct Claim {
    key: String,
    fingerprint: String,
}

fn sha_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// The day (a [`TTL_MS`]-wide window of Unix time) of time `ms`.
pub fn day_of(ms: Millis) -> i64 {
    ms.div_euclid(TTL_MS)
}

/// The record and claim-counter keys of the lifetime of `hashed` (the key's hash) that
/// began on `day`: `org/<org>/idem/<day>-<hash>` and `…/claim`.
pub fn lifetime_keys(org: &str, hashed: &str, day: i64) -> (String, String) {
    let scoped = format!("{day}-{hashed}");
    (
        keys::idempotency(org, &scoped),
        keys::idempotency_claim(org, &scoped),
    )
}

/// The hash under which key `idem_key` is stored (the key's characters are the client's).
pub fn hashed(idem_key: &str) -> String {
    sha_hex(&[idem_key.as_bytes()])
}

/// Reads and checks the header; `None` when absent.
pub fn key_of(req: &ApiRequest) -> Result<Option<&str>, Problem> {
    match req.header("idempotency-key") {
        None => Ok(None),
        Some(k) if k.is_empty() || k.chars().count() > MAX_KEY_LEN => Err(Problem::field(
            "Idempotency-Key",
            "INVALID_VALUE",
            format!("must be 1 to {MAX_KEY_LEN} characters"),
        )),
        Some(k) => Ok(Some(k)),
    }
}

fn refuse_other_request() -> Begin {
    Begin::Refuse(Problem::new(
        422,
        "IDEMPOTENCY_KEY_REUSED",
        "this Idempotency-Key was used with a different request",
    ))
}

fn refuse_in_flight() -> Begin {
    Begin::Refuse(Problem::new(
        409,
        "IDEMPOTENCY_KEY_IN_FLIGHT",
        "a request with this Idempotency-Key is still being recorded",
    ))
}

/// Elects or replays, and schedules the purge of a new lifetime's keys (see the module
/// docs). The fingerprint covers method, path, query and body.
pub fn start(
    st: &Store<'_>,
    settings: &Settings,
    org: &str,
    idem_key: &str,
    req: &ApiRequest,
) -> Result<Begin, StoreError> {
    let hashed = hashed(idem_key);
    let fingerprint = sha_hex(&[
        req.method.as_bytes(),
        req.path.as_bytes(),
        req.query.as_bytes(),
        &req.body,
    ]);
    let now = st.now_ms();
    let today = day_of(now);
    // Yesterday's lifetime, if it is still live, decides (one read when there is none).
    let (earlier, _) = lifetime_keys(org, &hashed, today - 1);
    if let Some(decided) = decide(st, &earlier, &fingerprint, now)? {
        return Ok(decided);
    }
    let (key, claim_key) = lifetime_keys(org, &hashed, today);
    if st.counter_next(&claim_key)? == 1 {
        // Scheduled before the record is written, so an elected request that dies right
        // after still has its claim purged. A failure to schedule does not stop the
        // request (as for a rate-limit counter): its two keys may then stay behind. The
        // election is not undone: a failed scheduling may have landed, and its purge must
        // never meet a second lifetime under the same keys.
        let purge = vec![key.clone(), claim_key.clone()];
        let _ = due::schedule_purge(st, settings, now + TTL_MS, purge);
        let rec = Record {
            fingerprint: fingerprint.clone(),
            at: now,
            since: now,
            state: State::Pending,
        };
        st.put_new(&key, &rec)?;
        return Ok(Begin::Proceed(Claim { key, fingerprint }));
    }
    // Not the first today: an absent record is the first one not written yet.
    Ok(decide(st, &key, &fingerprint, now)?.unwrap_or_else(refuse_in_flight))
}

/// Decides a request from the live lifetime recorded under `key`; `None` when there is none
/// (no record, or its lifetime is over).
fn decide(
    st: &Store<'_>,
    key: &str,
    fingerprint: &str,
    now: Millis,
) -> Result<Option<Begin>, StoreError> {
    let mut decided: Option<Begin> = None;
    let r = st.update::<Record, ()>(key, |rec| {
        if rec.expired(now) {
            return Change::Abort(());
        }
        let stale = matches!(rec.state, State::Pending) && now - rec.at >= LEASE_MS;
        if matches!(rec.state, State::Abandoned) || stale {
            // Taken over within the same lifetime: it keeps its `since` (and its purge).
            decided = Some(Begin::Proceed(Claim {
                key: key.to_owned(),
                fingerprint: fingerprint.to_owned(),
            }));
            return Change::Write(Record {
                fingerprint: fingerprint.to_owned(),
                at: now,
                since: rec.since,
                state: State::Pending,
            });
        }
        decided = Some(if rec.fingerprint != fingerprint {
            refuse_other_request()
        } else {
            match &rec.state {
                State::Done {
                    status,
                    headers,
                    body,
                } => Begin::Replay(ApiResponse {
                    status: *status,
                    headers: headers.clone(),
                    body: body.clone().into_bytes(),
                }),
                _ => refuse_in_flight(),
            }
        });
        Change::Unchanged
    });
    match r {
        Ok(_) => Ok(decided),
        Err(UpdateError::NotFound) | Err(UpdateError::Aborted(())) => Ok(None),
        Err(UpdateError::Contended) => Ok(Some(refuse_in_flight())),
        Err(UpdateError::Store(e)) => Err(e),
    }
}

/// Records the answer for replay; a server error frees the key instead (a retry may run).
pub fn finish(st: &Store<'_>, claim: &Claim, resp: &ApiResponse) {
    let state = if resp.status >= 500 {
        State::Abandoned
    } else {
        State::Done {
            status: resp.status,
            headers: resp.headers.clone(),
            body: String::from_utf8_lossy(&resp.body).into_owned(),
        }
    };
    let now = st.now_ms();
    // Only our own claim is replaced (a taker-over would have changed the fingerprint/time).
    // A failure here leaves the claim Pending until its lease ends: the key then frees itself.
    // A record already purged (its lifetime over) is not written again: `update` never creates.
    let _ = st.update::<Record, ()>(&claim.key, |rec| {
        if rec.fingerprint == claim.fingerprint && matches!(rec.state, State::Pending) {
            Change::Write(Record {
                fingerprint: claim.fingerprint.clone(),
                at: now,
                since: rec.since,
                state: state.clone(),
            })
        } else {
            Change::Unchanged
        }
    });
}

#[cfg(test)]
mod tests;
