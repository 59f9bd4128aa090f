//! An operation's life: [`start`] records it, [`transition`] moves it one step (pure), and
//! [`view`] says what a state shows on the records the operation works on.

use super::{
    Event, HistoryEntry, KindDef, OpError, OpKind, OpStatus, Operation, Phase, Settings,
    SubjectResult, Target, kind_def,
};
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{AssetStatus, VersionState, VersionStatus};

use AssetStatus as A;

/// `t` plus `ms` milliseconds, saturating.
pub(super) fn add(t: Timestamp, ms: u64) -> Timestamp {
    Timestamp(t.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// A fresh operation id (`tid-…`), for callers that write records naming it before [`start`].
pub fn new_op_id(st: &Store<'_>) -> String {
    st.new_id("tid-")
}

impl Operation {
    /// A new operation `id` of `kind` in its first step at `now`, due one step later.
    pub fn first(
        id: &str,
        org: &str,
        kind: OpKind,
        target: Target,
        settings: &Settings,
        now: Timestamp,
    ) -> Operation {
        let first = kind_def(kind).steps[0].name;
        Operation {
            id: id.to_owned(),
            org_id: org.to_owned(),
            kind,
            target,
            status: OpStatus::Pending,
            step: first.to_owned(),
            step_index: 0,
            phase: Phase::Running,
            progress: 0,
            attempt: 1,
            due_at: add(now, settings.step_ms),
            step_started_at: now,
            error: None,
            error_seq: 0,
            failure_status: None,
            seq: 0,
            created_at: now,
            updated_at: now,
            history: vec![HistoryEntry {
                step: first.to_owned(),
                attempt: 1,
                event: Event::Entered,
                at: now,
            }],
            results: vec![],
        }
    }
}

/// Records a new operation in its first step and schedules its first due entry. The caller
/// wrote the version and asset records first (with [`super::initial_statuses`]).
pub fn start(
    st: &Store<'_>,
    settings: &Settings,
    id: &str,
    org: &str,
    kind: OpKind,
    target: Target,
) -> Result<Operation, StoreError> {
    let op = Operation::first(id, org, kind, target, settings, st.now());
    // The due entry first: an entry naming a not-yet-written operation is skipped harmlessly,
    // while an operation without an entry would never advance.
    let entry = due::DueKind::Operation {
        org: org.to_owned(),
        id: id.to_owned(),
    };
    let bucket = due::schedule(st, settings, op.due_at.0, &entry)?;
    st.put_new(&keys::operation(org, id), &op)?;
    // Stalled between the two writes past the entry's bucket, a tick may have read the
    // entry before the operation existed and dropped it: schedule it again (due.rs, "Late
    // writers").
    if !due::landed_in_time(st, settings, bucket) {
        due::schedule(st, settings, op.due_at.0, &entry)?;
    }
    Ok(op)
}

/// [`start`] that writes the operation, its due entry and `along` in one store call
/// (`set_many`), so in any order, and a failure may leave any subset written. Only for an
/// operation that nothing visible names yet, with `along` records that nothing visible
/// names yet either (the caller makes them visible after this returned): cut short, the
/// batch leaves an operation without its entry (it never advances, and no client knows its
/// id) or an entry or operation whose records are missing (skipped, or met as gone, as
/// after a refused request discards its records).
pub fn start_with(
    st: &Store<'_>,
    settings: &Settings,
    id: &str,
    org: &str,
    kind: OpKind,
    target: Target,
    mut along: Vec<(String, Vec<u8>)>,
) -> Result<Operation, StoreError> {
    let op = Operation::first(id, org, kind, target, settings, st.now());
    along.push(st.new_entry(&keys::operation(org, id), &op)?);
    due::shards::schedule_operation_with(st, settings, op.due_at.0, org, id, along)?;
    Ok(op)
}

/// Reads an operation of an org.
pub fn get(st: &Store<'_>, org: &str, id: &str) -> Result<Option<Operation>, StoreError> {
    Ok(st
        .get::<Operation>(&keys::operation(org, id))?
        .map(|s| s.value))
}

/// What the provider says about a step whose duration has elapsed.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The step finished. For a fan-out step: the subjects that failed (empty: all well).
    Done { failed: Vec<(String, OpError)> },
    /// The step failed.
    Fail(OpError),
    /// The step has not finished yet (it times out eventually, if it can).
    Stall,
}

fn progress_of(def: &KindDef, index: usize) -> u8 {
    let n = def.steps.len().max(1);
    u8::try_from(index * 100 / n).unwrap_or(99)
}

/// The one transition a due operation makes at `now`, given the provider's outcome for its
/// current step (`outcome` is only consulted when the running step's duration has elapsed).
/// `None`: the operation is not due (settled, or `dueAt` later than `now`): nothing to do.
pub fn transition(
    op: &Operation,
    settings: &Settings,
    now: Millis,
    outcome: impl FnOnce() -> Outcome,
) -> Option<Operation> {
    if op.status.is_terminal() || op.due_at.0 > now {
        return None;
    }
    let def = kind_def(op.kind);
    let index = usize::try_from(op.step_index).unwrap_or(usize::MAX);
    let step = def.steps.get(index)?;
    let now_ts = Timestamp(now);
    let mut next = op.clone();
    next.seq = op.seq + 1;
    next.updated_at = now_ts;
    next.status = OpStatus::Running;

    let enter = |next: &mut Operation, index: usize, attempt: u32| {
        let s = &def.steps[index];
        next.step = s.name.to_owned();
        next.step_index = u32::try_from(index).unwrap_or(0);
        next.phase = Phase::Running;
        next.attempt = attempt;
        next.step_started_at = now_ts;
        next.due_at = add(now_ts, settings.step_ms);
        next.progress = progress_of(def, index);
        next.history.push(HistoryEntry {
            step: s.name.to_owned(),
            attempt,
            event: Event::Entered,
            at: now_ts,
        });
    };

    if op.phase == Phase::RetryPending {
        next.results.clear();
        enter(&mut next, index, op.attempt + 1);
        return Some(next);
    }

    let fail = |next: &mut Operation, err: OpError, status: AssetStatus| {
        next.error = Some(err);
        next.error_seq = next.seq;
        next.failure_status = Some(status);
        if op.attempt < settings.max_attempts {
            next.phase = Phase::RetryPending;
            next.due_at = add(now_ts, settings.backoff_before(op.attempt + 1));
            next.history.push(HistoryEntry {
                step: step.name.to_owned(),
                attempt: op.attempt,
                event: Event::RetryPending,
                at: now_ts,
            });
        } else {
            next.status = OpStatus::Failed;
            next.history.push(HistoryEntry {
                step: step.name.to_owned(),
                attempt: op.attempt,
                event: Event::Failed,
                at: now_ts,
            });
        }
    };

    match outcome() {
        Outcome::Done { failed } => {
            let total = if step.fan_out {
                fan_out_subjects(op).len()
            } else {
                0
            };
            if step.fan_out && total > 0 && failed.len() >= total {
                // Every replica or region failed: the step failed.
                let err = failed
                    .first()
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| OpError {
                        code: step.failure.as_str().to_owned(),
                        message: "every destination failed".to_owned(),
                    });
                next.results = results_of(op, &failed);
                fail(&mut next, err, step.failure);
                return Some(next);
            }
            if step.fan_out {
                next.results = results_of(op, &failed);
            }
            if index + 1 < def.steps.len() {
                enter(&mut next, index + 1, 1);
            } else {
                next.status = OpStatus::Succeeded;
                next.progress = 100;
                if !failed.is_empty() {
                    next.error = failed.first().map(|(_, e)| e.clone());
                    next.error_seq = next.seq;
                    next.failure_status = Some(step.failure);
                }
                next.history.push(HistoryEntry {
                    step: step.name.to_owned(),
                    attempt: op.attempt,
                    event: Event::Succeeded,
                    at: now_ts,
                });
            }
        }
        Outcome::Fail(err) => fail(&mut next, err, step.failure),
        Outcome::Stall => {
            let deadline = add(op.step_started_at, settings.step_timeout_ms);
            match step.timeout {
                Some(status) if now >= deadline.0 => fail(
                    &mut next,
                    OpError {
                        code: status.as_str().to_owned(),
                        message: format!(
                            "step {} did not finish within {} ms",
                            step.name, settings.step_timeout_ms
                        ),
                    },
                    status,
                ),
                Some(_) => next.due_at = add(now_ts, settings.poll_ms).min(deadline),
                None => next.due_at = add(now_ts, settings.poll_ms),
            }
        }
    }
    Some(next)
}

