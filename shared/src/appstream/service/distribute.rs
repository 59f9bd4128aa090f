//! StartTaskForDistributeImage: an AVAILABLE version to known regions, one distribution per
//! region at a time. The operation is written first; then the version shows each region at
//! INIT 0% and the image lists the version as distributed.

use super::{Ctx, errors, valid_id};
use crate::appstream::RpcError;
use crate::appstream::params::StartTaskForDistributeImage;
use crate::catalog::{Image, RegionDistribution, RegionStatus, Version};
use crate::keys;
use crate::ops::{self, OpKind, Target};
use crate::records::Change;
use crate::sim;
use crate::vocab::{ImageStatus, rpc_image_status, rpc_version_status};
use serde_json::{Value, json};

/// Why `v` may not be distributed to `regions` now: one of them is already under way.
fn in_progress(v: &Version, regions: &[String]) -> Option<String> {
    v.regions
        .iter()
        .find(|r| {
            regions.contains(&r.region_id)
                && matches!(r.status, RegionStatus::Init | RegionStatus::Distributing)
        })
        .map(|r| {
            format!(
                "The image version {} is already being distributed to {}.",
                v.id, r.region_id
            )
        })
}

/// The version of `img` to distribute (the latest when none is named), unless absent.
fn version_of(
    ctx: &Ctx<'_>,
    img: &Image,
    r: &StartTaskForDistributeImage,
) -> Result<Version, RpcError> {
    let version_id = match &r.version_id {
        Some(v) => v.clone(),
        None => crate::catalog::pages::newest_id(&ctx.st, &ctx.org, img)?.unwrap_or_default(),
    };
    // The version record names its image: no need to look through the image's pages.
    let version = if valid_id(&version_id) {
        ctx.st
            .get::<Version>(&keys::version(&ctx.org, &version_id))?
            .map(|s| s.value)
            .filter(|v| v.stream_id == img.id)
    } else {
        None
    };
    version.ok_or_else(|| errors::version_not_exist(&version_id, &r.image_id))
}

pub fn distribute_image(ctx: &Ctx<'_>, r: &StartTaskForDistributeImage) -> Result<Value, RpcError> {
    let img = ctx.own_image(&r.image_id)?.value;
    let version = version_of(ctx, &img, r)?;
    let image_status = rpc_image_status(img.status);
    if image_status != "AVAILABLE" || rpc_version_status(version.status) != "AVAILABLE" {
        return Err(errors::distribute_not_allowed(format!(
            "The image {} is {image_status}; only AVAILABLE images can be distributed.",
            r.image_id
        )));
    }
    for region in &r.destination_regions {
        let known = valid_id(region) && sim::region(&ctx.st, &ctx.org, region)?.is_some();
        if !known {
            return Err(errors::region_not_exist(region));
        }
    }
    if let Some(why) = in_progress(&version, &r.destination_regions) {
        return Err(errors::distribute_not_allowed(why));
    }

    // The operation first: it is the source of truth, and its projections create the region
    // entries should the writes below fail.
    let op_id = ops::new_op_id(&ctx.st);
    let quotas = &ctx.settings.ops.quotas;
    let Ok(claim) = crate::catalog::quota::claim_operation(&ctx.st, &ctx.org, quotas, &op_id)?
    else {
        return Err(errors::operation_quota_exceeded(quotas));
    };
    ops::start(
        &ctx.st,
        &ctx.settings.ops,
        &op_id,
        &ctx.org,
        OpKind::Distribute,
        Target {
            image_id: img.id.clone(),
            version_id: Some(version.id.clone()),
            asset_ids: vec![],
            replica_asset_ids: vec![],
            regions: r.destination_regions.clone(),
            source_id: Some(img.id.clone()),
            provider_instance_id: None,
        },
    )?;
    // The operation is recorded: it is the source of truth from here on.
    claim.keep();
    let now = ctx.now();
    let regions = r.destination_regions.clone();
    let gone = || errors::image_not_exist(&r.image_id);
    // Shown at once as INIT 0% (the advancer moves them on).
    ctx.st
        .update::<Version, RpcError>(&keys::version(&ctx.org, &version.id), |v| {
            let mut v = v.clone();
            for region in &regions {
                let entry = RegionDistribution {
                    region_id: region.clone(),
                    status: RegionStatus::Init,
                    progress: 0,
                    operation_id: Some(op_id.clone()),
                };
                match v.regions.iter_mut().find(|e| e.region_id == *region) {
                    Some(e) => *e = entry,
                    None => v.regions.push(entry),
                }
            }
            v.operation_id = Some(op_id.clone());
            v.op_seq = 0;
            v.updated_at = now;
            Change::Write(v)
        })
        .map_err(|e| e.lift(gone))?;
    // Then the image: a concurrent DeleteImage that read the image before this write fails
    // its precondition and looks again (then it sees the distribution).
    // It also lists the version as distributed, for ListImage.
    ctx.st
        .update::<Image, RpcError>(&keys::image(&ctx.org, &img.id), |i| {
            if i.status == ImageStatus::Deleting {
                // The image went away (is being deleted) while the distribution was recorded.
                return Change::Abort(gone());
            }
            let mut i = i.clone();
            i.updated_at = now;
            if !i.distributed_version_ids.contains(&version.id) {
                // Bounded (`catalog::MAX_DISTRIBUTED`): the oldest distributed version
                // leaves ListImage's region list first.
                if i.distributed_version_ids.len() >= crate::catalog::MAX_DISTRIBUTED {
                    i.distributed_version_ids.remove(0);
                }
                i.distributed_version_ids.push(version.id.clone());
            }
            Change::Write(i)
        })
        .map_err(|e| e.lift(gone))?;
    Ok(json!(op_id))
}
