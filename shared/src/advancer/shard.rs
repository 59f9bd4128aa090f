//! A tick over the shards of the operations index: lease, pull the ring, let the ready orgs
//! take turns, save (`crate::due`, "A tick over the shards", explains why each step is
//! safe against racing and dying replicas).

use super::ahead::{self, Ahead, Counts, Position};
use super::{Done, TickReport, process};
use crate::due::shards::{self, Lease, Ready, ShardState, Signal};
use crate::due::{self, Cursor, DueEntry, LEASE_MARGIN_MS, MAX_READY};
use crate::env::Millis;
use crate::keys;
use crate::records::{self, Store};
use crate::settings::Settings;
use crate::sim::Simulation;
use crate::store::StoreError;

/// One tick's work on the shards.
pub(super) struct Shards<'a, 't> {
    pub st: &'t Store<'a>,
    pub settings: &'t Settings,
    /// Entries one shard may process in this tick.
    pub cap: u32,
    /// When the tick's time budget runs out.
    pub deadline: Millis,
    /// The current visit's share: when it ends and how many entries it may process.
    pub slice: Slice,
    /// This tick's lease holder id.
    pub holder: String,
    pub sim: &'t mut Option<(Simulation, Settings)>,
    pub report: &'t mut TickReport,
    /// The shards' states and idle counts, read ahead (taken by each shard's first visit).
    pub ahead: &'t mut Ahead,
}

/// One visit's share of the tick, and what the visit did with it.
#[derive(Debug, Default)]
pub(super) struct Slice {
    pub until: Millis,
    pub cap: u32,
    /// Entries processed in the visit.
    pub served: u32,
    /// The visit stopped at `until` with work left.
    pub short: bool,
}

impl Shards<'_, '_> {
    /// Visits every shard once, from a random offset (replicas ticking at the same moment
    /// start on different shards), each with an equal share of the time left (an idle
    /// shard's share goes to the next ones), so a burst in one shard cannot spend the budget
    /// before another shard's turn. Then shards that ran out of their share get what time
    /// is left, in the same order, up to the rest of their cap.
    pub fn run(&mut self) {
        let n = self.settings.due_shards.max(1);
        let offset = (self.st.env().random_u64() % u64::from(n)) as u32;
        let mut short = Vec::new();
        for i in 0..n {
            let now = self.st.now_ms();
            if now >= self.deadline {
                self.report.more = true;
                return;
            }
            let shard = (offset + i) % n;
            let share = (self.deadline - now) / i64::from(n - i);
            self.slice = Slice {
                until: now.saturating_add(share),
                cap: self.cap,
                ..Slice::default()
            };
            let ahead = self.ahead.take_shard(shard);
            self.visit_reporting(shard, ahead);
            if self.slice.short && self.slice.served < self.cap {
                short.push((shard, self.cap - self.slice.served));
            }
        }
        for (shard, cap) in short {
            if self.st.now_ms() >= self.deadline {
                self.report.more = true;
                return;
            }
            self.slice = Slice {
                until: self.deadline,
                cap,
                ..Slice::default()
            };
            self.visit_reporting(shard, None);
        }
    }

    fn visit_reporting(&mut self, shard: u32, ahead: Option<Position<ShardState>>) {
        if let Err(e) = self.visit(shard, ahead) {
            self.report.error.get_or_insert_with(|| e.to_string());
        }
    }

    fn out_of_time(&self) -> bool {
        self.st.now_ms() >= self.slice.until
    }