/// The replicas (publish) or regions (distribute) of a fan-out step.
pub fn fan_out_subjects(op: &Operation) -> Vec<String> {
    match op.kind {
        OpKind::Distribute => op.target.regions.clone(),
        _ if !op.target.replica_asset_ids.is_empty() => op.target.replica_asset_ids.clone(),
        _ => op.target.asset_ids.clone(),
    }
}

fn results_of(op: &Operation, failed: &[(String, OpError)]) -> Vec<SubjectResult> {
    fan_out_subjects(op)
        .into_iter()
        .map(|s| {
            let err = failed.iter().find(|(f, _)| *f == s).map(|(_, e)| e.clone());
            SubjectResult {
                subject: s,
                ok: err.is_none(),
                error: err,
            }
        })
        .collect()
}

/// What an operation's state shows on the records it works on.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    pub version_status: Option<VersionStatus>,
    pub version_state: Option<VersionState>,
    /// Status of the driven assets (`target.asset_ids`).
    pub asset_status: Option<AssetStatus>,
    /// Status per replica asset (publish) or `None` when replicas are not involved yet.
    pub replica_statuses: Vec<(String, AssetStatus, Option<OpError>)>,
    /// Status and progress per region (distribute).
    pub region_statuses: Vec<(String, crate::vocab::RegionStatus, u8)>,
    /// The error to append to the driven assets' `errorsHistory`, when this transition set it.
    pub new_error: Option<(OpError, AssetStatus)>,
    /// The operation ended with the records gone (a finished delete).
    pub gone: bool,
}

