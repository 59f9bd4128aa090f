//! `Idempotency-Key`: the same key with the same request within 24 hours replays the first
//! answer; with a different request it is a 422; while the first is still being recorded, a
//! 409. The first request is elected with `increment` on a per-(org, key) counter (R1), then
//! writes a `Pending` record under a key only it owns; later writers change that record only
//! by compare-and-swap (a stale or abandoned claim is taken over that way).

use crate::api::{ApiRequest, ApiResponse, Problem};
use crate::keys;
use crate::records::Store;
use crate::records::{Change, UpdateError};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// How long an answer is replayed.
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
    at: i64,
    #[serde(flatten)]
    state: State,
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

/// Elects or replays. The fingerprint covers method, path, query and body.
pub fn begin(
    st: &Store<'_>,
    org: &str,
    idem_key: &str,
    req: &ApiRequest,
) -> Result<Begin, StoreError> {
    let hashed = sha_hex(&[idem_key.as_bytes()]);
    let fingerprint = sha_hex(&[
        req.method.as_bytes(),
        req.path.as_bytes(),
        req.query.as_bytes(),
        &req.body,
    ]);
    let key = keys::idempotency(org, &hashed);
    let now = st.now_ms();
    let claim = Claim {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
    };
    if st.counter_next(&keys::idempotency_claim(org, &hashed))? == 1 {
        let rec = Record {
            fingerprint,
            at: now,
            state: State::Pending,
        };
        st.put_new(&key, &rec)?;
        return Ok(Begin::Proceed(claim));
    }
    // Not the first: decide from the record (absent: the first has not written it yet).
    let mut decided: Option<Begin> = None;
    let r = st.update::<Record, ()>(&key, |rec| {
        let expired = now - rec.at >= TTL_MS;
        let stale = matches!(rec.state, State::Pending) && now - rec.at >= LEASE_MS;
        let free = matches!(rec.state, State::Abandoned) || expired || stale;
        if free {
            decided = None;
            return Change::Write(Record {
                fingerprint: fingerprint.clone(),
                at: now,
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
        Ok(_) => Ok(decided.unwrap_or(Begin::Proceed(claim))),
        Err(UpdateError::NotFound) => Ok(refuse_in_flight()),
        Err(UpdateError::Contended) => Ok(refuse_in_flight()),
        Err(UpdateError::Store(e)) => Err(e),
        Err(UpdateError::Aborted(())) => Ok(refuse_in_flight()),
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
    let _ = st.update::<Record, ()>(&claim.key, |rec| {
        if rec.fingerprint == claim.fingerprint && matches!(rec.state, State::Pending) {
            Change::Write(Record {
                fingerprint: claim.fingerprint.clone(),
                at: now,
                state: state.clone(),
            })
        } else {
            Change::Unchanged
        }
    });
}