    /// Works one shard, from its state read ahead if given (else read now).
    fn visit(&mut self, shard: u32, ahead: Option<Position<ShardState>>) -> Result<(), StoreError> {
        let st = self.st;
        // A position whose read ahead failed is read now (reporting the failure if it
        // persists).
        let (read_ahead, seen, counts, never_used) = match ahead {
            Some(Position {
                seen: Ok(seen),
                counts,
                never_used,
            }) => (true, seen, counts, never_used),
            _ => (false, shards::read_state(st, shard)?, None, false),
        };
        let Some((mut state, raw)) = seen else {
            if never_used {
                return Ok(());
            }
            return shards::recover_state(st, self.settings, shard);
        };
        if state.leased_to_other(&self.holder, st.now_ms()) {
            self.report.leased += 1;
            return Ok(());
        }
        let mut ring_counts = None;
        if state.ready.is_empty() && state.ring.done == 0 {
            let counts = match counts {
                Some(c) => c,
                None => Counts::read(st, self.settings, state.ring.bucket, |b| {
                    keys::due_ring_count(shard, b)
                })?,
            };
            if counts.more {
                self.report.more = true;
            }
            if counts.all_empty() {
                // Nothing to do but pass empty buckets: no lease needed. The ring cursor is
                // only saved now and then (`ahead::SLACK`); a lost swap (another tick took
                // the shard meanwhile) loses nothing: it reads the same empty buckets.
                let passed = counts.counts.len();
                self.report.buckets += u32::try_from(passed).unwrap_or(u32::MAX);
                if passed > 0
                    && counts.due_to_write(state.ring.bucket, i64::from(shard), ahead::slack(st))
                {
                    state.ring = Cursor {
                        bucket: counts.window.end() + 1,
                        done: 0,
                    };
                    shards::swap_state(st, shard, &raw, &state)?;
                }
                return Ok(());
            }
            ring_counts = Some(counts);
        }
        state.lease = Some(Lease {
            holder: self.holder.clone(),
            until: self.deadline.saturating_add(LEASE_MARGIN_MS),
        });
        let Some(mut raw) = shards::swap_state(st, shard, &raw, &state)? else {
            if read_ahead {
                // The state read ahead is stale (another tick moved it since): read it now.
                return self.visit(shard, None);
            }
            // Another tick took it between our read and our swap.
            self.report.leased += 1;
            return Ok(());
        };
        self.report.shards += 1;
        // Ring keys pulled into `state` but not yet in a saved state: deleted only once one
        // holds them.
        let mut pulled = Vec::new();
        let worked = self.work(shard, &mut state, &mut raw, &mut pulled, ring_counts);
        // Save the progress and release the lease, also after a failure (each position
        // stays before the entry that failed). A lost swap means our lease expired and
        // another tick took the shard: it re-reads what we processed, which is deleted.
        state.lease = None;
        let saved = match &worked {
            Ok(true) | Err(_) => shards::swap_state(st, shard, &raw, &state),
            Ok(false) => Ok(None),
        };
        if let Ok(Some(_)) = saved {
            self.delete_pulled(&mut pulled);
        }
        worked?;
        saved.map(|_| ())
    }

    /// Pulls the ring and serves the ready orgs. `Ok(false)`: the lease was lost on the way
    /// (nothing more to save).
    fn work(
        &mut self,
        shard: u32,
        state: &mut ShardState,
        raw: &mut Vec<u8>,
        pulled: &mut Vec<String>,
        counts: Option<Counts>,
    ) -> Result<bool, StoreError> {
        let pull = self.pull_ring(shard, state, pulled, counts);
        if !pulled.is_empty() {
            // A signal is deleted only once a saved state holds it.
            match shards::swap_state(self.st, shard, raw, state)? {
                Some(bytes) => *raw = bytes,
                None => return Ok(false),
            }
            self.delete_pulled(pulled);
        }
        pull?;
        self.serve(state)?;
        Ok(true)
    }

    fn delete_pulled(&self, pulled: &mut Vec<String>) {
        // A slot left behind is garbage, never a lost signal.
        let _ = self.st.delete_many(pulled);
        pulled.clear();
    }

