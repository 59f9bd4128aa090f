//! The sharded operations index under the advancer: orgs take turns, leases keep replicas
//! apart and expire with their holder, lost signals and states are recovered, a tick keeps
//! to its time budget, and more replicas advance more.

use super::*;
use crate::due::shards::{self, Lease};
use std::cell::{Cell, RefCell};

/// The cron period of the tests: a tick every 2 s.
const PERIOD: i64 = 2_000;

/// The `k`-th org name (`o0`, `o1`, …) that falls in shard `shard` of `shards`.
fn org_in_shard(shard: u32, shards: u32, k: usize) -> String {
    (0..)
        .map(|i| format!("o{i}"))
        .filter(|o| due::shard_of(o, shards) == shard)
        .nth(k)
        .unwrap()
}

/// When the first entry of an operation started at `start` is readable: its bucket (one
/// step later) has ended `skew_ms` ago.
fn readable_at(s: &Settings, start: i64) -> i64 {
    let b = due::bucket_of(s, start + s.step_ms as i64);
    (b + 1) * s.bucket_ms as i64 + s.skew_ms as i64
}

/// Starts `n` gallery copies in org `org` (granted its gallery first).
fn copies(st: &Store<'_>, s: &Settings, org: &str, n: usize) -> Vec<String> {
    grant_in(st, org, "gal-1", &["pi-1"]);
    (0..n)
        .map(|_| start_in(st, s, org, OpKind::CopyFromGallery, "gal-1", 0).0)
        .collect()
}

struct FairRun {
    /// Ticks (one per period) until B's operation first moved, counted from the first tick
    /// at which its entry was readable (1: that very tick).
    first_move_tick: usize,
    /// Time from start until B's operation settled.
    settled_ms: i64,
    /// A's operations never moved when B's settled.
    a_untouched: usize,
}

/// Org A queues `burst` copies in shard 0, then org B one copy in shard `b_shard`.
fn fair_run(s: &Settings, burst: usize, b_shard: u32) -> FairRun {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let a = org_in_shard(0, s.due_shards, 0);
    let b = org_in_shard(b_shard, s.due_shards, 1);
    let a_ops = copies(&st, s, &a, burst);
    let b_op = copies(&st, s, &b, 1).remove(0);
    let readable = readable_at(s, T0);
    let mut ticks_since_readable = 0;
    let mut first_move_tick = None;
    // Every store call takes 1 ms, so the time budget, not the cap, ends a busy tick, as
    // on a real runtime.
    let slow = slow(&kv, &env, 1);
    for _ in 0..200 {
        env.advance_ms(PERIOD);
        let r = tick(&Store::new(&slow, &env), s, s.tick_cap);
        assert_eq!(r.error, None);
        if env.now_ms() >= readable {
            ticks_since_readable += 1;
        }
        let o = op_in(&st, &b, &b_op);
        if o.seq > 0 && first_move_tick.is_none() {
            first_move_tick = Some(ticks_since_readable);
        }
        if o.status.is_terminal() {
            assert_eq!(o.status, OpStatus::Succeeded);
            assert_no_transition_twice(&o);
            let a_untouched = a_ops
                .iter()
                .filter(|id| op_in(&st, &a, id).seq == 0)
                .count();
            return FairRun {
                first_move_tick: first_move_tick.unwrap(),
                settled_ms: env.now_ms() - T0,
                a_untouched,
            };
        }
    }
    panic!("B never settled");
}

/// Issue 12's case: 2 000 gallery copies of one org queued before another org's one, in
/// the same shard. The other org's copy moves in the first tick that can see it and settles
/// within two ticks of how long it takes alone, while the burst is still mostly queued.
#[test]
fn an_orgs_burst_holds_another_orgs_work_back_by_two_ticks_at_most() {
    let s = Settings::default();
    let alone = fair_run(&s, 0, 0);
    let crowded = fair_run(&s, 2_000, 0);
    assert_eq!(alone.first_move_tick, 1);
    assert_eq!(crowded.first_move_tick, 1, "B waited behind A's burst");
    assert!(
        crowded.settled_ms <= alone.settled_ms + 2 * PERIOD,
        "B settled in {} ms, {} ms alone",
        crowded.settled_ms,
        alone.settled_ms
    );
    assert!(
        crowded.a_untouched > 1_500,
        "A's backlog: {} untouched",
        crowded.a_untouched
    );
}

