//! The step table walked kind by kind through `transition`, and what `view` shows at each
//! state (pure: no store).

use super::*;
use crate::vocab::{AssetStatus as A, VersionState, VersionStatus as V};

fn new_op(kind: OpKind, settings: &Settings) -> Operation {
    let target = Target {
        image_id: "img-1".into(),
        version_id: Some("ver-1".into()),
        asset_ids: vec!["ast-1".into()],
        replica_asset_ids: vec![],
        regions: if kind == OpKind::Distribute {
            vec!["cn-a".into(), "cn-b".into()]
        } else {
            vec![]
        },
        source_id: Some("src".into()),
        provider_instance_id: Some("pi".into()),
    };
    Operation::first("tid-1", "o", kind, target, settings, Timestamp(1_000_000))
}

fn done() -> Outcome {
    Outcome::Done { failed: vec![] }
}

fn err(code: &str) -> OpError {
    OpError {
        code: code.into(),
        message: "boom".into(),
    }
}

/// Runs an operation to its end, feeding `outcome(step, attempt)`; returns every state.
fn run(
    mut op: Operation,
    s: &Settings,
    mut outcome: impl FnMut(&str, u32) -> Outcome,
) -> Vec<Operation> {
    let mut states = vec![op.clone()];
    for _ in 0..200 {
        let now = op.due_at.0;
        let (st, at) = (op.step.clone(), op.attempt);
        match transition(&op, s, now, || outcome(&st, at)) {
            None => break,
            Some(n) => {
                op = n;
                states.push(op.clone());
            }
        }
    }
    states
}

#[test]
fn every_kind_has_a_row_and_steps() {
    for k in OpKind::ALL {
        let d = kind_def(*k);
        assert_eq!(d.kind, *k);
        assert!(!d.steps.is_empty());
    }
}

#[test]
fn copy_walks_its_table_and_ends_available_published() {
    let s = Settings::default();
    let states = run(new_op(OpKind::CopyFromGallery, &s), &s, |_, _| done());
    let shown: Vec<_> = states
        .iter()
        .map(|o| {
            let v = view(o);
            (v.version_status, v.asset_status)
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (Some(V::Pending), Some(A::CopyingImage)),
            (Some(V::ReplicationInProgress), Some(A::Replicating)),
            (Some(V::ValidationInProgress), Some(A::ValidationInProgress)),
            (Some(V::Available), Some(A::Available)),
        ]
    );
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Succeeded);
    assert_eq!(last.progress, 100);
    assert_eq!(view(last).version_state, Some(VersionState::Published));
    // A demo copy finishes well under a minute of step time.
    assert!(last.updated_at.0 - last.created_at.0 < 30_000);
}

#[test]
fn import_walks_its_table_and_ends_import_complete_not_ready() {
    let s = Settings::default();
    let states = run(new_op(OpKind::ImportVm, &s), &s, |_, _| done());
    let shown: Vec<_> = states
        .iter()
        .map(|o| {
            let v = view(o);
            (v.version_status, v.asset_status)
        })
        .collect();
    assert_eq!(
        shown,
        vec![
            (Some(V::Pending), Some(A::ImportPending)),
            (Some(V::ImportInProgress), Some(A::DeployingVm)),
            (Some(V::ImportInProgress), Some(A::InstallingAgents)),
            (Some(V::ImportInProgress), Some(A::ScanningApps)),
            (Some(V::ImportComplete), Some(A::ImportComplete)),
        ]
    );
    assert_eq!(
        view(states.last().unwrap()).version_state,
        Some(VersionState::NotReady)
    );
}

fn publish_op(s: &Settings) -> Operation {
    let mut op = new_op(OpKind::Publish, s);
    op.target.replica_asset_ids = vec!["r1".into(), "r2".into()];
    op
}

#[test]
fn publish_walks_its_table_and_replicates_one_asset_per_replica() {
    let s = Settings::default();
    let states = run(publish_op(&s), &s, |_, _| done());
    let shown: Vec<_> = states
        .iter()
        .map(|o| (view(o).version_status, view(o).asset_status))
        .collect();
    assert_eq!(
        shown,
        vec![
            (Some(V::PublishInProgress), Some(A::ShuttingDownVm)),
            (Some(V::PublishInProgress), Some(A::Syspreping)),
            (Some(V::PublishInProgress), Some(A::Generalizing)),
            (
                Some(V::PublishInProgress),
                Some(A::CapturingAndUploadingImageToSig)
            ),
            (
                Some(V::PublishInProgress),
                Some(A::PublishCleanupInProgress)
            ),
            (Some(V::ReplicationInProgress), Some(A::PublishComplete)),
            (Some(V::Available), Some(A::PublishComplete)),
        ]
    );
    let replicating = view(&states[5]);
    assert_eq!(
        replicating
            .replica_statuses
            .iter()
            .map(|r| r.1)
            .collect::<Vec<_>>(),
        vec![A::Replicating, A::Replicating]
    );
    let end = view(states.last().unwrap());
    assert_eq!(end.version_state, Some(VersionState::Published));
    assert!(end.replica_statuses.iter().all(|r| r.1 == A::Available));
}