    /// Takes the signals of the readable ring buckets into the ready list (at most
    /// [`MAX_READY`] orgs); `pulled` gets the keys to delete once the state is saved. A
    /// bucket's count comes from `known` (read ahead from this state's cursor) if there.
    fn pull_ring(
        &mut self,
        shard: u32,
        state: &mut ShardState,
        pulled: &mut Vec<String>,
        known: Option<Counts>,
    ) -> Result<(), StoreError> {
        let st = self.st;
        let last = due::last_readable_bucket(self.settings, st.now_ms());
        let mut buckets = 0;
        while state.ring.bucket <= last {
            if buckets >= self.settings.max_buckets_per_tick || state.ready.len() >= MAX_READY {
                self.report.more = true;
                return Ok(());
            }
            let rb = state.ring.bucket;
            let count_key = keys::due_ring_count(shard, rb);
            let count = match known.as_ref().and_then(|c| c.of(rb)) {
                Some(n) => n,
                None => st.counter_read(&count_key)?,
            };
            while state.ring.done < count {
                if state.ready.len() >= MAX_READY {
                    self.report.more = true;
                    return Ok(());
                }
                let m = state.ring.done + 1;
                let slot = keys::due_ring_slot(shard, rb, m);
                match st.get::<Signal>(&slot) {
                    Ok(Some(sig)) => state.signalled(&sig.value.org, rb),
                    // Elected but never written: its writer died before its entry too (a
                    // signal is written first), and a later entry of that bucket signals
                    // again.
                    Ok(None) => {}
                    // One unreadable signal must not stop the ring forever.
                    Err(e @ StoreError::Corrupt(_)) => self.report.error = Some(e.to_string()),
                    Err(e) => return Err(e),
                }
                pulled.push(slot);
                state.ring.done = m;
            }
            // An empty bucket's counter does not exist (reading it created nothing).
            if count > 0 {
                pulled.push(count_key);
            }
            state.ring = Cursor {
                bucket: rb + 1,
                done: 0,
            };
            buckets += 1;
            self.report.buckets += 1;
        }
        Ok(())
    }

    /// Lets the ready orgs take turns from `state.turn`, each up to `cap / ready orgs`
    /// entries a turn (at least 1, at most [`shards::TURN`]), until the slice's cap, its
    /// end, or no org is left.
    fn serve(&mut self, state: &mut ShardState) -> Result<(), StoreError> {
        let mut processed: u32 = 0;
        let mut idx = if state.ready.is_empty() {
            0
        } else {
            state.turn % state.ready.len()
        };
        let result = loop {
            if state.ready.is_empty() {
                idx = 0;
                break Ok(());
            }
            if processed >= self.slice.cap || self.out_of_time() {
                self.slice.short = processed < self.slice.cap;
                self.report.more = true;
                break Ok(());
            }
            let orgs = u32::try_from(state.ready.len()).unwrap_or(u32::MAX);
            let share = (self.slice.cap / orgs)
                .clamp(1, shards::TURN)
                .min(self.slice.cap - processed);
            match self.serve_org(&mut state.ready[idx], share) {
                Ok((served, drained)) => {
                    processed += served;
                    if drained {
                        state.ready.remove(idx);
                        if idx >= state.ready.len() {
                            idx = 0;
                        }
                    } else {
                        idx = (idx + 1) % state.ready.len();
                    }
                }
                // The org keeps its position before the failed entry and its turn.
                Err(e) => break Err(e),
            }
        };
        state.turn = idx;
        self.slice.served = processed;
        result
    }

    /// Processes up to `want` entries of one org's queue. Returns how many, and whether the
    /// queue is drained through `upto` (the org leaves the ready list).
    fn serve_org(&mut self, r: &mut Ready, want: u32) -> Result<(u32, bool), StoreError> {
        // The slots (and drained buckets' counters) that served their purpose, deleted in
        // one batch call as the turn ends: a slot left behind (a failed delete, a crash) is
        // garbage behind the saved position, never read again as work.
        let mut spent = Vec::new();
        let r = self.serve_entries(r, want, &mut spent);
        let _ = self.st.delete_many(&spent);
        r
    }