/// In another shard than the burst, B is not even slowed by a tick: each shard gets its
/// share of the time budget (and its own cap), so the burst's shard cannot spend the tick
/// before B's shard is visited, whichever is visited first.
#[test]
fn an_orgs_burst_in_another_shard_does_not_slow_an_org_down() {
    let s = Settings::default();
    let alone = fair_run(&s, 0, 1);
    let crowded = fair_run(&s, 2_000, 1);
    assert_eq!(crowded.first_move_tick, 1);
    // The same ticks; only the (fake) time the burst's store calls take differs.
    assert!(
        crowded.settled_ms < alone.settled_ms + PERIOD,
        "B settled in {} ms, {} ms alone",
        crowded.settled_ms,
        alone.settled_ms
    );
    assert!(crowded.a_untouched > 1_500);
}

/// Turns rotate: with more ready orgs than the cap, each tick starts where the last one
/// stopped, so every org moves within a few ticks.
#[test]
fn with_more_orgs_than_the_cap_every_org_gets_its_turn() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let orgs: Vec<String> = (0..12).map(|i| format!("org-{i}")).collect();
    let ids: Vec<(String, Vec<String>)> = orgs
        .iter()
        .map(|o| (o.clone(), copies(&st, &s, o, 3)))
        .collect();
    env.advance_ms(readable_at(&s, T0) - T0);
    // A cap of 4 entries a tick: each org takes one entry a turn.
    for _ in 0..3 {
        let r = tick(&st, &s, 4);
        assert_eq!(r.advanced, 4);
    }
    for (org, ops) in &ids {
        assert!(
            ops.iter().any(|id| op_in(&st, org, id).seq > 0),
            "{org} never had a turn"
        );
    }
}

/// The ready list is bounded: past `MAX_READY` orgs the ring waits, and every org is
/// reached later.
#[test]
fn the_ready_list_is_bounded_and_the_crowd_beyond_it_is_reached_later() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let n = due::MAX_READY + 6;
    let ids: Vec<(String, String)> = (0..n)
        .map(|i| {
            let org = format!("org-{i}");
            let id = copies(&st, &s, &org, 1).remove(0);
            (org, id)
        })
        .collect();
    env.advance_ms(readable_at(&s, T0) - T0);
    let r = tick(&st, &s, 10);
    assert!(r.more);
    let (state, _) = shards::read_state(&st, 0).unwrap().unwrap();
    assert!(state.ready.len() <= due::MAX_READY, "{}", state.ready.len());
    while tick(&st, &s, 10).more {}
    for (org, id) in &ids {
        assert!(op_in(&st, org, id).seq > 0, "{org} was never reached");
    }
}

/// Puts a lease of a tick that died into shard `shard`'s state.
fn dead_lease(st: &Store<'_>, shard: u32, until: i64) {
    let (mut state, raw) = shards::read_state(st, shard).unwrap().unwrap();
    state.lease = Some(Lease {
        holder: "tick-dead".into(),
        until,
    });
    assert!(
        shards::swap_state(st, shard, &raw, &state)
            .unwrap()
            .is_some()
    );
}

#[test]
fn a_dead_holders_shard_waits_for_its_lease_to_expire_then_is_taken_over() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let id = copies(&st, &s, ORG, 1).remove(0);
    env.advance_ms(readable_at(&s, T0) - T0);
    let until = env.now_ms() + s.tick_budget_ms as i64 + due::LEASE_MARGIN_MS;
    dead_lease(&st, 0, until);
    let r = tick(&st, &s, s.tick_cap);
    assert_eq!((r.leased, r.shards, r.advanced), (1, 0, 0));
    assert_eq!(op(&st, &id).seq, 0);
    // Within two cron periods the lease has expired and the next tick takes the shard.
    env.advance_ms(2 * PERIOD);
    let r = tick(&st, &s, s.tick_cap);
    assert_eq!((r.leased, r.shards, r.advanced), (0, 1, 1));
    let (state, _) = shards::read_state(&st, 0).unwrap().unwrap();
    assert_eq!(state.lease, None, "released after the tick");
}