#[test]
fn publish_with_some_replicas_failing_is_partial() {
    let s = Settings::default();
    let states = run(publish_op(&s), &s, |step, _| {
        if step == "replicating" {
            Outcome::Done {
                failed: vec![("r2".into(), err("REPLICATION_FAILED"))],
            }
        } else {
            done()
        }
    });
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Succeeded);
    let v = view(last);
    assert_eq!(v.version_status, Some(V::PartiallyAvailable));
    assert_eq!(v.version_state, Some(VersionState::PartiallyPublished));
    assert_eq!(v.replica_statuses[0].1, A::Available);
    assert_eq!(v.replica_statuses[1].1, A::ReplicationFailed);
    assert!(v.replica_statuses[1].2.is_some());
}

#[test]
fn publish_with_every_replica_failing_retries_then_fails() {
    let s = Settings::default();
    let states = run(publish_op(&s), &s, |step, _| {
        if step == "replicating" {
            Outcome::Done {
                failed: vec![
                    ("r1".into(), err("REPLICATION_FAILED")),
                    ("r2".into(), err("REPLICATION_FAILED")),
                ],
            }
        } else {
            done()
        }
    });
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Failed);
    assert_eq!(last.attempt, s.max_attempts);
    assert_eq!(view(last).version_status, Some(V::Failed));
    // The replicas wait for the retry, then show the failure.
    assert!(states.iter().any(|o| {
        view(o)
            .replica_statuses
            .iter()
            .all(|r| r.1 == A::PublishRetryPending)
            && o.phase == Phase::RetryPending
    }));
    assert!(
        view(last)
            .replica_statuses
            .iter()
            .all(|r| r.1 == A::ReplicationFailed)
    );
}

#[test]
fn delete_ends_with_the_records_gone() {
    let s = Settings::default();
    let states = run(new_op(OpKind::Delete, &s), &s, |_, _| done());
    assert_eq!(
        view(&states[0]).version_status,
        Some(V::Deleting),
        "deleting while it runs"
    );
    assert_eq!(view(&states[0]).asset_status, Some(A::Deleting));
    assert!(view(states.last().unwrap()).gone);
}

#[test]
fn delete_failure_shows_deletion_retry_pending_then_deletion_failed() {
    let s = Settings::default();
    let states = run(new_op(OpKind::Delete, &s), &s, |_, _| {
        Outcome::Fail(err("DELETION_FAILED"))
    });
    assert_eq!(view(&states[1]).asset_status, Some(A::DeletionRetryPending));
    let last = view(states.last().unwrap());
    assert_eq!(last.asset_status, Some(A::DeletionFailed));
    assert!(!last.gone);
}

#[test]
fn capture_rises_through_creating_with_progress() {
    let s = Settings::default();
    let states = run(new_op(OpKind::CaptureByInstance, &s), &s, |_, _| done());
    let progress: Vec<u8> = states.iter().map(|o| o.progress).collect();
    assert_eq!(progress, vec![0, 20, 40, 60, 80, 100]);
    assert_eq!(view(&states[0]).version_status, Some(V::Pending));
    assert_eq!(view(&states[1]).version_status, Some(V::ImportInProgress));
    assert_eq!(
        view(states.last().unwrap()).version_status,
        Some(V::Available)
    );
}

#[test]
fn capture_failure_ends_failed() {
    let s = Settings {
        max_attempts: 1,
        ..Settings::default()
    };
    let states = run(new_op(OpKind::CaptureByInstance, &s), &s, |step, _| {
        if step == "creating-image" {
            Outcome::Fail(err("CAPTURE_FAILED"))
        } else {
            done()
        }
    });
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Failed);
    assert_eq!(view(last).version_status, Some(V::Failed));
    assert_eq!(last.error.as_ref().unwrap().code, "CAPTURE_FAILED");
}

