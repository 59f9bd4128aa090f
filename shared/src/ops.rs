//! Operations: the background work behind every accepted change (lifecycle.md).
//!
//! The step table is data ([`kind_def`]); [`transition`] is the pure state machine the
//! advancer applies (one transition per due visit); [`view`] says what an operation's state
//! shows on its version, assets and regions. [`start`] records a new operation and its first
//! due entry; the caller (a door's service) writes the version and asset records first, with
//! the statuses [`initial_statuses`] gives.

use crate::catalog::OrgId;
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::records::Store;
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{AssetStatus, VersionState, VersionStatus};
use serde::{Deserialize, Serialize};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OpKind {
    /// Add a version by copying an Azure gallery image (`AZURE_SIG`).
    CopyFromGallery,
    /// Import a customer VM or marketplace image (`AZURE_CUSTOM_VM`, `AZURE_MARKET_PLACE`).
    ImportVm,
    /// Publish (or republish) an imported version to its replicas.
    Publish,
    /// Delete a version (`target.version_id`), or a whole image (no `version_id`).
    Delete,
    /// Capture an image from a WUYING instance (RPC `CreateImageByInstance`).
    CaptureByInstance,
    /// Distribute a version to regions (RPC `StartTaskForDistributeImage`).
    Distribute,
}

impl OpKind {
    pub const ALL: &'static [OpKind] = &[
        OpKind::CopyFromGallery,
        OpKind::ImportVm,
        OpKind::Publish,
        OpKind::Delete,
        OpKind::CaptureByInstance,
        OpKind::Distribute,
    ];
}

/// Operation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OpStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl OpStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OpStatus::Succeeded | OpStatus::Failed | OpStatus::Cancelled
        )
    }
}

/// Whether the current step is running or waiting for its retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    #[default]
    Running,
    RetryPending,
}

/// What an operation works on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    pub image_id: String,
    /// The version; `None` for the deletion of a whole image.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The assets the steps drive (for publish: the imported VM's asset).
    #[serde(default)]
    pub asset_ids: Vec<String>,
    /// Publish: one asset per replica, driven by the replication step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replica_asset_ids: Vec<String>,
    /// Distribute: the destination regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regions: Vec<String>,
    /// The provider source: gallery image version id, VM id or WUYING instance id
    /// (the simulator's failure injection names it).
    #[serde(default)]
    pub source_id: Option<String>,
    /// The provider instance the work happens in.
    #[serde(default)]
    pub provider_instance_id: Option<String>,
}

/// An operation's error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpError {
    pub code: String,
    pub message: String,
}

/// What happened in a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    /// The step was entered (first attempt or a retry).
    Entered,
    /// The step failed and waits for a retry.
    RetryPending,
    /// The operation ended well.
    Succeeded,
    /// The operation ended in failure.
    Failed,
}

/// One entry of `history[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub step: String,
    pub attempt: u32,
    pub event: Event,
    pub at: Timestamp,
}

/// The outcome for one replica or region of a fan-out step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectResult {
    pub subject: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<OpError>,
}

/// The operation record (`GET /imagemgmt/v1/operations/{id}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub id: String,
    pub org_id: OrgId,
    pub kind: OpKind,
    pub target: Target,
    pub status: OpStatus,
    pub step: String,
    pub step_index: u32,
    #[serde(default)]
    pub phase: Phase,
    pub progress: u8,
    pub attempt: u32,
    pub due_at: Timestamp,
    pub step_started_at: Timestamp,
    #[serde(default)]
    pub error: Option<OpError>,
    /// The transition number that set `error` (projections append it to `errorsHistory` once).
    #[serde(default)]
    pub error_seq: u32,
    /// The asset status the last failure set.
    #[serde(default)]
    pub failure_status: Option<AssetStatus>,
    /// Transitions so far: the advancer's compare-and-swap guard and the projections' order.
    pub seq: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub history: Vec<HistoryEntry>,
    /// Per replica / region outcomes of the fan-out step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<SubjectResult>,
}

/// One row of the step table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDef {
    pub name: &'static str,
    /// The version status while in this step (`None`: unchanged).
    pub version_status: Option<VersionStatus>,
    /// The status of the driven assets while in this step (`None`: no asset involved).
    pub asset_status: Option<AssetStatus>,
    /// The asset status a failure of this step sets.
    pub failure: AssetStatus,
    /// The asset status while waiting for a retry.
    pub retry_pending: AssetStatus,
    /// The failure status when the step outlives its timeout (`None`: never times out).
    pub timeout: Option<AssetStatus>,
    /// Fan-out: the step runs once per replica asset (publish) or region (distribute).
    pub fan_out: bool,
}