/// A store that runs `hook` once, at the first read of an org queue's counter (so while
/// the first tick holds a shard's lease and works it).
fn in_shard<'a>(inner: &'a MemoryKv, hook: impl FnOnce() + 'a) -> Hooked<'a, impl Fn(Call, &str)> {
    let hook = RefCell::new(Some(hook));
    Hooked {
        inner,
        before: move |call, k| {
            if call == Call::Increment
                && k.starts_with("due/q/")
                && let Some(hook) = hook.borrow_mut().take()
            {
                hook();
            }
        },
    }
}

/// Two replicas at once: while the first works a shard, the second skips that shard and
/// works the other one. Every operation moves exactly once between them.
#[test]
fn replicas_ticking_together_work_different_shards_and_never_the_same_one() {
    let s = Settings {
        due_shards: 2,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let orgs = [org_in_shard(0, 2, 0), org_in_shard(1, 2, 0)];
    let ids: Vec<(String, String)> = orgs
        .iter()
        .flat_map(|o| copies(&st, &s, o, 5).into_iter().map(|id| (o.clone(), id)))
        .collect();
    env.advance_ms(readable_at(&s, T0) - T0);
    let second = Cell::new(None);
    let kv1 = in_shard(&kv, || {
        second.set(Some(tick(&Store::new(&kv, &env), &s, s.tick_cap)));
    });
    let first = tick(&Store::new(&kv1, &env), &s, s.tick_cap);
    let second = second.take().expect("the second replica ticked");
    assert_eq!((second.leased, second.shards), (1, 1), "{second:?}");
    assert_eq!(second.advanced, 5, "the other shard's five");
    assert_eq!(first.advanced, 5, "{first:?}");
    for (org, id) in &ids {
        let o = op_in(&st, org, id);
        assert_eq!(o.seq, 1, "{org}/{id} moved once");
        assert_no_transition_twice(&o);
    }
}

/// The scaling proxy: within one cron period (the clock stands still), each replica that
/// ticks takes up to `cap` entries from every shard, so the transitions of a period grow
/// with the replicas until the due work runs out.
#[test]
fn transitions_per_period_grow_with_the_replicas() {
    let shards = 4u32;
    let s = Settings {
        due_shards: shards,
        ..Settings::default()
    };
    let cap = 10;
    let per_period = |replicas: u32| -> u32 {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
        let st = Store::new(&kv, &env);
        for shard in 0..shards {
            copies(&st, &s, &org_in_shard(shard, shards, 0), 100);
        }
        env.advance_ms(readable_at(&s, T0) - T0);
        (0..replicas)
            .map(|_| {
                let r = tick(&Store::new(&kv, &env), &s, cap);
                assert_eq!(r.error, None);
                r.advanced
            })
            .sum()
    };
    let counts: Vec<u32> = [1, 2, 4].into_iter().map(per_period).collect();
    assert_eq!(counts, vec![40, 80, 160]);
}

/// A store whose every call takes `ms` of (fake) time.
fn slow<'a>(inner: &'a MemoryKv, env: &'a FakeEnv, ms: i64) -> Hooked<'a, impl Fn(Call, &str)> {
    Hooked {
        inner,
        before: move |_, _| env.advance_ms(ms),
    }
}

/// A slow store: the tick stops at its time budget, not at its cap, saves what it did and
/// releases the shard; the next ticks carry on.
#[test]
fn a_tick_keeps_to_its_time_budget_and_the_next_ones_carry_on() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let ids = copies(&Store::new(&kv, &env), &s, ORG, 300);
    env.advance_ms(readable_at(&s, T0) - T0);
    let slow = slow(&kv, &env, 5);
    let start = env.now_ms();
    let r = tick(&Store::new(&slow, &env), &s, 10_000);
    let spent = env.now_ms() - start;
    assert!(r.more && r.advanced > 0 && r.advanced < 300, "{r:?}");
    // Past the budget by at most one transition, the save, and the (idle) cursor lanes.
    assert!(
        spent < s.tick_budget_ms as i64 + 300,
        "{spent} ms for {r:?}"
    );
    let (state, _) = shards::read_state(&Store::new(&kv, &env), 0)
        .unwrap()
        .unwrap();
    assert_eq!(state.lease, None);
    let mut advanced = r.advanced;
    for _ in 0..20 {
        env.advance_ms(PERIOD);
        advanced += tick(&Store::new(&slow, &env), &s, 10_000).advanced;
    }
    assert!(advanced >= 300, "{advanced}");
    for id in &ids {
        assert!(op(&Store::new(&kv, &env), id).seq > 0);
    }
}