/// What `op` shows on its version, assets and regions.
pub fn view(op: &Operation) -> View {
    use crate::vocab::RegionStatus as R;
    let def = kind_def(op.kind);
    let index = usize::try_from(op.step_index).unwrap_or(0);
    let step = def.steps.get(index).unwrap_or(&def.steps[0]);
    let new_error = match (&op.error, op.failure_status) {
        (Some(e), Some(s)) if op.error_seq == op.seq && op.seq > 0 => Some((e.clone(), s)),
        _ => None,
    };
    let failed_subjects: Vec<&SubjectResult> = op.results.iter().filter(|r| !r.ok).collect();
    let mut v = View {
        version_status: step.version_status,
        version_state: None,
        asset_status: step.asset_status,
        replica_statuses: vec![],
        region_statuses: vec![],
        new_error: new_error.clone(),
        gone: false,
    };
    let subjects = fan_out_subjects(op);
    let fan_out_index = def.steps.iter().position(|s| s.fan_out);
    match op.status {
        OpStatus::Pending | OpStatus::Running if op.phase == Phase::RetryPending => {
            v.asset_status = step.asset_status.map(|_| step.retry_pending);
        }
        OpStatus::Pending | OpStatus::Running => {}
        OpStatus::Succeeded => {
            v.gone = op.kind == OpKind::Delete;
            v.version_status = def.end.version_status;
            v.version_state = def.end.version_state;
            v.asset_status = def.end.asset_status;
            if let (Some(partial), false) = (def.end.partial, failed_subjects.is_empty()) {
                v.version_status = Some(partial.0);
                v.version_state = Some(partial.1);
            }
        }
        OpStatus::Failed | OpStatus::Cancelled => {
            v.version_status = def.failed_version_status;
            v.asset_status = step
                .asset_status
                .map(|_| op.failure_status.unwrap_or(step.failure));
        }
    }
    // Fan-out subjects (publish replicas, distribute regions): untouched (publish) or `INIT`
    // (distribute) before the fan-out step, in progress during it, then per result.
    if let Some(fi) = fan_out_index {
        for s in &subjects {
            let result = op.results.iter().find(|r| &r.subject == s);
            let (asset, region, progress) = if op.status.is_terminal() {
                match result {
                    Some(r) if r.ok => (A::Available, R::Available, 100),
                    Some(_) => (A::ReplicationFailed, R::Failed, op.progress),
                    None if op.status == OpStatus::Succeeded => (A::Available, R::Available, 100),
                    None if index >= fi => (A::ReplicationFailed, R::Failed, op.progress),
                    None => (A::PublishFailed, R::Failed, op.progress),
                }
            } else if index >= fi && op.phase == Phase::RetryPending {
                (step.retry_pending, R::Distributing, op.progress)
            } else if index >= fi {
                (A::Replicating, R::Distributing, op.progress)
            } else if index == 0 {
                (A::Replicating, R::Init, 0)
            } else {
                (A::Replicating, R::Distributing, op.progress)
            };
            let err = result.and_then(|r| r.error.clone());
            if op.kind == OpKind::Distribute {
                v.region_statuses.push((s.clone(), region, progress));
            } else if index >= fi || op.status.is_terminal() {
                v.replica_statuses.push((s.clone(), asset, err));
            }
        }
    }
    // In publish, the driven (VM) asset's work ends at the fan-out step; the replicas carry on.
    let replicated = fan_out_index.is_some_and(|fi| index >= fi);
    if op.kind == OpKind::Publish
        && !op.target.replica_asset_ids.is_empty()
        && replicated
        && op.status != OpStatus::Failed
    {
        v.asset_status = Some(A::PublishComplete);
    }
    v
}
