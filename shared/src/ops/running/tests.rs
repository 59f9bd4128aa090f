//! The quota of running operations: claims up to the quota, refusals past it, room given
//! back by a release, by a dropped claim, and by operations that ended or never appeared.

use super::*;
use crate::env::FakeEnv;
use crate::ops::{OpKind, OpStatus, Settings, Target};
use crate::store::MemoryKv;
use crate::time::Timestamp;

const T0: Millis = 1_760_000_000_000;

/// Writes operation `id` of org `o1` in `status`.
fn op_in(st: &Store<'_>, id: &str, status: OpStatus) {
    let mut op = Operation::first(
        id,
        "o1",
        OpKind::CopyFromGallery,
        Target::default(),
        &Settings::default(),
        Timestamp(st.now_ms()),
    );
    op.status = status;
    st.put_new(&keys::operation("o1", id), &op).unwrap();
}

#[test]
fn claims_pass_up_to_the_quota_and_a_release_or_a_dropped_claim_gives_room_back() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    let ids: Vec<String> = (0..4).map(|i| format!("tid-{i}")).collect();
    for id in &ids[..3] {
        op_in(&st, id, OpStatus::Running);
        claim(&st, 3, "o1", id).unwrap().keep();
    }
    assert_eq!(listed(&st, "o1").unwrap(), 3);
    assert!(matches!(
        claim(&st, 3, "o1", &ids[3]),
        Err(ClaimError::Quota { quota: 3 })
    ));
    // Another org has room of its own.
    claim(&st, 3, "o2", "tid-x").unwrap().keep();
    release(&st, "o1", &ids[0]);
    let c = claim(&st, 3, "o1", &ids[3]).unwrap();
    assert_eq!(listed(&st, "o1").unwrap(), 3);
    // Not kept (the request was refused afterwards): the room is free again.
    drop(c);
    assert_eq!(listed(&st, "o1").unwrap(), 2);
}

#[test]
fn a_full_register_drops_ended_and_long_missing_operations_when_it_needs_room() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    // Two that ended without their release, one running, one whose record never appeared.
    op_in(&st, "tid-a", OpStatus::Succeeded);
    op_in(&st, "tid-b", OpStatus::Failed);
    for id in ["tid-c", "tid-d", "tid-e", "tid-f"] {
        op_in(&st, id, OpStatus::Running);
    }
    for id in ["tid-a", "tid-b", "tid-c", "tid-ghost"] {
        claim(&st, 4, "o1", id).unwrap().keep();
    }
    // Full: the claim reads the four operations and drops the two that ended.
    claim(&st, 4, "o1", "tid-d").unwrap().keep();
    claim(&st, 4, "o1", "tid-e").unwrap().keep();
    assert!(matches!(
        claim(&st, 4, "o1", "tid-f"),
        Err(ClaimError::Quota { .. })
    ));
    // The missing one counts within the grace (its request may still be writing it)…
    env.advance_ms(CLAIM_GRACE_MS - 1);
    assert!(claim(&st, 4, "o1", "tid-f").is_err());
    // …and not after.
    env.advance_ms(1);
    claim(&st, 4, "o1", "tid-f").unwrap().keep();
    let reg: Register = st
        .get(&keys::running_operations("o1"))
        .unwrap()
        .unwrap()
        .value;
    let ids: Vec<&str> = reg.running.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["tid-c", "tid-d", "tid-e", "tid-f"]);
}

#[test]
fn below_the_quota_a_claim_is_two_store_calls_and_reads_no_operation() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    claim(&st, 10, "o1", "tid-0").unwrap().keep();
    let before = kv.ops();
    claim(&st, 10, "o1", "tid-1").unwrap().keep();
    // The register's read and its swap.
    assert_eq!(kv.ops() - before, 2);
}

#[test]
fn concurrent_claims_never_pass_the_quota() {
    let kv = MemoryKv::new();
    let passed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..4 {
            let (kv, passed) = (&kv, &passed);
            s.spawn(move || {
                // A clock each (one per replica), at the same time.
                let env = FakeEnv::at(T0);
                let st = Store::new(kv, &env);
                for i in 0..5 {
                    let id = format!("tid-{t}-{i}");
                    op_in(&st, &id, OpStatus::Running);
                    if let Ok(c) = claim(&st, 7, "o1", &id) {
                        c.keep();
                        passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(passed.into_inner(), 7);
    let env = FakeEnv::at(T0);
    let st = Store::new(&kv, &env);
    assert_eq!(listed(&st, "o1").unwrap(), 7);
}
