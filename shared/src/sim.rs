//! The provider: a trait, and the deterministic simulator that stands in for Azure galleries
//! and VMs and WUYING instances. Its inventory lives in the store (managed by the admin API);
//! its failure injection is the `Simulation` record (`PUT /admin/v1/simulation`).
//!
//! Determinism: every verdict is a function of the stored inventory, the simulation settings
//! and (seed, operation id, step, attempt, subject): the same seed and the same requests give
//! the same outcome, and two advancers racing on one operation compute the same transition.

use crate::keys;
use crate::ops::{self, OpError, OpKind, Operation, Outcome};
use crate::records::Store;
use crate::settings::Settings;
use crate::store::StoreError;
use crate::vocab::{GpuType, OsType, ProviderLabel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Says how a step of an operation went, once the step's duration has elapsed.
pub trait Provider {
    fn outcome(&self, op: &Operation) -> Result<Outcome, StoreError>;
}

/// A fixed failure: `step` of operations whose source is `sourceId` fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailRule {
    pub source_id: String,
    pub step: String,
    /// Fail only the first N attempts (absent: every attempt).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Only this replica asset or region of a fan-out step (absent: all of them).
    #[serde(default)]
    pub subject: Option<String>,
    /// The error code (absent: the step's failure status).
    #[serde(default)]
    pub code: Option<String>,
    /// Never finish instead of failing (the step then times out, if it can).
    #[serde(default)]
    pub stall: bool,
}

/// The simulation settings; overrides of [`Settings`] are optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Simulation {
    pub seed: u64,
    /// Probability (0–1) that any step attempt fails.
    pub failure_rate: f64,
    pub failing_steps: Vec<FailRule>,
    pub step_ms: Option<u64>,
    pub step_timeout_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    pub backoff_ms: Option<u64>,
}

impl Simulation {
    /// `base` with this simulation's overrides.
    pub fn apply(&self, base: &Settings) -> Settings {
        let mut s = base.clone();
        if let Some(v) = self.step_ms {
            s.step_ms = v;
        }
        if let Some(v) = self.step_timeout_ms {
            s.step_timeout_ms = v;
        }
        if let Some(v) = self.max_attempts {
            s.max_attempts = v.max(1);
        }
        if let Some(v) = self.backoff_ms {
            s.backoff_ms = v;
        }
        s
    }

    /// The settings in force: `base` (from Spin variables) with the stored overrides. A door
    /// starting an operation passes these to `ops::start`, so the first step lasts as long
    /// as the advancer expects.
    pub fn effective(st: &Store<'_>, base: &Settings) -> Result<Settings, StoreError> {
        Ok(Self::load(st)?.apply(base))
    }

    /// Reads the stored simulation (absent: defaults, no failures).
    pub fn load(st: &Store<'_>) -> Result<Simulation, StoreError> {
        Ok(st
            .get::<Simulation>(&keys::simulation())?
            .map(|s| s.value)
            .unwrap_or_default())
    }
}

/// A provider instance (an Azure region or edge).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInstance {
    pub id: String,
    pub provider_label: ProviderLabel,
    #[serde(default)]
    pub region: Option<String>,
}

/// A source gallery image version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GalleryImage {
    pub id: String,
    pub os_type: OsType,
    pub gpu_type: GpuType,
    /// Provider instances granted access.
    #[serde(default)]
    pub granted_to: Vec<String>,
    /// The partner org (an MSP) that prepared this image through the API: a version made
    /// from it with `assetDetails.data.mspOrgId` naming this org gets `metadata` and
    /// `appScan` copied in (docs/contract/imagemgmt-api.md, Add Version rule 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_by: Option<String>,
    /// The preparer's image metadata (free-form).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// The preparer's application-scan data (free-form).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub app_scan: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
impl GalleryImage {
    /// A Windows image without GPU, granted to the provider instances `to`, prepared by
    /// nobody: the tests' usual source.
    pub(crate) fn granted(id: &str, to: &[&str]) -> GalleryImage {
        GalleryImage {
            id: id.into(),
            os_type: OsType::Windows,
            gpu_type: GpuType::None,
            granted_to: to.iter().map(|s| (*s).to_owned()).collect(),
            prepared_by: None,
            metadata: Default::default(),
            app_scan: Default::default(),
        }
    }
}

/// A customer VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vm {
    pub id: String,
    #[serde(default)]
    pub provider_instance_id: Option<String>,
    pub os_type: OsType,
    pub gpu_type: GpuType,
}

/// WUYING instance type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceType {
    CloudDesktop,
    WuyingServer,
}

/// A WUYING instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    pub instance_type: InstanceType,
    pub os_type: OsType,
    pub centralized_image: bool,
    pub physical_node: bool,
    pub base_image_configured: bool,
    #[serde(default)]
    pub sub_instances: Vec<String>,
}

/// A region images can be distributed to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub id: String,
}

/// Reads an inventory item of an org.
pub fn gallery_image(
    st: &Store<'_>,
    org: &str,
    id: &str,
) -> Result<Option<GalleryImage>, StoreError> {
    Ok(st.get(&keys::gallery_image(org, id))?.map(|s| s.value))
}

