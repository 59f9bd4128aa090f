//! What one org may hold (issue 24, item 4): quotas set by variables, checked before
//! anything is recorded, and shown to the admin (`GET /admin/v1/orgs/{orgId}/usage`).
//!
//! - **Images per org** (`quota_images`, default [`DEFAULT_IMAGES`]): the org's listed
//!   images (its index's total: two reads, `index::View`) must be under the quota for a
//!   new image (REST create and `clone-image`, RPC `CreateImageByInstance`). Checked before
//!   the create, so creates running at the same moment may pass it by as many as run at
//!   once (each is still bounded by the org's rate limit); no refused create writes.
//! - **Versions per image** (`quota_versions`, default [`DEFAULT_VERSIONS`], at most the
//!   image record's own bound, `pages`): checked on the image as read before anything is
//!   written, and again inside the compare-and-swap that attaches the version, so it holds
//!   exactly under concurrent Add Versions.
//! - **Replicas per version** (`quota_replicas`, default and most [`MAX_REPLICAS`]).
//!
//! - **Operations running at once** (`quota_operations`, default [`DEFAULT_OPERATIONS`], at
//!   most [`MAX_OPERATIONS`]): the operations that create (new images, versions, publishes,
//!   RPC captures and distributions), counted in the org's register, exactly under
//!   concurrency (`crate::ops::running`). Deletions are not refused for it.
//!
//! The RPC door also has its own quota of captures running at once (`builder_quota`).

use super::MAX_REPLICAS;
use super::index::View;
use crate::records::Store;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};

pub const DEFAULT_IMAGES: u32 = 1_000;
pub const DEFAULT_VERSIONS: u32 = 1_000;
/// Default of `quota_operations`: far above what a control plane runs at once (WUYING's
/// own default for captures is 20), small enough that the register stays a few KB.
pub const DEFAULT_OPERATIONS: u32 = 256;
/// The most `quota_operations` may be, as `builder_quota`'s: a register of about 50 bytes an
/// entry stays under 256 KB, within every backend's value limit.
pub const MAX_OPERATIONS: u32 = 5_000;
/// The most `quota_versions` may be: what an image record holds (`pages`: 64 sealed pages
/// of 64 versions).
pub const MAX_VERSIONS: u32 = (super::pages::PAGE * super::pages::MAX_PAGES) as u32;

/// The quotas of every org.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Quotas {
    pub images: u32,
    pub versions: u32,
    pub replicas: u32,
    pub operations: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            images: DEFAULT_IMAGES,
            versions: DEFAULT_VERSIONS,
            replicas: MAX_REPLICAS as u32,
            operations: DEFAULT_OPERATIONS,
        }
    }
}

/// A quota a request would exceed: the door answers it (REST 409 `*_QUOTA_EXCEEDED`, RPC
/// `QuotaExceed.Image`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    Images { quota: u32 },
    Versions { quota: u32 },
    Operations { quota: u32 },
}

impl Quotas {
    /// `quota_images`, `quota_versions` (1 to [`MAX_VERSIONS`]), `quota_replicas` (1 to
    /// [`MAX_REPLICAS`]) and `quota_operations` (1 to [`MAX_OPERATIONS`]) through `var`;
    /// absent or empty: the default.
    pub fn from_vars(var: &impl Fn(&str) -> Option<String>) -> Result<Quotas, String> {
        let mut q = Quotas::default();
        let read = |name: &str, max: u32| -> Result<Option<u32>, String> {
            match var(name) {
                Some(v) if !v.trim().is_empty() => match v.trim().parse::<u32>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(format!(
                        "variable {name} must be an integer from 1 to {max}, got {v:?}"
                    )),
                },
                _ => Ok(None),
            }
        };
        if let Some(n) = read("quota_images", u32::MAX)? {
            q.images = n;
        }
        if let Some(n) = read("quota_versions", MAX_VERSIONS)? {
            q.versions = n;
        }
        if let Some(n) = read("quota_replicas", MAX_REPLICAS as u32)? {
            q.replicas = n;
        }
        if let Some(n) = read("quota_operations", MAX_OPERATIONS)? {
            q.operations = n;
        }
        Ok(q)
    }

    /// Whether an image holding `count` versions may take one more.
    pub fn version_room(&self, count: u32) -> Result<(), Exceeded> {
        if count >= self.versions {
            Err(Exceeded::Versions {
                quota: self.versions,
            })
        } else {
            Ok(())
        }
    }
}

/// The images `org` lists (two reads: its index's counter and directory).
pub fn images_used(st: &Store<'_>, org: &str) -> Result<u64, StoreError> {
    Ok(View::open(st, org, false)?.total)
}

/// Claims room for operation `op_id` of `org` (`crate::ops::running`), before anything of
/// it is written.
pub fn claim_operation<'a>(
    st: &'a Store<'a>,
    org: &'a str,
    quotas: &Quotas,
    op_id: &'a str,
) -> Result<Result<crate::ops::running::Claim<'a>, Exceeded>, StoreError> {
    use crate::ops::running::{self, ClaimError};
    match running::claim(st, quotas.operations, org, op_id) {
        Ok(c) => Ok(Ok(c)),
        Err(ClaimError::Quota { quota }) => Ok(Err(Exceeded::Operations { quota })),
        Err(ClaimError::Store(e)) => Err(e),
    }
}

/// Whether `org` may create one more image.
pub fn image_room(
    st: &Store<'_>,
    org: &str,
    quotas: &Quotas,
) -> Result<Result<(), Exceeded>, StoreError> {
    let used = images_used(st, org)?;
    Ok(if used >= u64::from(quotas.images) {
        Err(Exceeded::Images {
            quota: quotas.images,
        })
    } else {
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_come_from_variables_within_their_bounds() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Quotas::from_vars(&vars(&[])).unwrap(), Quotas::default());
        let q = Quotas::from_vars(&vars(&[("quota_images", "5"), ("quota_replicas", "2")]));
        assert_eq!(q.unwrap().images, 5);
        for bad in [
            ("quota_images", "0"),
            ("quota_versions", "5000"),
            ("quota_replicas", "17"),
            ("quota_operations", "5001"),
            ("quota_images", "x"),
        ] {
            let e = Quotas::from_vars(&move |n: &str| (n == bad.0).then(|| bad.1.to_owned()));
            assert!(e.unwrap_err().contains(bad.0), "{bad:?}");
        }
    }

    #[test]
    fn an_image_may_take_versions_up_to_its_quota() {
        let q = Quotas {
            versions: 3,
            ..Quotas::default()
        };
        assert_eq!(q.version_room(2), Ok(()));
        assert_eq!(q.version_room(3), Err(Exceeded::Versions { quota: 3 }));
    }
}
