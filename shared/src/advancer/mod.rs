//! The advancer: one cron tick works the shards of the operations index (`shard`; the design
//! is in `crate::due`, "Shards" and "A tick over the shards"), then the legacy operations
//! lane and the housekeeping lane from their cursors (`lane`), advancing each due operation
//! by exactly one transition (docs/contract/lifecycle.md "The advancer") and carrying out
//! the due purges: each lane has its own cap, so purges never take an operation's place.
//!
//! Order of writes for one transition, chosen so that a crash or a racing replica never loses
//! nor repeats a transition:
//! 1. compute the next state from the stored operation (the provider is deterministic, so a
//!    racing advancer computes the same transition);
//! 2. project it onto version, assets and image (idempotent: guarded by the operation's `seq`);
//! 3. schedule the next due entry;
//! 4. compare-and-swap the operation, re-checking the `seq` it started from: a lost race is a
//!    no-op, never a blind retry (the loser re-projects the winner's state).
//!
//! The projection of a state onto the records (step 2) is in `projection`.

mod ahead;
mod lane;
mod projection;
mod shard;

#[cfg(test)]
mod tests;

pub use projection::project;

use crate::due::{self, DueEntry, DueKind, Lane};
use crate::keys;
use crate::ops::{self, Operation};
use crate::records::{self, Change, Store};
use crate::settings::Settings;
use crate::sim::{Provider, Simulation, Simulator};
use crate::store::StoreError;

/// What a tick did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TickReport {
    /// Operations moved by one transition.
    pub advanced: u32,
    /// Entries with nothing to do (stale, replayed, not due, or a lost race).
    pub skipped: u32,
    /// Purge entries carried out.
    pub purged: u32,
    /// Buckets passed (lane buckets and shard ring buckets).
    pub buckets: u32,
    /// Shards this tick held the lease of and worked.
    pub shards: u32,
    /// Shards skipped because another tick held them.
    pub leased: u32,
    /// The tick stopped at a cap, its time budget or a bucket limit: more work waits.
    pub more: bool,
    /// A store error stopped the tick (the cursor stays before the failed entry).
    pub error: Option<String>,
}

impl TickReport {
    fn count(&mut self, done: Done) {
        match done {
            Done::Advanced => self.advanced += 1,
            Done::Skipped => self.skipped += 1,
            Done::Purged => self.purged += 1,
        }
    }
}

enum Done {
    Advanced,
    Skipped,
    Purged,
}

/// One tick: works every shard of the operations index once (at most `cap` entries each,
/// within the time budget `tick_budget_ms`), then at most `cap` entries of each cursor lane
/// (legacy operations, then housekeeping; past the budget a lane still does
/// [`lane::FLOOR`], so purges never starve). Never panics; a store error ends that shard's or
/// lane's work early and is reported (the entry is retried next tick); the rest is still
/// worked.
pub fn tick(st: &Store<'_>, settings: &Settings, cap: u32) -> TickReport {
    let mut report = TickReport::default();
    // Loaded at the first due operation only: an idle tick does not pay for it.
    let mut sim: Option<(Simulation, Settings)> = None;
    let budget = i64::try_from(settings.tick_budget_ms).unwrap_or(i64::MAX);
    let deadline = st.now_ms().saturating_add(budget);
    // A fresh id per tick is enough: a lease is only ever released by the tick that took
    // it, and a tick never takes a shard twice.
    let holder = st.new_id("tick-");
    let mut ahead = ahead::Ahead::read(st, settings, &holder);
    let mut shards = shard::Shards {
        st,
        settings,
        cap,
        deadline,
        slice: shard::Slice::default(),
        holder,
        sim: &mut sim,
        report: &mut report,
        ahead: &mut ahead,
    };
    shards.run();
    for (i, lane) in Lane::ALL.into_iter().enumerate() {
        // Lanes take their turns for idle writes after the shards'.
        let turn = i64::from(settings.due_shards) + i as i64;
        let r = lane::run(
            st,
            settings,
            (lane, turn),
            (cap, deadline),
            &mut sim,
            &mut report,
            ahead.take_lane(i),
        );
        if let Err(e) = r {
            report.error.get_or_insert_with(|| e.to_string());
        }
    }
    report
}