/// Reads a VM of an org.
pub fn vm(st: &Store<'_>, org: &str, id: &str) -> Result<Option<Vm>, StoreError> {
    Ok(st.get(&keys::vm(org, id))?.map(|s| s.value))
}

/// Reads a WUYING instance of an org.
pub fn instance(st: &Store<'_>, org: &str, id: &str) -> Result<Option<Instance>, StoreError> {
    Ok(st.get(&keys::instance(org, id))?.map(|s| s.value))
}

/// Reads a provider instance of an org.
pub fn provider_instance(
    st: &Store<'_>,
    org: &str,
    id: &str,
) -> Result<Option<ProviderInstance>, StoreError> {
    Ok(st.get(&keys::provider_instance(org, id))?.map(|s| s.value))
}

/// Reads a region of an org.
pub fn region(st: &Store<'_>, org: &str, id: &str) -> Result<Option<Region>, StoreError> {
    Ok(st.get(&keys::region(org, id))?.map(|s| s.value))
}

/// The deterministic simulator.
pub struct Simulator<'a> {
    pub st: Store<'a>,
    pub sim: Simulation,
}

/// A number in [0, 1) from (seed, op, step, attempt, subject).
pub fn draw(seed: u64, op_id: &str, step: &str, attempt: u32, subject: &str) -> f64 {
    let mut h = Sha256::new();
    h.update(seed.to_le_bytes());
    for part in [op_id, step, subject] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(attempt.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

enum Verdict {
    Ok,
    Fail(OpError),
    Stall,
}

impl Simulator<'_> {
    fn verdict(&self, op: &Operation, subject: &str) -> Verdict {
        let def = ops::kind_def(op.kind);
        let step = def
            .steps
            .get(op.step_index as usize)
            .unwrap_or(&def.steps[0]);
        let source = op.target.source_id.as_deref().unwrap_or("");
        for rule in &self.sim.failing_steps {
            let hits = rule.source_id == source
                && rule.step == op.step
                && rule.attempts.is_none_or(|n| op.attempt <= n)
                && rule.subject.as_deref().is_none_or(|s| s == subject);
            if hits {
                if rule.stall {
                    return Verdict::Stall;
                }
                return Verdict::Fail(OpError {
                    code: rule
                        .code
                        .clone()
                        .unwrap_or_else(|| step.failure.as_str().to_owned()),
                    message: format!("simulated failure of step {} for {source}", op.step),
                });
            }
        }
        if self.sim.failure_rate > 0.0
            && draw(self.sim.seed, &op.id, &op.step, op.attempt, subject) < self.sim.failure_rate
        {
            return Verdict::Fail(OpError {
                code: step.failure.as_str().to_owned(),
                message: format!("simulated random failure of step {}", op.step),
            });
        }
        Verdict::Ok
    }

    /// Inventory checks a step makes against the provider.
    fn check(&self, op: &Operation) -> Result<Option<OpError>, StoreError> {
        let (org, source) = (&op.org_id, op.target.source_id.as_deref().unwrap_or(""));
        match (op.kind, op.step.as_str()) {
            (OpKind::CopyFromGallery, "copying-image") => {
                let Some(img) = gallery_image(&self.st, org, source)? else {
                    return Ok(Some(OpError {
                        code: "SOURCE_IMAGE_NOT_FOUND".into(),
                        message: format!("gallery image version {source} does not exist"),
                    }));
                };
                let pi = op.target.provider_instance_id.as_deref().unwrap_or("");
                if !img.granted_to.iter().any(|g| g == pi) {
                    return Ok(Some(OpError {
                        code: "SOURCE_IMAGE_ACCESS_DENIED".into(),
                        message: format!(
                            "provider instance {pi} was not granted access on gallery image {source}"
                        ),
                    }));
                }
            }
            (OpKind::ImportVm, "import-pending")
                if op.target.source_id.is_some() && vm(&self.st, org, source)?.is_none() =>
            {
                return Ok(Some(OpError {
                    code: "VM_NOT_FOUND".into(),
                    message: format!("VM {source} does not exist"),
                }));
            }
            _ => {}
        }
        Ok(None)
    }
}

impl Provider for Simulator<'_> {
    fn outcome(&self, op: &Operation) -> Result<Outcome, StoreError> {
        if let Some(err) = self.check(op)? {
            return Ok(Outcome::Fail(err));
        }
        let def = ops::kind_def(op.kind);
        let fan_out = def
            .steps
            .get(op.step_index as usize)
            .is_some_and(|s| s.fan_out);
        if !fan_out {
            return Ok(match self.verdict(op, "") {
                Verdict::Ok => Outcome::Done { failed: vec![] },
                Verdict::Fail(e) => Outcome::Fail(e),
                Verdict::Stall => Outcome::Stall,
            });
        }
        let mut failed = vec![];
        for subject in ops::fan_out_subjects(op) {
            match self.verdict(op, &subject) {
                Verdict::Ok => {}
                Verdict::Fail(e) => failed.push((subject, e)),
                Verdict::Stall => return Ok(Outcome::Stall),
            }
        }
        Ok(Outcome::Done { failed })
    }
}

#[cfg(test)]
mod tests;