/// The end of a kind that succeeded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndDef {
    /// `None`: the version is unchanged (distribute) or gone (delete).
    pub version_status: Option<VersionStatus>,
    pub version_state: Option<VersionState>,
    pub asset_status: Option<AssetStatus>,
    /// When some but not all fan-out subjects failed.
    pub partial: Option<(VersionStatus, VersionState)>,
}

/// A kind's steps and end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KindDef {
    pub kind: OpKind,
    pub steps: &'static [StepDef],
    pub end: EndDef,
    /// The version status after the operation failed for good (`None`: unchanged).
    pub failed_version_status: Option<VersionStatus>,
}

const fn step(
    name: &'static str,
    version_status: Option<VersionStatus>,
    asset_status: Option<AssetStatus>,
    failure: AssetStatus,
    retry_pending: AssetStatus,
    timeout: Option<AssetStatus>,
) -> StepDef {
    StepDef {
        name,
        version_status,
        asset_status,
        failure,
        retry_pending,
        timeout,
        fan_out: false,
    }
}

const fn fan_out(s: StepDef) -> StepDef {
    StepDef { fan_out: true, ..s }
}

use AssetStatus as A;
use VersionStatus as V;

const COPY_STEPS: &[StepDef] = &[
    step(
        "copying-image",
        Some(V::Pending),
        Some(A::CopyingImage),
        A::ReplicationFailed,
        A::ImportRetryPending,
        Some(A::ReplicationFailedTimeout),
    ),
    step(
        "replicating",
        Some(V::ReplicationInProgress),
        Some(A::Replicating),
        A::ReplicationFailed,
        A::ImportRetryPending,
        Some(A::ReplicationFailedTimeout),
    ),
    step(
        "validating",
        Some(V::ValidationInProgress),
        Some(A::ValidationInProgress),
        A::ValidationFailed,
        A::ImportRetryPending,
        None,
    ),
];