    /// The operation records of `entries` (those that name one, in order) in one batch
    /// read, each as `Some(bytes or absent)`; all `None` where batch reads go key by key.
    fn read_operations(
        &self,
        entries: &[Option<Result<DueEntry, StoreError>>],
    ) -> Result<Vec<Option<Option<Vec<u8>>>>, StoreError> {
        let keys: Vec<String> = entries
            .iter()
            .filter_map(|e| e.as_ref()?.as_ref().ok())
            .filter_map(super::operation_key)
            .collect();
        if keys.len() < 2 || !self.st.kv().batch_reads() {
            return Ok(vec![None; keys.len()]);
        }
        // An operation named twice (a late writer's duplicate hint) is read afresh the
        // second time: the first entry may have moved it.
        let mut named = std::collections::HashSet::new();
        Ok(keys
            .iter()
            .zip(self.st.get_many_raw(&keys)?)
            .map(|(key, bytes)| named.insert(key.as_str()).then_some(bytes))
            .collect())
    }

    fn serve_entries(
        &mut self,
        r: &mut Ready,
        want: u32,
        spent: &mut Vec<String>,
    ) -> Result<(u32, bool), StoreError> {
        let st = self.st;
        let mut served = 0;
        loop {
            if r.bucket > r.upto {
                return Ok((served, true));
            }
            if served >= want || self.out_of_time() {
                return Ok((served, false));
            }
            let count_key = keys::due_queue_count(&r.org, r.bucket);
            let count = st.counter_read(&count_key)?;
            while r.done < count {
                if served >= want || self.out_of_time() {
                    return Ok((served, false));
                }
                // The entries this turn may take, in one batch read (at most `TURN`): a slot
                // of a readable bucket is written once, so reading it early changes nothing.
                let upto = count.min(r.done + i64::from(want - served));
                let slots: Vec<String> = (r.done + 1..=upto)
                    .map(|n| keys::due_queue_slot(&r.org, r.bucket, n))
                    .collect();
                let entries: Vec<Option<Result<DueEntry, StoreError>>> = slots
                    .iter()
                    .zip(st.get_many_raw(&slots)?)
                    .map(|(slot, bytes)| {
                        bytes.map(|b| records::decode::<DueEntry>(slot, &b).map(|e| e.value))
                    })
                    .collect();
                // Their operations, in one more batch read where a batch is one call (on
                // a key-by-key store each is read when its turn comes, as before).
                let mut seen = self.read_operations(&entries)?.into_iter();
                for (slot, entry) in slots.into_iter().zip(entries) {
                    if served >= want || self.out_of_time() {
                        return Ok((served, false));
                    }
                    let outcome = match entry {
                        // Elected but not written, or processed and deleted by an earlier
                        // holder.
                        None => Ok(Done::Skipped),
                        Some(entry) => entry.and_then(|e| {
                            let op_seen = super::operation_key(&e).and_then(|_| seen.next());
                            process(st, self.settings, self.sim, &e, op_seen.flatten())
                        }),
                    };
                    let done = match outcome {
                        Ok(d) => d,
                        // One unreadable entry must not stop the queue forever: skip it.
                        Err(e @ StoreError::Corrupt(_)) => {
                            self.report.error = Some(e.to_string());
                            Done::Skipped
                        }
                        Err(e) => return Err(e),
                    };
                    self.report.count(done);
                    spent.push(slot);
                    r.done += 1;
                    served += 1;
                }
            }
            // Bucket drained: a readable bucket gets no new entries, and a holder that
            // re-reads it after a lost save reads 0 (an empty bucket). An empty bucket's
            // counter does not exist.
            if count > 0 {
                spent.push(count_key);
            }
            r.bucket += 1;
            r.done = 0;
        }
    }
}
