//! Races and failures: a second advancer cutting in at any store call, transient errors
//! anywhere, concurrent threads; none may double a transition or lose one.

use super::*;

/// A store that, at its `at`-th call, runs a whole tick of a second advancer in between
/// (another replica acting between two calls of the first).
struct Interleaved<'a> {
    inner: &'a dyn KeyValue,
    env: &'a FakeEnv,
    settings: &'a Settings,
    calls: std::cell::Cell<u64>,
    at: u64,
    busy: std::cell::Cell<bool>,
}

impl Interleaved<'_> {
    fn maybe_race(&self) {
        let c = self.calls.get() + 1;
        self.calls.set(c);
        if c == self.at && !self.busy.replace(true) {
            // The other replica ticks, time passes, it ticks again: it may move the
            // operation twice while the first advancer is in the middle of one move.
            tick(
                &Store::new(self.inner, self.env),
                self.settings,
                self.settings.tick_cap,
            );
            let s = self.settings;
            self.env
                .advance_ms((s.step_ms + s.bucket_ms + s.skew_ms) as i64);
            tick(
                &Store::new(self.inner, self.env),
                self.settings,
                self.settings.tick_cap,
            );
        }
    }
}

impl<'a> Interleaved<'a> {
    /// The store the first advancer uses: every call goes through [`Self::maybe_race`].
    fn store(&'a self) -> Hooked<'a, impl Fn(Call, &str) + 'a> {
        Hooked {
            inner: self.inner,
            before: move |_, _| self.maybe_race(),
        }
    }
}

/// Runs a copy to its end with a second advancer cutting in at store call `at` of every
/// tick of the first; returns the final operation and version.
fn interleaved_run(base: &dyn KeyValue, at: u64) -> (Operation, Version) {
    let (env, s) = (FakeEnv::at(T0), Settings::default());
    grant(&Store::new(base, &env), "gal-1", &["pi-1"]);
    let (id, _, ver, _) = start_on_new_version(
        &Store::new(base, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    for _ in 0..120 {
        env.advance_ms(1000);
        let kv = Interleaved {
            inner: base,
            env: &env,
            settings: &s,
            calls: std::cell::Cell::new(0),
            at,
            busy: std::cell::Cell::new(false),
        };
        tick(&Store::new(&kv.store(), &env), &s, s.tick_cap);
        if op(&Store::new(base, &env), &id).status.is_terminal() {
            break;
        }
    }
    (
        op(&Store::new(base, &env), &id),
        version(&Store::new(base, &env), &ver).unwrap(),
    )
}

fn check_interleaved(make: impl Fn() -> Box<dyn KeyValue>) {
    let reference = interleaved_run(make().as_ref(), u64::MAX);
    let steps = |o: &Operation| -> Vec<(String, u32, Event)> {
        o.history
            .iter()
            .map(|h| (h.step.clone(), h.attempt, h.event))
            .collect()
    };
    for at in 1..40 {
        let (o, v) = interleaved_run(make().as_ref(), at);
        assert_eq!(o.status, OpStatus::Succeeded, "race at call {at}");
        assert_no_transition_twice(&o);
        assert_eq!(steps(&o), steps(&reference.0), "race at call {at}");
        assert_eq!(v.status, VersionStatus::Available, "race at call {at}");
        let shown: Vec<_> = v.status_history.iter().map(|e| e.status).collect();
        let want: Vec<_> = reference
            .1
            .status_history
            .iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(shown, want, "race at call {at}");
    }
}

#[test]
fn two_advancers_interleaved_never_double_advance_nor_lose_a_transition() {
    check_interleaved(|| Box::new(MemoryKv::new()));
}

#[test]
fn two_advancers_interleaved_on_redis_semantics() {
    check_interleaved(|| Box::new(MemoryKv::with_redis_cas_quirk()));
}

#[test]
fn transient_failures_anywhere_never_double_advance_nor_lose_a_transition() {
    for seed in 1..40u64 {
        let kv = FlakyKv::redis_quirk();
        let (env, s) = (FakeEnv::at(T0), Settings::default());
        grant(&Store::new(&kv.inner, &env), "gal-1", &["pi-1"]);
        let (id, _, ver, _) = start_on_new_version(
            &Store::new(&kv.inner, &env),
            &s,
            OpKind::CopyFromGallery,
            "gal-1",
            0,
        );
        kv.fail_rate(150, seed);
        for _ in 0..300 {
            env.advance_ms(1000);
            tick(&Store::new(&kv, &env), &s, s.tick_cap);
            if op(&Store::new(&kv.inner, &env), &id).status.is_terminal() {
                break;
            }
        }
        let o = op(&Store::new(&kv.inner, &env), &id);
        assert_eq!(o.status, OpStatus::Succeeded, "seed {seed}: {o:?}");
        assert_no_transition_twice(&o);
        assert_eq!(
            version(&Store::new(&kv.inner, &env), &ver).unwrap().status,
            VersionStatus::Available
        );
    }
}

#[test]
fn concurrent_advancer_threads_agree() {
    let kv = MemoryKv::with_redis_cas_quirk();
    let env = SharedEnv::at(T0);
    let s = Settings::default();
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let ids: Vec<String> = (0..20)
        .map(|_| {
            start_on_new_version(
                &Store::new(&kv, &env),
                &s,
                OpKind::CopyFromGallery,
                "gal-1",
                0,
            )
            .0
        })
        .collect();
    for _ in 0..60 {
        env.advance_ms(1000);
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| tick(&Store::new(&kv, &env), &s, s.tick_cap));
            }
        });
    }
    for id in &ids {
        let o = op(&Store::new(&kv, &env), id);
        assert_eq!(o.status, OpStatus::Succeeded);
        assert_no_transition_twice(&o);
    }
}