const IMPORT_STEPS: &[StepDef] = &[
    step(
        "import-pending",
        Some(V::Pending),
        Some(A::ImportPending),
        A::ImportFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "deploying-vm",
        Some(V::ImportInProgress),
        Some(A::DeployingVm),
        A::ImportFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "installing-agents",
        Some(V::ImportInProgress),
        Some(A::InstallingAgents),
        A::AgentInstallationFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "scanning-apps",
        Some(V::ImportInProgress),
        Some(A::ScanningApps),
        A::ImportFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
];

const PUBLISH_STEPS: &[StepDef] = &[
    step(
        "shutting-down-vm",
        Some(V::PublishInProgress),
        Some(A::ShuttingDownVm),
        A::PublishFailed,
        A::PublishRetryPending,
        None,
    ),
    step(
        "sysprepping",
        Some(V::PublishInProgress),
        Some(A::Syspreping),
        A::SysprepFailed,
        A::PublishRetryPending,
        None,
    ),
    step(
        "generalizing",
        Some(V::PublishInProgress),
        Some(A::Generalizing),
        A::GeneralizingFailed,
        A::PublishRetryPending,
        None,
    ),
    step(
        "capturing-and-uploading",
        Some(V::PublishInProgress),
        Some(A::CapturingAndUploadingImageToSig),
        A::CaptureAndImageUploadFailed,
        A::PublishRetryPending,
        None,
    ),
    step(
        "publish-cleanup",
        Some(V::PublishInProgress),
        Some(A::PublishCleanupInProgress),
        A::PublishCleanupFailed,
        A::PublishRetryPending,
        None,
    ),
    fan_out(step(
        "replicating",
        Some(V::ReplicationInProgress),
        Some(A::Replicating),
        A::ReplicationFailed,
        A::PublishRetryPending,
        Some(A::ReplicationFailedTimeout),
    )),
];

const DELETE_STEPS: &[StepDef] = &[step(
    "deleting",
    Some(V::Deleting),
    Some(A::Deleting),
    A::DeletionFailed,
    A::DeletionRetryPending,
    None,
)];

/// Capture: `INIT` (REST `PENDING`), then `CREATING` (`IMPORT_IN_PROGRESS`) in four steps so
/// progress rises 20, 40, 60, 80.
const CAPTURE_STEPS: &[StepDef] = &[
    step(
        "init",
        Some(V::Pending),
        None,
        A::CaptureAndImageUploadFailed,
        A::ImportRetryPending,
        None,
    ),
    step(
        "creating-snapshot",
        Some(V::ImportInProgress),
        None,
        A::CaptureAndImageUploadFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "creating-image",
        Some(V::ImportInProgress),
        None,
        A::CaptureAndImageUploadFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "cleaning-userdata",
        Some(V::ImportInProgress),
        None,
        A::CaptureAndImageUploadFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
    step(
        "registering",
        Some(V::ImportInProgress),
        None,
        A::CaptureAndImageUploadFailed,
        A::ImportRetryPending,
        Some(A::ImportFailedTimeout),
    ),
];

const DISTRIBUTE_STEPS: &[StepDef] = &[
    step(
        "init",
        None,
        None,
        A::ReplicationFailed,
        A::ImportRetryPending,
        None,
    ),
    step(
        "distributing",
        None,
        None,
        A::ReplicationFailed,
        A::ImportRetryPending,
        None,
    ),
    fan_out(step(
        "finishing",
        None,
        None,
        A::ReplicationFailed,
        A::ImportRetryPending,
        Some(A::ReplicationFailedTimeout),
    )),
];

const KINDS: &[KindDef] = &[
    KindDef {
        kind: OpKind::CopyFromGallery,
        steps: COPY_STEPS,
        end: EndDef {
            version_status: Some(V::Available),
            version_state: Some(VersionState::Published),
            asset_status: Some(A::Available),
            partial: None,
        },
        failed_version_status: Some(V::Failed),
    },
    KindDef {
        kind: OpKind::ImportVm,
        steps: IMPORT_STEPS,
        end: EndDef {
            version_status: Some(V::ImportComplete),
            version_state: Some(VersionState::NotReady),
            asset_status: Some(A::ImportComplete),
            partial: None,
        },
        failed_version_status: Some(V::Failed),
    },
    KindDef {
        kind: OpKind::Publish,
        steps: PUBLISH_STEPS,
        end: EndDef {
            version_status: Some(V::Available),
            version_state: Some(VersionState::Published),
            asset_status: Some(A::Available),
            partial: Some((V::PartiallyAvailable, VersionState::PartiallyPublished)),
        },
        failed_version_status: Some(V::Failed),
    },
    KindDef {
        kind: OpKind::Delete,
        steps: DELETE_STEPS,
        end: EndDef {
            version_status: None,
            version_state: None,
            asset_status: None,
            partial: None,
        },
        failed_version_status: Some(V::Failed),
    },
    KindDef {
        kind: OpKind::CaptureByInstance,
        steps: CAPTURE_STEPS,
        end: EndDef {
            version_status: Some(V::Available),
            version_state: Some(VersionState::Published),
            asset_status: Some(A::Available),
            partial: None,
        },
        failed_version_status: Some(V::Failed),
    },
    KindDef {
        kind: OpKind::Distribute,
        steps: DISTRIBUTE_STEPS,
        end: EndDef {
            version_status: None,
            version_state: None,
            asset_status: None,
            partial: None,
        },
        failed_version_status: None,
    },
];

/// The step table of a kind.
pub fn kind_def(kind: OpKind) -> &'static KindDef {
    // Every kind has a row (tested); fall back to the first row rather than panic.
    KINDS.iter().find(|k| k.kind == kind).unwrap_or(&KINDS[0])
}

/// The version and asset statuses a new operation of `kind` starts with: the caller writes its
/// records with these before [`start`].
pub fn initial_statuses(kind: OpKind) -> (Option<VersionStatus>, Option<AssetStatus>) {
    let s = &kind_def(kind).steps[0];
    (s.version_status, s.asset_status)
}

/// Durations, timeouts, attempts and backoff. The component fills it from Spin variables
/// ([`Settings::from_vars`]); the admin simulation settings may override parts of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// How long each step takes.
    pub step_ms: u64,
    /// A step still unfinished this long after it started fails (if it can time out).
    pub step_timeout_ms: u64,
    /// How often a stalled step is looked at again.
    pub poll_ms: u64,
    /// Attempts per step before the operation fails.
    pub max_attempts: u32,
    /// Pause before the first retry; doubles with each further attempt.
    pub backoff_ms: u64,
    /// Width of a due-index bucket.
    pub bucket_ms: u64,
    /// A bucket is read only once it ended this long ago (tolerates replicas' clock skew).
    pub skew_ms: u64,
    /// Due entries processed per tick at most.
    pub tick_cap: u32,
    /// Buckets looked at per tick at most.
    pub max_buckets_per_tick: u32,
}

impl Default for Settings {
    fn default() -> Self {
        // A demo copy (3 steps) finishes in about 3 × (2 s + a tick): well under a minute.
        Settings {
            step_ms: 2_000,
            step_timeout_ms: 60_000,
            poll_ms: 2_000,
            max_attempts: 3,
            backoff_ms: 2_000,
            bucket_ms: 2_000,
            skew_ms: 500,
            tick_cap: 50,
            max_buckets_per_tick: 120,
        }
    }
}

