//! The step table: each kind's steps, as data, with the statuses every step shows and the
//! failure, retry and timeout statuses it sets.

use super::OpKind;
use crate::vocab::{AssetStatus, VersionState, VersionStatus};

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
/// records with these before [`start`](super::start).
pub fn initial_statuses(kind: OpKind) -> (Option<VersionStatus>, Option<AssetStatus>) {
    let s = &kind_def(kind).steps[0];
    (s.version_status, s.asset_status)
}