/// The operation record of a due entry, when it names one: what a turn reads for all its
/// entries in one batch ([`process`]'s `seen`).
fn operation_key(entry: &DueEntry) -> Option<String> {
    match &entry.kind {
        DueKind::Operation { org, id } => Some(keys::operation(org, id)),
        DueKind::Purge { .. } => None,
    }
}

/// Does what `entry` is due for. `seen`: the operation record's bytes as this tick already
/// read them (`Some(None)`: absent), or `None` to read them here.
fn process(
    st: &Store<'_>,
    settings: &Settings,
    sim: &mut Option<(Simulation, Settings)>,
    entry: &DueEntry,
    seen: Option<Option<Vec<u8>>>,
) -> Result<Done, StoreError> {
    match &entry.kind {
        DueKind::Purge { keys } => {
            st.delete_many(keys)?;
            Ok(Done::Purged)
        }
        DueKind::Operation { org, id } => {
            if sim.is_none() {
                let s = Simulation::load(st)?;
                let eff = s.apply(settings);
                *sim = Some((s, eff));
            }
            let Some((simulation, effective)) = sim.as_ref() else {
                return Ok(Done::Skipped);
            };
            let provider = Simulator {
                st: *st,
                sim: simulation.clone(),
            };
            if advance_seen(st, effective, &provider, org, id, seen)? {
                Ok(Done::Advanced)
            } else {
                Ok(Done::Skipped)
            }
        }
    }
}

/// Advances one operation by one transition if it is due. `Ok(false)`: nothing to do
/// (settled, not due, gone, or another advancer did it).
pub fn advance_one(
    st: &Store<'_>,
    settings: &Settings,
    provider: &dyn Provider,
    org: &str,
    id: &str,
) -> Result<bool, StoreError> {
    advance_seen(st, settings, provider, org, id, None)
}

/// [`advance_one`] from the operation's bytes as read earlier in this tick (`seen`), or
/// read now (`None`). Stale bytes cost nothing but a lost swap: the transition is
/// computed from them, shown (idempotently), and its swap from those bytes does not land,
/// so the winner's state is shown instead, as after any lost race.
fn advance_seen(
    st: &Store<'_>,
    settings: &Settings,
    provider: &dyn Provider,
    org: &str,
    id: &str,
    seen: Option<Option<Vec<u8>>>,
) -> Result<bool, StoreError> {
    let key = keys::operation(org, id);
    let seen = match seen {
        Some(seen) => seen,
        None => st.retry(|| st.kv().get(&key))?,
    };
    let Some(raw) = seen else {
        return Ok(false);
    };
    let op = records::decode::<Operation>(&key, &raw)?.value;
    let now = st.now_ms();
    if op.status.is_terminal() || op.due_at.0 > now {
        return Ok(false);
    }
    let outcome = provider.outcome(&op)?;
    let Some(next) = ops::transition(&op, settings, now, || outcome) else {
        return Ok(false);
    };
    project(st, &next)?;
    if !next.status.is_terminal() {
        due::schedule(
            st,
            settings,
            next.due_at.0,
            &DueKind::Operation {
                org: org.to_owned(),
                id: id.to_owned(),
            },
        )?;
    }
    let from = (op.seq, op.status);
    // `Abort(None)` is a lost race; `Some` (after `lift`) a store failure.
    // Swapped from the bytes read above (one read less); if another advancer moved the
    // operation meanwhile, that swap does not land and the next round reads it afresh.
    let r = st.update_from::<Operation, Option<StoreError>>(&key, Some(raw), |cur| {
        // Re-check the state this transition starts from: anything else means another
        // advancer already moved it.
        if (cur.seq, cur.status) == from {
            Change::Write(next.clone())
        } else {
            Change::Abort(None)
        }
    });
    match r.map_err(|e| e.lift(|| None)) {
        Ok(_) => {
            // It ended: its room in the org's quota of running operations is free (best
            // effort; a lost release is dropped by the next claim that needs the room).
            // Deletions never claim one.
            if next.status.is_terminal() && next.kind != ops::OpKind::Delete {
                ops::running::release(st, org, id);
            }
            Ok(true)
        }
        Err(None) => {
            // Lost the race (or the operation is gone): make sure the records show the
            // winner's state, not ours.
            if let Some(winner) = st.get::<Operation>(&key)? {
                project(st, &winner.value)?;
            }
            Ok(false)
        }
        Err(Some(e)) => Err(e),
    }
}
