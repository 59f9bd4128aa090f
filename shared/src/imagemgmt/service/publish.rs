//! Publishing a version (10), republishing it to more replicas (11), and cloning it into a
//! new version or a new image (12).

use super::build::{
    NewVersion, attach_version, build_version, check_version_room, check_writable, elect_number,
    pending_image, write_new_image,
};
use super::render::version_json;
use super::versions::assets_of;
use super::{Ctx, Reply, RestError};
use crate::api::Problem;
use crate::catalog::{
    Asset, AssetDetails, Image, MAX_REPLICAS, StatusEntry, Version, allowed_actions, write,
};
use crate::imagemgmt::input::*;
use crate::keys;
use crate::ops::{self, OpKind, Target};
use crate::records::{Change, UpdateError};
use crate::vocab::*;
use serde_json::Value;

// ---------------------------------------------------------------------------------------
// 10, 11. Publish and republish
// ---------------------------------------------------------------------------------------

/// What a publishing action starts from and answers.
struct Action {
    /// The statuses the version must be in.
    needed: &'static [VersionStatus],
    /// The same, as the 412's message words it.
    needed_text: &'static str,
    /// The success status.
    status: u16,
    /// The body's list of replicas, as a refusal names it.
    field: &'static str,
}

const PUBLISH: Action = Action {
    needed: &[VersionStatus::ImportComplete],
    needed_text: "IMPORT_COMPLETE",
    status: 201,
    field: "replicas",
};

const REPUBLISH: Action = Action {
    needed: &[
        VersionStatus::Available,
        VersionStatus::PartiallyAvailable,
        VersionStatus::Failed,
    ],
    needed_text: "AVAILABLE, PARTIALLY_AVAILABLE or FAILED",
    status: 202,
    field: "additionalReplicas",
};

pub fn publish(ctx: &Ctx<'_>, image_id: &str, id: &str, body: &Value) -> Result<Reply, RestError> {
    let req = PublishRequest::parse(body).map_err(RestError::Invalid)?;
    let description = req.description.as_ref();
    publish_version(ctx, image_id, id, &PUBLISH, &req.replicas, description)
}

pub fn republish(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    body: &Value,
) -> Result<Reply, RestError> {
    let req = RepublishRequest::parse(body).map_err(RestError::Invalid)?;
    publish_version(
        ctx,
        image_id,
        id,
        &REPUBLISH,
        &req.additional_replicas,
        None,
    )
}

fn publish_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    action: &Action,
    replicas: &[Id],
    description: Option<&Description>,
) -> Result<Reply, RestError> {
    let (img, seen) = ctx.found_version(image_id, id)?;
    if !action.needed.contains(&seen.value.status) {
        return Err(RestError::WrongStatus(
            seen.value.status,
            action.needed_text,
        ));
    }
    let (v, op) = start_publish(ctx, image_id, &seen.value, action, replicas, description)?;
    let body = version_json(&v, Some(&img.value));
    Ok(Reply::started(action.status, body, op))
}

/// Refuses, before anything is written, replicas beyond the org's quota (`quota_replicas`,
/// at most [`MAX_REPLICAS`]) for the version
/// (`held` it has, `wanted` new ones) and any named provider instance the org's inventory
/// lacks (both 422 naming the field; at most `MAX_REPLICAS` reads, in one batch).
fn check_replicas(
    ctx: &Ctx<'_>,
    field: &str,
    named: &[Id],
    wanted: &[String],
    held: usize,
) -> Result<(), RestError> {
    let quota = usize::try_from(ctx.settings.quotas.replicas)
        .unwrap_or(MAX_REPLICAS)
        .min(MAX_REPLICAS);
    if held + wanted.len() > quota {
        return Err(RestError::Invalid(Problem::unprocessable(
            field,
            "REPLICA_LIMIT_REACHED",
            format!(
                "a version has at most {quota} replicas (quota_replicas); it has {held}, and {} more were named",
                wanted.len()
            ),
        )));
    }
    let keys: Vec<String> = named
        .iter()
        .map(|pi| keys::provider_instance(&ctx.org, &pi.to_string()))
        .collect();
    let found = ctx.st.get_many_raw(&keys)?;
    if let Some(i) = found.iter().position(Option::is_none) {
        return Err(RestError::Invalid(Problem::unprocessable(
            &format!("{field}[{i}].providerInstanceId"),
            "PROVIDER_INSTANCE_NOT_FOUND",
            format!("the org has no provider instance {}", named[i]),
        )));
    }
    Ok(())
}

