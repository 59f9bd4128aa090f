//! The cursor lanes of the due index (`crate::due`, "Lanes"): the legacy operations lane
//! and housekeeping, each read in bucket order from its cursor.

use super::ahead::{Counts, Position};
use super::{Done, TickReport, process};
use crate::due::{self, Cursor, DueEntry, Lane};
use crate::keys;
use crate::records::{self, Change, Store, UpdateError};
use crate::settings::Settings;
use crate::sim::Simulation;
use crate::store::StoreError;

/// Entries a lane reads at once: reads never run far ahead of the deadline.
const CHUNK: u32 = 64;

/// Entries a lane processes in every tick even past the deadline (or `cap`, if lower), so
/// purges keep up a steady pace when operations spend every tick's budget.
pub(super) const FLOOR: u32 = 64;

/// Processes at most `cap` due entries of `lane` from its cursor, and moves the cursor
/// forward past them. Past `deadline` it stops once it has processed [`FLOOR`]. `ahead` is
/// the cursor and its counts read ahead (`super::ahead`), if they were; `turn` staggers
/// the idle cursor writes among the positions (`Counts::due_to_write`).
pub(super) fn run(
    st: &Store<'_>,
    settings: &Settings,
    (lane, turn): (Lane, i64),
    (cap, deadline): (u32, i64),
    sim: &mut Option<(Simulation, Settings)>,
    report: &mut TickReport,
    ahead: Option<Position<Cursor>>,
) -> Result<(), StoreError> {
    let now = st.now_ms();
    let prefix = lane.prefix();
    // Not read ahead, or its read failed: read it now.
    let (seen, known) = match ahead {
        Some(Position {
            seen: Ok(seen),
            counts,
            ..
        }) => (seen, counts),
        _ => (
            st.get_seen::<Cursor>(&keys::due_cursor(prefix))?
                .map(|s| (s.stored.value, s.raw)),
            None,
        ),
    };
    let Some((cursor, raw)) = seen else {
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
    };
    // The counters of the buckets this tick may read, in one batch read (readable buckets
    // get no new entries, so a count read now is final): a lane that fell behind catches up
    // over empty buckets in one call, not one a bucket. Read ahead with the shards' when it
    // could be; this tick reads no bucket past that window.
    let known = match known {
        Some(k) => k,
        None => Counts::read(st, settings, cursor.bucket, |b| keys::due_count(prefix, b))?,
    };
    if known.more {
        report.more = true;
    }
    let last = *known.window.end();
    let counts = &known.counts;
    let mut pos = cursor;
    let mut processed: u32 = 0;
    let mut buckets: u32 = 0;
    let mut failure: Option<StoreError> = None;
    // Slots and drained buckets' counters that served their purpose: deleted in one batch
    // call after the loop. Failing to delete them only leaves garbage behind the cursor.
    let mut spent: Vec<String> = Vec::new();

    let floor = FLOOR.min(cap);
    let stop = |processed: u32| processed >= cap || (processed >= floor && st.now_ms() >= deadline);
    'buckets: while pos.bucket <= last {
        if buckets >= settings.max_buckets_per_tick || stop(processed) {
            report.more = true;
            break;
        }
        let count = usize::try_from(pos.bucket - cursor.bucket)
            .ok()
            .and_then(|i| counts.get(i).copied())
            .unwrap_or(0);
        while pos.done < count {
            if stop(processed) {
                report.more = true;
                break 'buckets;
            }
            let room = i64::from((cap - processed).min(CHUNK));
            let upto = count.min(pos.done + room);
            let slots: Vec<String> = (pos.done + 1..=upto)
                .map(|n| keys::due_slot(prefix, pos.bucket, n))
                .collect();
            let raw = match st.retry(|| st.kv().get_many(&slots)) {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(e);
                    break 'buckets;
                }
            };
            for (slot_key, bytes) in slots.iter().zip(raw) {
                let outcome = match bytes.map(|b| records::decode::<DueEntry>(slot_key, &b)) {
                    // Elected but not (yet) written, or already processed and deleted.
                    None => Ok(Done::Skipped),
                    Some(Ok(e)) => process(st, settings, sim, &e.value, None),
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
                        spent.push(slot_key.clone());
                        pos.done += 1;
                        processed += 1;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break 'buckets;
                    }
                }
            }
        }
        // Bucket finished: its counter is no longer needed (an empty bucket has none).
        if count > 0 {
            spent.push(keys::due_count(prefix, pos.bucket));
        }
        pos = Cursor {
            bucket: pos.bucket + 1,
            done: 0,
        };
        buckets += 1;
        report.buckets += 1;
    }

    let _ = st.delete_many(&spent);

    // A lane that only passed empty buckets saves its cursor now and then (`ahead::SLACK`):
    // the next tick reads those buckets' counters again in its one batch read.
    let idle = processed == 0 && pos.done == 0 && pos.bucket == last + 1;
    if pos != cursor && (!idle || known.due_to_write(cursor.bucket, turn, super::ahead::slack(st)))
    {
        // Only ever forward: a slower replica must not move the cursor back. Swapped from
        // the bytes read (one read less); a cursor moved meanwhile is read again.
        let target = pos;
        let r = st.update_from::<Cursor, ()>(&keys::due_cursor(prefix), Some(raw), |c| {
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
