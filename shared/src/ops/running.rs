//! The operations an org runs at once, at most `quota_operations` (issue 24, item 4).
//!
//! One register record per org (`keys::running_operations`, created once, R1; then changed
//! by compare-and-swap) lists the operations started and not yet seen ended. A door claims
//! an entry before it writes anything of a new operation ([`claim`]), so a refusal records
//! nothing; the advancer removes the entry when the operation ends ([`release`]). Both are
//! one read and one swap of a record that holds at most the quota's entries (about 50 bytes
//! each); the org's first claim also creates the register.
//!
//! An entry whose release was lost (a tick that died between its last transition and the
//! release, a request that died after its claim, an operation deleted with its org) stops
//! counting once seen: a claim that finds the register full reads every entry's operation
//! (one batch, at most the quota) and drops those that ended, or whose record is missing
//! after [`CLAIM_GRACE_MS`]. So the quota is exact under concurrency (the claim is one
//! compare-and-swap) and can never be filled by leaks.
//!
//! What counts: operations that create (a new image, Add Version and `clone-version`,
//! publish and republish, an RPC capture or distribution). A deletion never waits for the
//! quota, so an org at its quota can always clean up; its deletions are bounded by what it
//! holds.

use crate::env::Millis;
use crate::keys;
use crate::ops::Operation;
use crate::records::{Change, Store};
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// An entry whose operation record never appeared (its request died between the claim and
/// the operation's write) stops counting after this long.
pub const CLAIM_GRACE_MS: Millis = 60_000;

/// The org's running operations (module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Register {
    #[serde(default)]
    pub running: Vec<Entry>,
}

/// One claimed operation: its id and when it was claimed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub at: Millis,
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimError {
    /// The org runs its quota of operations.
    Quota {
        quota: u32,
    },
    Store(StoreError),
}

impl From<StoreError> for ClaimError {
    fn from(e: StoreError) -> Self {
        ClaimError::Store(e)
    }
}

/// A claimed entry: given back when dropped unless [`Claim::keep`] says the operation was
/// recorded (so every refusal after the claim gives the room back at once).
#[must_use = "a claim is given back when dropped: keep it once the operation is recorded"]
pub struct Claim<'a> {
    st: &'a Store<'a>,
    org: &'a str,
    op_id: &'a str,
    kept: bool,
}

impl Claim<'_> {
    /// The operation is recorded: its entry stays until it ends.
    pub fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.kept {
            release(self.st, self.org, self.op_id);
        }
    }
}

/// Claims an entry for operation `op_id` of `org`, or refuses it when the org runs `quota`
/// operations (module docs). Reads no operation below the quota.
pub fn claim<'a>(
    st: &'a Store<'a>,
    quota: u32,
    org: &'a str,
    op_id: &'a str,
) -> Result<Claim<'a>, ClaimError> {
    let mut first = try_claim(st, quota, org, op_id, false)?;
    if let Claimed::NoRegister = first {
        // The org's first operation since the register existed: create it once (R1).
        st.ensure_created::<Register>(
            &keys::running_operations_claim(org),
            &keys::running_operations(org),
        )?;
        first = try_claim(st, quota, org, op_id, false)?;
    }
    let claimed = match first {
        Claimed::Yes => true,
        // Full when read: decide again with every entry's operation read.
        Claimed::NeedsEveryOperation => {
            matches!(try_claim(st, quota, org, op_id, true)?, Claimed::Yes)
        }
        Claimed::NoRegister => return Err(StoreError::contended().into()),
    };
    if !claimed {
        return Err(ClaimError::Quota { quota });
    }
    Ok(Claim {
        st,
        org,
        op_id,
        kept: false,
    })
}

enum Claimed {
    Yes,
    NeedsEveryOperation,
    NoRegister,
}

fn try_claim(
    st: &Store<'_>,
    quota: u32,
    org: &str,
    op_id: &str,
    every: bool,
) -> Result<Claimed, ClaimError> {
    let key = keys::running_operations(org);
    let quota_n = usize::try_from(quota).unwrap_or(usize::MAX);
    let ended: Vec<String> = if every {
        ended_entries(st, org, &key)?
    } else {
        Vec::new()
    };
    let mut full = false;
    let r = st.update::<Register, ClaimError>(&key, |reg| {
        full = false;
        let mut running: Vec<Entry> = reg
            .running
            .iter()
            .filter(|e| !ended.contains(&e.id))
            .cloned()
            .collect();
        if running.len() >= quota_n {
            full = true;
            return Change::Abort(ClaimError::Quota { quota });
        }
        running.push(Entry {
            id: op_id.to_owned(),
            at: st.now_ms(),
        });
        Change::Write(Register { running })
    });
    match r.map_err(|e| e.unless_missing()) {
        Ok(_) => Ok(Claimed::Yes),
        Err(None) => Ok(Claimed::NoRegister),
        Err(Some(ClaimError::Quota { .. })) if full && !every => Ok(Claimed::NeedsEveryOperation),
        Err(Some(e)) => Err(e),
    }
}

/// The entries of the register whose operation ended, or whose record is missing past the
/// grace: one read of the register and one batch read of its operations.
fn ended_entries(st: &Store<'_>, org: &str, key: &str) -> Result<Vec<String>, StoreError> {
    let Some(reg) = st.get::<Register>(key)? else {
        return Ok(Vec::new());
    };
    let op_keys: Vec<String> = reg
        .value
        .running
        .iter()
        .map(|e| keys::operation(org, &e.id))
        .collect();
    let ops = st.get_many::<Operation>(&op_keys)?;
    let now = st.now_ms();
    Ok(reg
        .value
        .running
        .iter()
        .zip(ops)
        .filter(|(e, op)| match op {
            Some(op) => op.value.status.is_terminal(),
            None => now.saturating_sub(e.at) >= CLAIM_GRACE_MS,
        })
        .map(|(e, _)| e.id.clone())
        .collect())
}

/// Removes operation `op_id`'s entry (its operation ended, or its request gave it back).
/// Best effort: a lost release is dropped by the next claim that needs the room.
pub fn release(st: &Store<'_>, org: &str, op_id: &str) {
    let _ = st.update::<Register, ()>(&keys::running_operations(org), |reg| {
        if !reg.running.iter().any(|e| e.id == op_id) {
            return Change::Unchanged;
        }
        let mut reg = reg.clone();
        reg.running.retain(|e| e.id != op_id);
        Change::Write(reg)
    });
}

/// How many operations the register lists (ended ones not yet released included): the
/// admin usage's figure.
pub fn listed(st: &Store<'_>, org: &str) -> Result<usize, StoreError> {
    Ok(st
        .get::<Register>(&keys::running_operations(org))?
        .map_or(0, |r| r.value.running.len()))
}

#[cfg(test)]
mod tests;
