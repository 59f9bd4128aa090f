//! The advancer: one cron tick reads each lane of the due index from its cursor and
//! advances each due operation by exactly one transition (docs/contract/lifecycle.md "The
//! advancer"), then carries out the due purges of the housekeeping lane (`crate::due`
//! "Lanes"): each lane has its own cap, so purges never take an operation's place.
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

mod projection;

#[cfg(test)]
mod tests;

pub use projection::project;

use crate::due::{self, Cursor, DueEntry, DueKind, Lane};
use crate::keys;
use crate::ops::{self, Operation};
use crate::records::{self, Change, Store, UpdateError};
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
    /// Buckets passed.
    pub buckets: u32,
    /// The tick stopped at its cap or bucket limit: more work waits.
    pub more: bool,
    /// A store error stopped the tick (the cursor stays before the failed entry).
    pub error: Option<String>,
}

enum Done {
    Advanced,
    Skipped,
    Purged,
}

/// One tick: processes at most `cap` due entries of each lane, operations first. Never
/// panics; a store error ends the lane's work early and is reported (the entry is retried
/// next tick); the other lane is still worked.
pub fn tick(st: &Store<'_>, settings: &Settings, cap: u32) -> TickReport {
    let mut report = TickReport::default();
    for lane in Lane::ALL {
        if let Err(e) = run(st, settings, lane, cap, &mut report) {
            report.error.get_or_insert_with(|| e.to_string());
        }
    }
    report
}

fn run(
    st: &Store<'_>,
    settings: &Settings,
    lane: Lane,
    cap: u32,
    report: &mut TickReport,
) -> Result<(), StoreError> {
    let now = st.now_ms();
    let prefix = lane.prefix();
    let cursor = match st.get::<Cursor>(&keys::due_cursor(prefix))? {
        Some(c) => c.value,
        None => {
            // Normally created by the first `schedule`. If its creator died between election
            // and write, create it here: a blind write of an *earlier* position is safe (it
            // only makes the advancer look at already-processed buckets again).
            let start = due::bucket_of(settings, now.saturating_sub(due::CURSOR_LOOKBACK_MS));
            st.put_new(
                &keys::due_cursor(prefix),
                &Cursor {
                    bucket: start,
                    done: 0,
                },
            )?;
            return Ok(());
        }
    };
    let last = due::last_readable_bucket(settings, now);
    let mut pos = cursor;
    let mut processed: u32 = 0;
    let mut buckets: u32 = 0;
    // Loaded at the first due operation only: an idle tick does not pay for it.
    let mut sim: Option<(Simulation, Settings)> = None;
    let mut failure: Option<StoreError> = None;

    'buckets: while pos.bucket <= last {
        if buckets >= settings.max_buckets_per_tick || processed >= cap {
            report.more = true;
            break;
        }
        let count = st.counter_read(&keys::due_count(prefix, pos.bucket))?;
        if pos.done < count {
            let room = i64::from(cap - processed);
            let upto = count.min(pos.done + room);
            let slots: Vec<String> = (pos.done + 1..=upto)
                .map(|n| keys::due_slot(prefix, pos.bucket, n))
                .collect();
            let raw = match st.retry(|| st.kv().get_many(&slots)) {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            for (slot_key, bytes) in slots.iter().zip(raw) {
                let outcome = match bytes.map(|b| records::decode::<DueEntry>(slot_key, &b)) {
                    // Elected but not (yet) written, or already processed and deleted.
                    None => Ok(Done::Skipped),
                    Some(Ok(e)) => process(st, settings, &mut sim, &e.value),
                    Some(Err(e)) => Err(e),
                };
                let outcome = match outcome {
                    // One unreadable record must not stop the queue forever: skip it.
                    Err(e @ StoreError::Corrupt(_)) => {
                        report.error = Some(e.to_string());
                        Ok(Done::Skipped)
                    }
                    other => other,
                };
                match outcome {
                    Ok(d) => {
                        match d {
                            Done::Advanced => report.advanced += 1,
                            Done::Skipped => report.skipped += 1,
                            Done::Purged => report.purged += 1,
                        }
                        // The slot served its purpose; failing to delete it only leaves garbage.
                        let _ = st.delete(slot_key);
                        pos.done += 1;
                        processed += 1;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'buckets;
                    }
                }
            }
            if pos.done < count {
                report.more = true;
                break;
            }
        }
        // Bucket finished: its counter is no longer needed.
        let _ = st.delete(&keys::due_count(prefix, pos.bucket));
        pos = Cursor {
            bucket: pos.bucket + 1,
            done: 0,
        };
        buckets += 1;
        report.buckets += 1;
    }

    if pos != cursor {
        // Only ever forward: a slower replica must not move the cursor back.
        let target = pos;
        let r = st.update::<Cursor, ()>(&keys::due_cursor(prefix), |c| {
            if (target.bucket, target.done) > (c.bucket, c.done) {
                Change::Write(target)
            } else {
                Change::Unchanged
            }
        });
        // Only a failing store ends the tick with an error. A contended or vanished cursor
        // is no failure: other replicas are moving it, and the slots this tick processed are
        // deleted, so reading them again later costs a read and does nothing.
        if let Err(UpdateError::Store(e)) = r {
            return Err(e);
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn process(
    st: &Store<'_>,
    settings: &Settings,
    sim: &mut Option<(Simulation, Settings)>,
    entry: &DueEntry,
) -> Result<Done, StoreError> {
    match &entry.kind {
        DueKind::Purge { keys } => {
            for k in keys {
                st.delete(k)?;
            }
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
            if advance_one(st, effective, &provider, org, id)? {
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
    let key = keys::operation(org, id);
    let Some(stored) = st.get::<Operation>(&key)? else {
        return Ok(false);
    };
    let op = stored.value;
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
    let r = st.update::<Operation, Option<StoreError>>(&key, |cur| {
        // Re-check the state this transition starts from: anything else means another
        // advancer already moved it.
        if (cur.seq, cur.status) == from {
            Change::Write(next.clone())
        } else {
            Change::Abort(None)
        }
    });
    match r.map_err(|e| e.lift(|| None)) {
        Ok(_) => Ok(true),
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