/// The elector of an org bucket's slot 1 died before writing anything (neither signal nor
/// entry): the later entries of that bucket signal themselves and are found.
#[test]
fn entries_after_a_dead_first_elector_are_still_found() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let b = due::bucket_of(&s, T0 + s.step_ms as i64);
    assert_eq!(st.counter_next(&keys::due_queue_count(ORG, b)).unwrap(), 1);
    let ids = copies(&st, &s, ORG, 2);
    env.advance_ms(readable_at(&s, T0) - T0);
    let r = tick(&st, &s, s.tick_cap);
    assert_eq!((r.advanced, r.skipped), (2, 1), "{r:?}");
    for id in &ids {
        assert_eq!(op(&st, id).seq, 1);
    }
}

/// A ring slot elected and never written (its writer died) is passed over; the signals
/// after it are pulled.
#[test]
fn a_ring_slot_never_written_is_passed_over() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let b = due::bucket_of(&s, T0 + s.step_ms as i64);
    st.counter_next(&keys::due_ring_count(0, b)).unwrap();
    let id = copies(&st, &s, ORG, 1).remove(0);
    env.advance_ms(readable_at(&s, T0) - T0);
    assert_eq!(tick(&st, &s, s.tick_cap).advanced, 1);
    assert_eq!(op(&st, &id).seq, 1);
    // Nothing of that bucket is left: slots and counters are gone.
    assert!(
        !kv.keys()
            .iter()
            .any(|k| k.starts_with(&format!("due/r/0/{b}/"))),
        "{:?}",
        kv.keys()
    );
}

/// The elected creator of a shard's state died between election and write: after a
/// recovery period of sightings a tick re-creates it, far enough back to find the entries
/// scheduled meanwhile.
#[test]
fn a_shard_state_whose_creator_died_is_recreated_and_nothing_is_lost() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    assert_eq!(st.counter_next(&keys::due_shard_claim(0)).unwrap(), 1);
    let id = copies(&st, &s, ORG, 1).remove(0);
    assert!(shards::read_state(&st, 0).unwrap().is_none());
    let mut moved_at = None;
    for _ in 0..200 {
        env.advance_ms(PERIOD);
        tick(&st, &s, s.tick_cap);
        if op(&st, &id).seq > 0 {
            moved_at = Some(env.now_ms() - T0);
            break;
        }
    }
    let moved_at = moved_at.expect("the operation never moved");
    assert!(
        moved_at <= 2 * shards::RECOVERY_PERIOD_MS + 2 * PERIOD,
        "{moved_at}"
    );
    assert!(shards::read_state(&st, 0).unwrap().is_some());
}

/// Operations scheduled before the shards, in the legacy lane, still advance; their next
/// entries go to the shards.
#[test]
fn legacy_lane_operations_still_advance_and_move_to_the_shards() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let st = Store::new(&kv, &env);
    let id = copies(&st, &s, ORG, 1).remove(0);
    // Stand for an entry written by the code before the shards: move it to the legacy lane.
    let b = due::bucket_of(&s, T0 + s.step_ms as i64);
    kv.delete(&keys::due_queue_slot(ORG, b, 1)).unwrap();
    due::schedule_in_lane(
        &st,
        &s,
        due::Lane::Operations,
        T0 + s.step_ms as i64,
        &DueKind::Operation {
            org: ORG.into(),
            id: id.clone(),
        },
    )
    .unwrap();
    let elapsed = settle(&kv, &env, &s, &id);
    assert!(elapsed < 60_000);
    let o = op(&st, &id);
    assert_eq!(o.status, OpStatus::Succeeded);
    assert_no_transition_twice(&o);
    // The legacy lane is empty once its bucket has been passed: only its cursor is left.
    let legacy: Vec<String> = kv
        .keys()
        .into_iter()
        .filter(|k| {
            k.strip_prefix("due/")
                .and_then(|rest| rest.split('/').next())
                .is_some_and(|b| b.parse::<i64>().is_ok())
        })
        .collect();
    assert!(legacy.is_empty(), "{legacy:?}");
}

