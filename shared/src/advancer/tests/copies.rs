//! What a transition costs on a version's copies: each copy it moves is read and swapped
//! once, and a transition shown again (as a replica that lost the race to it does) writes
//! none.

use super::*;

/// The calls `f` makes on copies (asset records), in order.
fn asset_calls(kv: &MemoryKv, env: &FakeEnv, f: &dyn Fn(&Store<'_>)) -> Vec<Call> {
    let calls = std::cell::RefCell::new(Vec::new());
    let h = Hooked {
        inner: kv as &dyn KeyValue,
        before: |c: Call, k: &str| {
            if k.contains("/asset/") {
                calls.borrow_mut().push(c);
            }
        },
    };
    f(&Store::new(&h, env));
    calls.into_inner()
}

/// Ticks `id` to its end; for each transition, what it did to the copies and what showing
/// it again did.
fn each_transition(
    kv: &MemoryKv,
    env: &FakeEnv,
    s: &Settings,
    id: &str,
) -> Vec<(u32, Vec<Call>, Vec<Call>)> {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let before = op(&Store::new(kv, env), id);
        if before.status.is_terminal() {
            break;
        }
        env.advance_ms(1000);
        let moved = asset_calls(kv, env, &|st| {
            tick(st, s, s.tick_cap);
        });
        let after = op(&Store::new(kv, env), id);
        if after.seq != before.seq {
            let again = asset_calls(kv, env, &|st| {
                crate::advancer::projection::project(st, &after).unwrap()
            });
            seen.push((after.seq, moved, again));
        }
    }
    seen
}

fn writes(calls: &[Call]) -> usize {
    calls
        .iter()
        .filter(|c| matches!(c, Call::Set | Call::Swap))
        .count()
}

/// A publish to the most replicas a version may have: its copies end right, and a
/// transition shown again writes no copy: a projection reads the copies in one batch and
/// swaps only those it changes.
#[test]
fn a_transition_writes_only_the_copies_it_moves() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    let n = crate::catalog::MAX_REPLICAS;
    let (id, _img, ver, replicas) =
        start_on_new_version(&Store::new(&kv, &env), &s, OpKind::Publish, "vm-1", n);
    let mut most = 0;
    for (seq, moved, again) in each_transition(&kv, &env, &s, &id) {
        most = most.max(writes(&moved));
        assert_eq!(
            writes(&again),
            0,
            "transition {seq} shown again rewrote copies"
        );
    }
    assert_eq!(most, n + 1, "the fan-out moves every copy once");
    assert_eq!(
        version(&Store::new(&kv, &env), &ver).unwrap().status,
        VersionStatus::Available
    );
    for r in &replicas {
        assert_eq!(
            asset(&Store::new(&kv, &env), r).status,
            AssetStatus::Available
        );
    }
}

/// A version's one copy: a transition that moves it reads and swaps it once, and the same
/// transition shown again reads it once and writes nothing.
#[test]
fn a_single_copy_costs_a_read_and_a_swap_and_nothing_more_when_shown_again() {
    let (kv, env, s) = (MemoryKv::new(), FakeEnv::at(T0), Settings::default());
    grant(&Store::new(&kv, &env), "gal-1", &["pi-1"]);
    let (id, _img, ver, _) = start_on_new_version(
        &Store::new(&kv, &env),
        &s,
        OpKind::CopyFromGallery,
        "gal-1",
        0,
    );
    let transitions = each_transition(&kv, &env, &s, &id);
    assert!(transitions.len() >= 3, "{transitions:?}");
    for (seq, moved, again) in transitions {
        assert_eq!(moved, vec![Call::Get, Call::Swap], "transition {seq}");
        assert_eq!(again, vec![Call::Get], "transition {seq} shown again");
    }
    let v = version(&Store::new(&kv, &env), &ver).unwrap();
    assert_eq!(
        asset(&Store::new(&kv, &env), &v.asset_ids[0]).status,
        AssetStatus::Available
    );
}