/// Writes replica assets, moves the version into publishing and starts the operation.
fn start_publish(
    ctx: &Ctx<'_>,
    image_id: &str,
    seen: &Version,
    action: &Action,
    new_replicas: &[Id],
    description: Option<&Description>,
) -> Result<(Version, String), RestError> {
    use RestError as E;
    let now = ctx.now();
    let op_id = ops::new_op_id(&ctx.st);
    let existing = assets_of(ctx, seen)?;
    let Some(source_asset) = existing.first().cloned() else {
        return Err(E::WrongStatus(seen.status, "an asset to publish from"));
    };
    let mut replica_ids: Vec<String> = existing.iter().skip(1).map(|a| a.id.clone()).collect();
    let mut wanted: Vec<String> = new_replicas.iter().map(|r| r.to_string()).collect();
    if wanted.is_empty() && replica_ids.is_empty() {
        // No replica named: publish into the instance the VM lives in.
        wanted.extend(source_asset.provider_instance_id.clone());
    }
    let is_replica = |pi: &str| {
        existing
            .iter()
            .skip(1)
            .any(|a| a.provider_instance_id.as_deref() == Some(pi))
    };
    wanted.retain(|pi| !is_replica(pi));
    check_replicas(ctx, action.field, new_replicas, &wanted, replica_ids.len())?;
    let claim = ctx.claim_operation(&op_id)?;
    let mut new_assets = Vec::new();
    for pi in wanted {
        let id = ctx.st.new_id("ast-");
        let status = AssetStatus::PublishInProgress;
        let asset = Asset {
            provider_instance_id: Some(pi),
            provider_label: source_asset.provider_label,
            asset_details: AssetDetails {
                asset_type: Some(AssetType::AzureImageReplicaInSig),
                data: Default::default(),
            },
            ..write::new_asset(
                write::Placement {
                    org: &ctx.org,
                    image_id,
                    op_id: &op_id,
                    kind: OpKind::Publish,
                    now,
                },
                id,
                &seen.id,
                status,
            )
        };
        ctx.st.put_new(&keys::asset(&ctx.org, &asset.id), &asset)?;
        replica_ids.push(asset.id.clone());
        new_assets.push(asset.id);
    }
    let (vs, asset_status) = ops::initial_statuses(OpKind::Publish);
    let status = vs.unwrap_or(VersionStatus::PublishInProgress);
    let version = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, &seen.id), |v| {
            if !action.needed.contains(&v.status) {
                return Change::Abort(E::WrongStatus(v.status, action.needed_text));
            }
            let mut v = v.clone();
            v.status = status;
            v.last_triggered_action = Some(LastTriggeredAction::Publish);
            v.operation_id = Some(op_id.clone());
            v.op_seq = 0;
            for a in &new_assets {
                if !v.asset_ids.contains(a) {
                    v.asset_ids.push(a.clone());
                }
            }
            if let Some(d) = description {
                v.description = Some(d.to_string());
            }
            v.allowed_actions = allowed_actions(status);
            v.record_status(StatusEntry {
                status,
                asset_status,
                at: now,
            });
            v.updated_at = now;
            Change::Write(v)
        });
    let version = match version {
        Ok(v) => v.value,
        Err(e) => {
            for a in &new_assets {
                let _ = ctx.st.delete(&keys::asset(&ctx.org, a));
            }
            return Err(e.lift(|| E::NotFound("version")));
        }
    };
    let r = ctx
        .st
        .update::<Asset, ()>(&keys::asset(&ctx.org, &source_asset.id), |a| {
            let mut a = a.clone();
            if let Some(s) = asset_status {
                a.status = s;
            }
            a.operation_id = Some(op_id.clone());
            a.op_seq = 0;
            a.updated_at = now;
            Change::Write(a)
        });
    // Only a store failure stops the publish; the source asset otherwise follows the
    // operation.
    if let Err(UpdateError::Store(e)) = r {
        return Err(e.into());
    }
    let target = Target {
        image_id: image_id.to_owned(),
        version_id: Some(seen.id.clone()),
        asset_ids: vec![source_asset.id.clone()],
        replica_asset_ids: replica_ids,
        regions: vec![],
        // The simulator's failure rules name a provider source: a published version's is
        // the VM (or gallery image) its imported asset came from.
        source_id: provider_source_of(&source_asset),
        provider_instance_id: source_asset.provider_instance_id.clone(),
    };
    ops::start(
        &ctx.st,
        ctx.settings,
        &op_id,
        &ctx.org,
        OpKind::Publish,
        target,
    )?;
    claim.keep();
    Ok((version, op_id))
}