/// Shares of the budget cost a lone busy shard nothing: the idle shards' shares and the
/// second pass give it about the whole budget, as if it were the only shard.
#[test]
fn a_lone_busy_shard_gets_about_the_whole_budget() {
    let advanced = |shards: u32| {
        let s = Settings {
            due_shards: shards,
            ..Settings::default()
        };
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
        copies(
            &Store::new(&kv, &env),
            &s,
            &org_in_shard(0, shards, 0),
            1_000,
        );
        env.advance_ms(readable_at(&s, T0) - T0);
        let slow = slow(&kv, &env, 1);
        tick(&Store::new(&slow, &env), &s, s.tick_cap).advanced
    };
    let (alone, among_four) = (advanced(1), advanced(4));
    assert!(alone > 20, "{alone}");
    assert!(
        among_four * 10 >= alone * 9,
        "{among_four} transitions in a tick among 4 shards, {alone} as the only one"
    );
}

/// The store calls of one tick, as `op key` lines.
fn tick_calls(kv: &dyn KeyValue, env: &FakeEnv, s: &Settings) -> (TickReport, Vec<String>) {
    let log = RefCell::new(Vec::new());
    let hooked = Hooked {
        inner: kv,
        before: |call: Call, k: &str| log.borrow_mut().push(format!("{} {k}", call.name())),
    };
    let r = tick(&Store::new(&hooked, env), s, s.tick_cap);
    (r, log.into_inner())
}

/// An org's turn reads its entries in one batch, their operations in one more, and deletes
/// the spent entries and the drained bucket's counter in one call; none is left behind.
#[test]
fn a_turn_reads_its_operations_in_one_batch_and_deletes_its_entries_in_one_call() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let ids = copies(&Store::new(&kv, &env), &s, ORG, 5);
    env.advance_ms(readable_at(&s, T0) - T0);
    let (r, calls) = tick_calls(&kv, &env, &s);
    assert_eq!(r.advanced, 5, "{calls:#?}");
    let op_reads: Vec<&String> = calls.iter().filter(|c| c.contains("/op/")).collect();
    let batch = op_reads
        .iter()
        .filter(|c| c.starts_with("get_many "))
        .collect::<Vec<_>>();
    assert_eq!(batch.len(), 1, "{op_reads:#?}");
    assert_eq!(batch[0].split(',').count(), 5, "{}", batch[0]);
    assert!(
        !op_reads.iter().any(|c| c.starts_with("get ")),
        "{op_reads:#?}"
    );
    let deletes: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("delete") && c.contains("due/q/"))
        .collect();
    assert_eq!(deletes.len(), 1, "{deletes:#?}");
    let spent = deletes[0]
        .strip_prefix("delete_many ")
        .unwrap_or_else(|| panic!("{deletes:#?}"));
    // Five slots and the bucket's counter, all gone.
    let spent: Vec<&str> = spent.split(',').collect();
    assert_eq!(spent.len(), 6, "{spent:?}");
    assert!(spent.iter().all(|k| kv.get(k).unwrap().is_none()));
    for id in &ids {
        assert_eq!(op(&Store::new(&kv, &env), id).seq, 1);
    }
}

/// Where a batch read goes key by key (Spin's Redis), each operation is read on its turn:
/// reading them ahead would cost the same calls and risk reading them for nothing.
#[test]
fn on_a_key_by_key_store_a_turn_reads_each_operation_on_its_turn() {
    let s = Settings {
        due_shards: 1,
        ..Settings::default()
    };
    let (kv, env) = (MemoryKv::without_batch_reads(), FakeEnv::at(T0));
    copies(&Store::new(&kv, &env), &s, ORG, 3);
    env.advance_ms(readable_at(&s, T0) - T0);
    let (r, calls) = tick_calls(&kv, &env, &s);
    assert_eq!(r.advanced, 3);
    let op_gets = calls
        .iter()
        .filter(|c| c.starts_with("get ") && c.contains("/op/"))
        .count();
    assert_eq!(op_gets, 3, "{calls:#?}");
}