#[test]
fn distribute_moves_each_region_from_init_through_progress_to_its_end() {
    use crate::vocab::RegionStatus as R;
    let s = Settings::default();
    let states = run(new_op(OpKind::Distribute, &s), &s, |step, _| {
        if step == "finishing" {
            Outcome::Done {
                failed: vec![("cn-b".into(), err("DISTRIBUTE_FAILED"))],
            }
        } else {
            done()
        }
    });
    assert_eq!(
        view(&states[0]).region_statuses,
        vec![("cn-a".into(), R::Init, 0), ("cn-b".into(), R::Init, 0)]
    );
    let mid = view(&states[1]);
    assert!(
        mid.region_statuses
            .iter()
            .all(|r| r.1 == R::Distributing && r.2 > 0)
    );
    let end = view(states.last().unwrap());
    assert_eq!(end.region_statuses[0], ("cn-a".into(), R::Available, 100));
    assert_eq!(end.region_statuses[1].1, R::Failed);
    assert_eq!(end.version_status, None, "distribution leaves the version");
}

#[test]
fn a_failed_step_retries_with_exponential_backoff_then_fails() {
    let s = Settings::default();
    let states = run(new_op(OpKind::ImportVm, &s), &s, |step, _| {
        if step == "installing-agents" {
            Outcome::Fail(err("AGENT_INSTALL"))
        } else {
            done()
        }
    });
    let retry_waits: Vec<i64> = states
        .windows(2)
        .filter(|w| w[1].phase == Phase::RetryPending)
        .map(|w| w[1].due_at.0 - w[1].updated_at.0)
        .collect();
    assert_eq!(
        retry_waits,
        vec![s.backoff_ms as i64, 2 * s.backoff_ms as i64]
    );
    let pending = states
        .iter()
        .find(|o| o.phase == Phase::RetryPending)
        .unwrap();
    assert_eq!(view(pending).asset_status, Some(A::ImportRetryPending));
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Failed);
    assert_eq!(last.attempt, 3);
    let v = view(last);
    assert_eq!(v.version_status, Some(V::Failed));
    assert_eq!(v.asset_status, Some(A::AgentInstallationFailed));
    assert_eq!(v.new_error.unwrap().0.code, "AGENT_INSTALL");
}

#[test]
fn a_retry_that_succeeds_carries_on() {
    let s = Settings::default();
    let states = run(new_op(OpKind::CopyFromGallery, &s), &s, |step, attempt| {
        if step == "replicating" && attempt == 1 {
            Outcome::Fail(err("X"))
        } else {
            done()
        }
    });
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Succeeded);
    let entered: Vec<_> = last
        .history
        .iter()
        .filter(|h| h.event == Event::Entered)
        .map(|h| (h.step.as_str(), h.attempt))
        .collect();
    assert_eq!(
        entered,
        vec![
            ("copying-image", 1),
            ("replicating", 1),
            ("replicating", 2),
            ("validating", 1)
        ]
    );
}

#[test]
fn a_stalled_step_times_out_with_its_timeout_status() {
    let s = Settings {
        max_attempts: 1,
        ..Settings::default()
    };
    let states = run(new_op(OpKind::ImportVm, &s), &s, |step, _| {
        if step == "deploying-vm" {
            Outcome::Stall
        } else {
            done()
        }
    });
    let last = states.last().unwrap();
    assert_eq!(last.status, OpStatus::Failed);
    assert_eq!(view(last).asset_status, Some(A::ImportFailedTimeout));
    assert_eq!(last.error.as_ref().unwrap().code, "IMPORT_FAILED_TIMEOUT");
    // It failed at the deadline, not before.
    assert!(last.updated_at.0 - last.step_started_at.0 >= s.step_timeout_ms as i64);

    let copy = run(new_op(OpKind::CopyFromGallery, &s), &s, |step, _| {
        if step == "replicating" {
            Outcome::Stall
        } else {
            done()
        }
    });
    assert_eq!(
        view(copy.last().unwrap()).asset_status,
        Some(A::ReplicationFailedTimeout)
    );
}

#[test]
fn not_due_or_settled_operations_do_not_move() {
    let s = Settings::default();
    let op = new_op(OpKind::CopyFromGallery, &s);
    assert!(transition(&op, &s, op.due_at.0 - 1, done).is_none());
    let mut settled = op.clone();
    settled.status = OpStatus::Succeeded;
    assert!(transition(&settled, &s, i64::MAX, done).is_none());
}

#[test]
fn each_transition_bumps_seq_once() {
    let s = Settings::default();
    let states = run(new_op(OpKind::ImportVm, &s), &s, |_, _| done());
    for (i, o) in states.iter().enumerate() {
        assert_eq!(o.seq as usize, i);
    }
}

#[test]
fn initial_statuses_are_the_first_row() {
    assert_eq!(
        initial_statuses(OpKind::CopyFromGallery),
        (Some(V::Pending), Some(A::CopyingImage))
    );
    assert_eq!(
        initial_statuses(OpKind::Delete),
        (Some(V::Deleting), Some(A::Deleting))
    );
}