#[test]
fn the_same_seed_gives_the_same_outcomes() {
    let run = |seed: u64| -> Vec<OpStatus> {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
        let sim = Simulation {
            seed,
            failure_rate: 0.3,
            max_attempts: Some(1),
            ..Simulation::default()
        };
        Store::new(&kv, &env)
            .put_new(&keys::simulation(), &sim)
            .unwrap();
        let ids: Vec<String> = (0..12)
            .map(|_| {
                start_on_new_version(
                    &Store::new(&kv, &env),
                    &s,
                    OpKind::CopyFromGallery,
                    "gal-1",
                    0,
                )
                .0
            })
            .collect();
        for _ in 0..60 {
            env.advance_ms(1000);
            tick(&Store::new(&kv, &env), &s, 100);
        }
        ids.iter()
            .map(|id| op(&Store::new(&kv, &env), id).status)
            .collect()
    };
    let a = run(42);
    assert_eq!(a, run(42));
    assert!(a.contains(&OpStatus::Failed) && a.contains(&OpStatus::Succeeded));
}

/// Starts two gallery copies in each of three orgs spread over two shards.
fn spread_copies(st: &Store<'_>, s: &Settings) -> Vec<(String, String)> {
    ["o-a", "o-b", "o-c"]
        .iter()
        .flat_map(|org| {
            grant_in(st, org, "gal-1", &["pi-1"]);
            (0..2)
                .map(|_| {
                    let id = start_in(st, s, org, OpKind::CopyFromGallery, "gal-1", 0).0;
                    ((*org).to_owned(), id)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A store whose call number `at` (from 1) and its retries fail: the failure reaches the
/// tick, whatever it was doing (reading a state, taking a lease, pulling the ring, a
/// transition, deleting a slot, saving).
struct FailAt<'a> {
    inner: &'a MemoryKv,
    calls: std::cell::Cell<u64>,
    at: u64,
}

impl FailAt<'_> {
    fn count(&self) {
        let c = self.calls.get() + 1;
        self.calls.set(c);
        if c == self.at {
            self.inner.fail_next(crate::records::STORE_ATTEMPTS);
        }
    }
}

impl KeyValue for FailAt<'_> {
    fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.count();
        self.inner.get(k)
    }
    fn set(&self, k: &str, v: &[u8]) -> Result<(), StoreError> {
        self.count();
        self.inner.set(k, v)
    }
    fn delete(&self, k: &str) -> Result<(), StoreError> {
        self.count();
        self.inner.delete(k)
    }
    fn increment(&self, k: &str, d: i64) -> Result<i64, StoreError> {
        self.count();
        self.inner.increment(k, d)
    }
    fn compare_and_swap(
        &self,
        k: &str,
        e: &[u8],
        n: &[u8],
    ) -> Result<crate::store::CasOutcome, StoreError> {
        self.count();
        self.inner.compare_and_swap(k, e, n)
    }
}

type Steps = Vec<(String, u32, Event)>;

/// Catches the advancer up, then checks nothing of the due index is left but its positions.
fn assert_index_is_only_positions(kv: &MemoryKv, env: &dyn Env, s: &Settings) {
    let st = Store::new(kv, env);
    while tick(&st, s, s.tick_cap).more {}
    let positions = due::position_keys(s);
    let left: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("due/") && !positions.contains(k))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Six copies over two shards; the first busy tick fails at store call `at`, then ticks run
/// on a sound store until everything settles. Returns each operation's steps, and how many
/// store calls the first tick made.
fn failing_tick_run(at: u64) -> (Vec<Steps>, u64) {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let s = Settings {
        due_shards: 2,
        ..Settings::default()
    };
    let ids = spread_copies(&Store::new(&kv, &env), &s);
    env.advance_ms(s.step_ms as i64 + s.bucket_ms as i64 + s.skew_ms as i64);
    let failing = FailAt {
        inner: &kv,
        calls: std::cell::Cell::new(0),
        at,
    };
    tick(&Store::new(&failing, &env), &s, s.tick_cap);
    let calls = failing.calls.get();
    for _ in 0..120 {
        env.advance_ms(1000);
        tick(&Store::new(&kv, &env), &s, s.tick_cap);
        if ids
            .iter()
            .all(|(org, id)| op_in(&Store::new(&kv, &env), org, id).status.is_terminal())
        {
            break;
        }
    }
    if at == u64::MAX {
        // (A failed delete leaves its key behind by design: garbage, never a loss.)
        env.advance_ms(10_000);
        assert_index_is_only_positions(&kv, &env, &s);
    }
    let steps = ids
        .iter()
        .map(|(org, id)| {
            let o = op_in(&Store::new(&kv, &env), org, id);
            assert_eq!(o.status, OpStatus::Succeeded, "fail at {at}: {o:?}");
            assert_no_transition_twice(&o);
            o.history
                .iter()
                .map(|h| (h.step.clone(), h.attempt, h.event))
                .collect()
        })
        .collect();
    (steps, calls)
}

#[test]
fn a_store_failing_at_any_call_of_a_shard_tick_loses_nothing() {
    let (reference, calls) = failing_tick_run(u64::MAX);
    assert!(calls > 50, "the first tick works the shards: {calls} calls");
    for at in 1..=calls {
        let (steps, _) = failing_tick_run(at);
        assert_eq!(steps, reference, "fail at call {at}");
    }
}

#[test]
fn transient_failures_over_many_orgs_and_shards_never_double_nor_lose_a_transition() {
    for seed in 1..20u64 {
        let kv = FlakyKv::redis_quirk();
        let env = FakeEnv::at(T0);
        let s = Settings {
            due_shards: 2,
            ..Settings::default()
        };
        let ids = spread_copies(&Store::new(&kv.inner, &env), &s);
        kv.fail_rate(150, seed);
        for _ in 0..300 {
            env.advance_ms(1000);
            tick(&Store::new(&kv, &env), &s, s.tick_cap);
            if ids.iter().all(|(org, id)| {
                op_in(&Store::new(&kv.inner, &env), org, id)
                    .status
                    .is_terminal()
            }) {
                break;
            }
        }
        for (org, id) in &ids {
            let o = op_in(&Store::new(&kv.inner, &env), org, id);
            assert_eq!(o.status, OpStatus::Succeeded, "seed {seed}: {o:?}");
            assert_no_transition_twice(&o);
        }
    }
}

/// Six copies over two shards; in the first busy tick a second advancer cuts in at store
/// call `at` (it ticks, time passes beyond the first one's lease, it ticks again), then
/// ticks run alone until everything settles. Returns each operation's steps and the calls
/// of the first tick.
fn interleaved_shards_run(base: &MemoryKv, at: u64) -> (Vec<Steps>, u64) {
    let env = FakeEnv::at(T0);
    let s = Settings {
        due_shards: 2,
        ..Settings::default()
    };
    let ids = spread_copies(&Store::new(base, &env), &s);
    env.advance_ms(s.step_ms as i64 + s.bucket_ms as i64 + s.skew_ms as i64);
    let kv = Interleaved {
        inner: base,
        env: &env,
        settings: &s,
        calls: std::cell::Cell::new(0),
        at,
        busy: std::cell::Cell::new(false),
    };
    tick(&Store::new(&kv.store(), &env), &s, s.tick_cap);
    let calls = kv.calls.get();
    for _ in 0..120 {
        env.advance_ms(1000);
        tick(&Store::new(base, &env), &s, s.tick_cap);
        if ids
            .iter()
            .all(|(org, id)| op_in(&Store::new(base, &env), org, id).status.is_terminal())
        {
            break;
        }
    }
    if at == u64::MAX {
        // Undisturbed, nothing of the index is left once caught up. (With a replica cut
        // in, the first one may resume mid-schedule seconds later, far beyond the skew the
        // index tolerates, and write a hint into a bucket already passed: garbage, though
        // never a lost transition, since its own entry is re-read by the replica that took
        // its shard over, as the steps show.)
        env.advance_ms(10_000);
        assert_index_is_only_positions(base, &env, &s);
    }
    let steps = ids
        .iter()
        .map(|(org, id)| {
            let o = op_in(&Store::new(base, &env), org, id);
            assert_eq!(o.status, OpStatus::Succeeded, "race at {at}: {o:?}");
            assert_no_transition_twice(&o);
            o.history
                .iter()
                .map(|h| (h.step.clone(), h.attempt, h.event))
                .collect()
        })
        .collect();
    (steps, calls)
}

/// The second advancer cuts in at every call of the first one's busy tick, so also after
/// the first one's lease has expired and while it still works: the second takes the shard
/// over, and the first one's late save is refused. Nothing doubled, nothing lost.
#[test]
fn a_replica_cutting_in_at_any_call_of_a_shard_tick_doubles_and_loses_nothing() {
    for make in [MemoryKv::new, MemoryKv::with_redis_cas_quirk] {
        let (reference, calls) = interleaved_shards_run(&make(), u64::MAX);
        for at in 1..=calls {
            let (steps, _) = interleaved_shards_run(&make(), at);
            assert_eq!(steps, reference, "race at call {at}");
        }
    }
}

#[test]
fn concurrent_advancer_threads_over_many_shards_agree() {
    let kv = MemoryKv::with_redis_cas_quirk();
    let env = SharedEnv::at(T0);
    let s = Settings::default();
    let ids: Vec<(String, String)> = (0..12)
        .flat_map(|i| {
            let org = format!("org-{i}");
            grant_in(&Store::new(&kv, &env), &org, "gal-1", &["pi-1"]);
            (0..3)
                .map(|_| {
                    let st = Store::new(&kv, &env);
                    let id = start_in(&st, &s, &org, OpKind::CopyFromGallery, "gal-1", 0).0;
                    (org.clone(), id)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for _ in 0..60 {
        env.advance_ms(1000);
        std::thread::scope(|sc| {
            for _ in 0..3 {
                sc.spawn(|| tick(&Store::new(&kv, &env), &s, s.tick_cap));
            }
        });
    }
    for (org, id) in &ids {
        let o = op_in(&Store::new(&kv, &env), org, id);
        assert_eq!(o.status, OpStatus::Succeeded, "{o:?}");
        assert_no_transition_twice(&o);
    }
    env.advance_ms(10_000);
    assert_index_is_only_positions(&kv, &env, &s);
}

/// A door that stalls inside its scheduling (a busy store, a paused host) while a tick reads
/// the very bucket it elected: the operation must still be advanced (due.rs, "Late
/// writers"). The stall is cut in at each store call of starting an operation.
#[test]
fn a_door_stalled_past_its_bucket_loses_no_operation() {
    let mut calls_seen = 0;
    for at in 1..40u64 {
        let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
        grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
        let calls = std::cell::Cell::new(0u64);
        let door = crate::testutil::Hooked {
            inner: &kv,
            before: |_, _| {
                calls.set(calls.get() + 1);
                if calls.get() == at {
                    // The door stalls a whole step past its bucket; a replica ticks then.
                    env.advance_ms((s.step_ms + s.bucket_ms + s.skew_ms) as i64);
                    tick(&Store::new(&kv, &env), &s, s.tick_cap);
                }
            },
        };
        let (id, ..) = start_on_new_version(
            &Store::new(&door, &env),
            &s,
            OpKind::CopyFromGallery,
            "gal-1",
            0,
        );
        calls_seen = calls_seen.max(calls.get());
        for _ in 0..120 {
            env.advance_ms(1000);
            tick(&Store::new(&kv, &env), &s, s.tick_cap);
        }
        assert_eq!(
            op(&Store::new(&kv, &env), &id).status,
            OpStatus::Succeeded,
            "stall at call {at}"
        );
    }
    assert!(
        calls_seen < 40,
        "starting an operation made {calls_seen} calls"
    );
}