impl Settings {
    /// Reads the Spin variables `step_ms`, `step_timeout_ms`, `poll_ms`, `max_attempts`,
    /// `backoff_ms`, `bucket_ms`, `skew_ms`, `tick_cap` through `var` (absent or empty: the
    /// default). A value that is not a positive integer is an error naming the variable.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let mut s = Settings::default();
        fn num(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<u64>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!(
                        "variable {name} must be a positive integer, got {v:?}"
                    )),
                },
            }
        }
        let to_u32 = |n: u64, name: &str| {
            u32::try_from(n).map_err(|_| format!("variable {name} is too large"))
        };
        if let Some(n) = num(&var, "step_ms")? {
            s.step_ms = n;
        }
        if let Some(n) = num(&var, "step_timeout_ms")? {
            s.step_timeout_ms = n;
        }
        if let Some(n) = num(&var, "poll_ms")? {
            s.poll_ms = n;
        }
        if let Some(n) = num(&var, "max_attempts")? {
            s.max_attempts = to_u32(n, "max_attempts")?;
        }
        if let Some(n) = num(&var, "backoff_ms")? {
            s.backoff_ms = n;
        }
        if let Some(n) = num(&var, "bucket_ms")? {
            s.bucket_ms = n;
        }
        if let Some(n) = num(&var, "skew_ms")? {
            s.skew_ms = n;
        }
        if let Some(n) = num(&var, "tick_cap")? {
            s.tick_cap = to_u32(n, "tick_cap")?;
        }
        Ok(s)
    }

    /// The pause before attempt `next_attempt` (2, 3, …): `backoff_ms · 2^(next_attempt-2)`.
    pub fn backoff_before(&self, next_attempt: u32) -> u64 {
        let exp = next_attempt.saturating_sub(2).min(20);
        self.backoff_ms.saturating_mul(1u64 << exp)
    }
}

fn add(t: Timestamp, ms: u64) -> Timestamp {
    Timestamp(t.0.saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)))
}

/// A fresh operation id (`tid-…`), for callers that write records naming it before [`start`].
pub fn new_op_id(st: &Store<'_>) -> String {
    st.new_id("tid-")
}

/// Records a new operation in its first step and schedules its first due entry.
/// The caller wrote the version and asset records first (with [`initial_statuses`]).
pub fn start(
    st: &Store<'_>,
    settings: &Settings,
    id: &str,
    org: &str,
    kind: OpKind,
    target: Target,
) -> Result<Operation, StoreError> {
    let now = st.now();
    let def = kind_def(kind);
    let first = &def.steps[0];
    let op = Operation {
        id: id.to_owned(),
        org_id: org.to_owned(),
        kind,
        target,
        status: OpStatus::Pending,
        step: first.name.to_owned(),
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
            step: first.name.to_owned(),
            attempt: 1,
            event: Event::Entered,
            at: now,
        }],
        results: vec![],
    };
    // The due entry first: an entry naming a not-yet-written operation is skipped harmlessly,
    // while an operation without an entry would never advance.
    due::schedule(
        st,
        settings,
        op.due_at.0,
        &due::DueKind::Operation {
            org: org.to_owned(),
            id: id.to_owned(),
        },
    )?;
    st.put_new(&keys::operation(org, id), &op)?;
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
    pub region_statuses: Vec<(String, crate::catalog::RegionStatus, u8)>,
    /// The error to append to the driven assets' `errorsHistory`, when this transition set it.
    pub new_error: Option<(OpError, AssetStatus)>,
    /// The operation ended with the records gone (a finished delete).
    pub gone: bool,
}

/// What `op` shows on its version, assets and regions.
pub fn view(op: &Operation) -> View {
    use crate::catalog::RegionStatus as R;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn new_op(kind: OpKind, settings: &Settings) -> Operation {
        let now = Timestamp(1_000_000);
        let def = kind_def(kind);
        Operation {
            id: "tid-1".into(),
            org_id: "o".into(),
            kind,
            target: Target {
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
            },
            status: OpStatus::Pending,
            step: def.steps[0].name.into(),
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
                step: def.steps[0].name.into(),
                attempt: 1,
                event: Event::Entered,
                at: now,
            }],
            results: vec![],
        }
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
        use crate::catalog::RegionStatus as R;
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

    #[test]
    fn settings_read_spin_variables() {
        let s = Settings::from_vars(|n| match n {
            "step_ms" => Some("100".into()),
            "max_attempts" => Some("5".into()),
            "poll_ms" => Some("".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.step_ms, 100);
        assert_eq!(s.max_attempts, 5);
        assert_eq!(s.poll_ms, Settings::default().poll_ms);
        let e = Settings::from_vars(|n| (n == "backoff_ms").then(|| "-1".into())).unwrap_err();
        assert!(e.contains("backoff_ms"));
        assert_eq!(s.backoff_before(2), s.backoff_ms);
        assert_eq!(s.backoff_before(4), 4 * s.backoff_ms);
    }
}