/// The provider source an asset was made from (`vmId` or `sourceImageVersionId`).
fn provider_source_of(asset: &Asset) -> Option<String> {
    ["vmId", "sourceImageVersionId"]
        .iter()
        .find_map(|k| asset.asset_details.data.get(*k)?.as_str())
        .map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// 12. Clone
// ---------------------------------------------------------------------------------------

pub fn clone(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    action: Option<&str>,
    body: &Value,
) -> Result<Reply, RestError> {
    clone_from(ctx, ctx, image_id, id, action, body)
}

/// A clone whose source is read through `from` (the caller's org, or the platform's for a
/// shared image: `clone-image` only) and whose result is written to `ctx`'s org.
pub fn clone_from(
    ctx: &Ctx<'_>,
    from: &Ctx<'_>,
    image_id: &str,
    id: &str,
    action: Option<&str>,
    body: &Value,
) -> Result<Reply, RestError> {
    let req = CloneRequest::parse(body, action).map_err(RestError::Invalid)?;
    let (img, src) = from.found_version(image_id, id)?;
    let (img, src) = (img.value, src.value);
    if !allowed_actions(src.status).iter().any(|a| a == "CLONE") {
        return Err(RestError::StatusForbids(src.status, "cloned"));
    }
    let src_asset = match src.asset_ids.first() {
        Some(a) => from
            .st
            .get::<Asset>(&keys::asset(&from.org, a))?
            .map(|s| s.value),
        None => None,
    };
    let history = src.lineage();
    // A clone is a new VM from the source's bits: it ends IMPORT_COMPLETE, ready to be
    // customised and published (no provider source to check, so `source_id` is none).
    let new = NewVersion {
        version_type: VersionType::Major,
        history,
        source_type: SourceType::CopiedFromVersion,
        source_version_id: Some(src.id.clone()),
        description: req
            .description
            .map(Description::into_string)
            .or(src.description.clone()),
        os: src.os.clone(),
        kind: OpKind::ImportVm,
        last_action: LastTriggeredAction::Clone,
        provider_instance_id: src_asset
            .as_ref()
            .and_then(|a| a.provider_instance_id.clone()),
        provider_label: src_asset.as_ref().and_then(|a| a.provider_label),
        asset_details: AssetDetails {
            asset_type: Some(AssetType::AzureVmInRg),
            data: Default::default(),
        },
        source_id: None,
        // A clone keeps what the partner supplied for its source.
        partner_image: src.partner_image.clone(),
    };
    match req.target {
        CloneTarget::Image(name) => {
            let image = Image {
                description: img.description.clone(),
                os: img.os.clone(),
                multi_session: img.multi_session,
                source_stream_id: Some(img.id.clone()),
                source_version_id: Some(src.id.clone()),
                ..pending_image(
                    ctx,
                    name.into_string(),
                    img.source_type,
                    img.os_type,
                    img.gpu_type,
                )
            };
            let (body, op) = write_new_image(ctx, image, new)?;
            Ok(Reply::started(201, body, op))
        }
        CloneTarget::Version(numbering) => clone_version(ctx, image_id, &img, &src, numbering, new),
    }
}

/// A clone into a new version of the source's own image.
fn clone_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    img: &Image,
    src: &Version,
    numbering: Numbering,
    mut new: NewVersion,
) -> Result<Reply, RestError> {
    check_writable(img.status)?;
    check_version_room(ctx, img)?;
    let op_id = ops::new_op_id(&ctx.st);
    let claim = ctx.claim_operation(&op_id)?;
    let number = elect_number(ctx, image_id, &numbering, Some(src))?;
    if numbering == Numbering::Minor {
        new.version_type = VersionType::Minor;
    }
    let b = build_version(ctx, image_id, number, new, op_id.clone());
    b.put(ctx)?;
    let img = match attach_version(
        ctx,
        image_id,
        &b.version.id,
        &[],
        b.version.created_at,
        None,
    ) {
        Ok(i) => i.value,
        Err(e) => {
            b.discard(ctx);
            return Err(e);
        }
    };
    b.start(ctx)?;
    claim.keep();
    let body = version_json(&b.version, Some(&img));
    Ok(Reply::started(201, body, b.op_id))
}
