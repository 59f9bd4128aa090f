//! The imagemgmt operations, by resource: `images` (create, list, get, patch, delete),
//! `versions` (Add Version, list, get, patch, delete, copies, operations) and `publish`
//! (publish, republish, clone). Every operation refuses with the one [`RestError`], mapped
//! to HTTP once (`error`); `render` shows records as the API does and `build` makes new
//! ones. Records are created only under fresh random ids or slots elected with
//! `increment` (R1); parents that already exist are changed by compare-and-swap.

mod build;
mod error;
mod images;
mod publish;
mod render;
mod versions;

pub use error::RestError;
pub use images::{IMAGE_LIST, create_image, delete_image, get_image, list_images, patch_image};
pub use publish::{clone, clone_from, publish, republish};
pub use render::{asset_json, image_json, version_json};
pub use versions::{
    COPY_LIST, VERSION_LIST, add_version, delete_version, get_operation, get_version, list_copies,
    list_versions, patch_version,
};

use crate::catalog::{Image, Version};
use crate::conditional::Preconditions;
use crate::keys;
use crate::ops::Settings;
use crate::records::{Seen, Stored};
use crate::store::StoreError;
use serde_json::Value;

/// What a service hands to the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// The record's write token, shown as `ETag`.
    pub etag: Option<String>,
    /// The operation behind a 201/202, shown as `Operation-Location`.
    pub operation_id: Option<String>,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply {
            status: 200,
            body,
            etag: None,
            operation_id: None,
        }
    }

    /// A record as read: 200 with its write token as `ETag`.
    fn tagged(body: Value, token: String) -> Self {
        Reply {
            etag: Some(token),
            ..Reply::ok(body)
        }
    }

    /// A 201/202 for work that operation `op_id` carries on.
    fn started(status: u16, body: Value, op_id: String) -> Self {
        Reply {
            status,
            body,
            etag: None,
            operation_id: Some(op_id),
        }
    }
}

/// Everything an operation needs: the ports, the settings and the caller's org.
pub type Ctx<'a> = crate::catalog::Ctx<'a, Settings>;

impl Ctx<'_> {
    /// The image with its stored bytes: the one the access check handed on, else read.
    fn image_seen(&self, id: &str) -> Result<Option<Seen<Image>>, StoreError> {
        let key = keys::image(&self.org, id);
        let s = match self.handed.take(&key) {
            Some(seen) => Some(seen),
            None => self.st.get_seen::<Image>(&key)?,
        };
        // Keys are org-scoped; the check keeps a foreign record hidden even if one leaked in.
        Ok(s.filter(|s| s.stored.value.org_id == self.org))
    }

    fn image(&self, id: &str) -> Result<Option<Stored<Image>>, StoreError> {
        Ok(self.image_seen(id)?.map(|s| s.stored))
    }

    fn version(&self, image_id: &str, id: &str) -> Result<Option<Stored<Version>>, StoreError> {
        let key = keys::version(&self.org, id);
        let s = match self.handed.take_version(&key) {
            Some(read) => read,
            None => self.st.get::<Version>(&key)?,
        };
        Ok(s.filter(|s| s.value.org_id == self.org && s.value.stream_id == image_id))
    }

    /// Spends `records` of the org's scan budget before a listing reads them, or 429
    /// `SCAN_LIMIT_REACHED` (`crate::ratelimit`, "Scans").
    fn charge_scan(&self, records: u64) -> Result<(), RestError> {
        match crate::ratelimit::charge_scan(&self.st, self.settings, &self.org, records) {
            crate::ratelimit::Verdict::Pass => Ok(()),
            crate::ratelimit::Verdict::Throttled { retry_after_s } => {
                Err(RestError::ScanLimitReached(retry_after_s))
            }
        }
    }

    /// Claims room for new operation `op_id` in the org's quota of operations running at
    /// once, or 409 `OPERATION_QUOTA_EXCEEDED` (`crate::ops::running`).
    fn claim_operation<'a>(
        &'a self,
        op_id: &'a str,
    ) -> Result<crate::ops::running::Claim<'a>, RestError> {
        crate::catalog::quota::claim_operation(&self.st, &self.org, &self.settings.quotas, op_id)?
            .map_err(RestError::Quota)
    }

    /// The image, or 404 `IMAGE_NOT_FOUND`.
    fn found_image(&self, id: &str) -> Result<Stored<Image>, RestError> {
        self.image(id)?.ok_or(RestError::NotFound("image"))
    }

    /// [`Ctx::found_image`] with the bytes read, for a compare-and-swap from this read.
    fn found_image_seen(&self, id: &str) -> Result<Seen<Image>, RestError> {
        self.image_seen(id)?.ok_or(RestError::NotFound("image"))
    }

    /// The image and one of its versions, or 404 naming the first that is missing.
    fn found_version(
        &self,
        image_id: &str,
        id: &str,
    ) -> Result<(Stored<Image>, Stored<Version>), RestError> {
        let img = self.found_image(image_id)?;
        let v = self
            .version(image_id, id)?
            .ok_or(RestError::NotFound("version"))?;
        Ok((img, v))
    }
}

/// Checks `If-Match` and `If-None-Match` against the record as read (`crate::conditional`):
/// 412 when they do not hold.
fn check_preconditions<T>(pre: Preconditions<'_>, seen: &Stored<T>) -> Result<(), RestError> {
    if pre.pass(&seen.token) {
        Ok(())
    } else {
        Err(RestError::PreconditionFailed)
    }
}
