//! Operations: the background work behind every accepted change (docs/contract/lifecycle.md).
//!
//! The record types live here; the step table is data ([`kind_def`], in `steps`);
//! [`transition`] is the pure state machine the advancer applies (one transition per due
//! visit) and [`view`] says what an operation's state shows on its version, assets and
//! regions (both in `lifecycle`). [`start`] records a new operation and its first due entry;
//! the caller (a door's service) writes the version and asset records first, with the
//! statuses [`initial_statuses`] gives.

mod lifecycle;
pub mod running;
mod steps;

#[cfg(test)]
mod tests;

// `Settings` has its own module (so `due` need not import `ops`); named here as it always was.
pub use crate::settings::Settings;
pub use lifecycle::{
    Outcome, View, fan_out_subjects, get, new_op_id, start, start_with, transition, view,
};
pub use steps::{EndDef, KindDef, StepDef, initial_statuses, kind_def};

use crate::time::Timestamp;
use crate::vocab::AssetStatus;
use crate::vocab::OrgId;
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
