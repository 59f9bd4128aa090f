//! DeleteImage: refused while a capture, another operation or a distribution runs on a
//! version; otherwise the shared image deletion (`catalog::deletion`) starts.

use super::{Ctx, errors};
use crate::appstream::RpcError;
use crate::appstream::params::DeleteImage;
use crate::catalog::deletion::{self, DeleteRefusal};
use crate::catalog::{self, RegionStatus, Version};
use crate::vocab::VersionStatus;
use serde_json::{Value, json};

/// Why the image may not be deleted now: a capture or another operation still runs on a
/// version, or a distribution is under way.
fn busy(versions: &[Version]) -> Option<&'static str> {
    for v in versions {
        if v.status != VersionStatus::Deleting && !catalog::version_is_settled(v.status) {
            return Some("a task (capture) is still running on it");
        }
        if v.regions
            .iter()
            .any(|r| matches!(r.status, RegionStatus::Init | RegionStatus::Distributing))
        {
            return Some("a distribution to regions is still running");
        }
    }
    None
}

pub fn delete_image(ctx: &Ctx<'_>, r: &DeleteImage) -> Result<Value, RpcError> {
    // Two rounds: a distribution that started between our read and our delete changes the
    // image record (see `distribute_image`), so the delete's precondition fails and the
    // second round sees the distribution.
    for _ in 0..2 {
        let img = ctx.own_image(&r.image_id)?;
        let versions = ctx.versions(&img.value)?;
        if let Some(why) = busy(&versions) {
            return Err(errors::delete_not_allowed(&r.image_id, why));
        }
        let started = deletion::start_image_deletion(
            &ctx.st,
            &ctx.settings.ops,
            &ctx.org,
            &r.image_id,
            Some(&img.value),
        );
        match started {
            Ok(_) => return Ok(json!(true)),
            Err(DeleteRefusal::NotFound | DeleteRefusal::AlreadyDeleting) => {
                return Err(errors::image_not_exist(&r.image_id));
            }
            Err(DeleteRefusal::MarkerInUse(m)) => {
                return Err(errors::delete_not_allowed(
                    &r.image_id,
                    &format!("its marker {m} is bound to desktop pools"),
                ));
            }
            Err(DeleteRefusal::Store(e)) => return Err(e.into()),
            Err(DeleteRefusal::PreconditionFailed) => continue,
        }
    }
    Err(errors::store_busy("image changed while deleting"))
}
