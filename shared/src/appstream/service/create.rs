//! CreateImageByInstance: the checks ([`capture`]), a capture slot in the org's register,
//! then the records through the shared new-image write path (`catalog::write`).
//!
//! Running captures are tracked per org in one register record (created once, elected with
//! `increment`, R1; then changed by compare-and-swap), which makes "one capture per instance"
//! and "at most N per org" a single atomic decision. An entry is released when its operation
//! ends: a claim prunes ended entries when it needs the room ([`claim_capture`]).

use super::{Ctx, errors, valid_id};
use crate::appstream::RpcError;
use crate::appstream::capture::{self, Resolved};
use crate::appstream::params::{CreateImageByInstance, Tag as ParamTag};
use crate::catalog::quota::{self, Exceeded};
use crate::catalog::{Asset, AssetDetails, Image, Tag, Version, write};
use crate::env::Millis;
use crate::keys;
use crate::ops::{self, OpKind, Operation, Target};
use crate::records::Change;
use crate::sim;
use crate::store::StoreError;
use crate::vocab::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// A register entry whose operation record never appeared (its request died between the
/// claim and `ops::start`) stops counting after this long: the same grace as the org's
/// register of running operations.
pub use crate::ops::running::CLAIM_GRACE_MS;

/// The org's running captures (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaptureRegister {
    #[serde(default)]
    pub running: Vec<RunningCapture>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningCapture {
    pub instance_id: String,
    pub op_id: String,
    pub image_id: String,
    pub claimed_at: Millis,
}

/// Makes sure the register exists (created once, R1:
/// [`Store::ensure_created`](crate::records::Store::ensure_created)).
fn ensure_register(ctx: &Ctx<'_>) -> Result<(), StoreError> {
    ctx.st.ensure_created::<CaptureRegister>(
        &keys::rpc_captures_claim(&ctx.org),
        &keys::rpc_captures(&ctx.org),
    )
}

/// Whether a register entry still counts, given the operations read for it.
fn still_running(entry: &RunningCapture, ops: &[(String, Option<Operation>)], now: Millis) -> bool {
    match ops.iter().find(|(id, _)| *id == entry.op_id) {
        Some((_, Some(op))) => !op.status.is_terminal(),
        // Not (yet) written: the claimant is still at work, unless that was long ago.
        Some((_, None)) => now.saturating_sub(entry.claimed_at) < CLAIM_GRACE_MS,
        // Added after our read: certainly recent.
        None => true,
    }
}

/// Takes a capture slot for `instance_id` (one per instance, `builder_quota` per org) in one
/// compare-and-swap, pruning entries whose operation has ended.
///
/// Ended entries are pruned lazily, so a claim reads only the operations it must to decide:
/// the one of an entry on the same instance (still running: `TaskExist`), and every one
/// only when the register is at the quota. So a claim below the quota reads at most one
/// operation, and the register holds at most `builder_quota` entries, ended or not: its
/// size and a claim's reads are bounded by the quota, never by the captures an org ever ran.
pub(super) fn claim_capture(ctx: &Ctx<'_>, entry: RunningCapture) -> Result<(), RpcError> {
    let mut every = false;
    let mut created = false;
    loop {
        match try_claim(ctx, &entry, every)? {
            Claimed::Yes => return Ok(()),
            // The org's first capture: the register is created once, then read again (a
            // read of its presence on every claim would cost every capture a call).
            Claimed::NoRegister if !created => {
                ensure_register(ctx)?;
                created = true;
            }
            // The register filled up after our read: decide again with every entry's
            // operation.
            Claimed::NeedsEveryOperation if !every => every = true,
            Claimed::NoRegister | Claimed::NeedsEveryOperation => {
                return Err(errors::store_busy("register"));
            }
        }
    }
}

enum Claimed {
    Yes,
    NoRegister,
    NeedsEveryOperation,
}

/// One claim from one read of the register: `every` reads every entry's operation (else
/// only those [`claim_capture`] needs).
fn try_claim(ctx: &Ctx<'_>, entry: &RunningCapture, every: bool) -> Result<Claimed, RpcError> {
    let key = keys::rpc_captures(&ctx.org);
    let quota = usize::try_from(ctx.settings.builder_quota).unwrap_or(usize::MAX);
    let Some(current) = ctx.st.get::<CaptureRegister>(&key)?.map(|s| s.value) else {
        return Ok(Claimed::NoRegister);
    };
    let every = every || current.running.len() >= quota;
    let read: Vec<&RunningCapture> = current
        .running
        .iter()
        .filter(|e| every || e.instance_id == entry.instance_id)
        .collect();
    let op_keys: Vec<String> = read
        .iter()
        .map(|e| keys::operation(&ctx.org, &e.op_id))
        .collect();
    let ops: Vec<(String, Option<Operation>)> = read
        .iter()
        .map(|e| e.op_id.clone())
        .zip(ctx.get_all::<Operation>(&op_keys)?)
        .collect();
    let now = ctx.st.now_ms();
    let mut needs_every = false;
    let r = ctx
        .st
        .update::<CaptureRegister, RpcError>(&key, |reg| {
            needs_every = false;
            let mut running: Vec<RunningCapture> = reg
                .running
                .iter()
                .filter(|e| still_running(e, &ops, now))
                .cloned()
                .collect();
            if running.iter().any(|e| e.instance_id == entry.instance_id) {
                return Change::Abort(errors::task_exist(&entry.instance_id));
            }
            if running.len() >= quota {
                // Entries whose operation was not read count as running: refuse only
                // after reading them all.
                needs_every = !every;
                return Change::Abort(errors::exceed_builder_quota(ctx.settings.builder_quota));
            }
            running.push(entry.clone());
            Change::Write(CaptureRegister { running })
        })
        .map(|_| ())
        .map_err(|e| e.lift(|| errors::store_busy("register")));
    match r {
        Err(_) if needs_every => Ok(Claimed::NeedsEveryOperation),
        Err(e) => Err(e),
        Ok(()) => Ok(Claimed::Yes),
    }
}

/// Gives a claim back (best effort) when the capture could not be recorded.
fn release_capture(ctx: &Ctx<'_>, op_id: &str) {
    let _ = ctx
        .st
        .update::<CaptureRegister, ()>(&keys::rpc_captures(&ctx.org), |reg| {
            if !reg.running.iter().any(|e| e.op_id == op_id) {
                return Change::Unchanged;
            }
            let mut reg = reg.clone();
            reg.running.retain(|e| e.op_id != op_id);
            Change::Write(reg)
        });
}

fn to_tags(tags: &[ParamTag]) -> Vec<Tag> {
    tags.iter()
        .map(|t| Tag {
            key: t.key.clone(),
            value: t.value.clone(),
        })
        .collect()
}

/// Reads the instance and checks it against the request, in the vendor's order
/// ([`capture::resolve`]); returns it with the request's defaults applied.
fn check_instance(
    ctx: &Ctx<'_>,
    r: &CreateImageByInstance,
) -> Result<(sim::Instance, Resolved), RpcError> {
    let inst = if valid_id(&r.instance_id) {
        sim::instance(&ctx.st, &ctx.org, &r.instance_id)?
    } else {
        None
    };
    let Some(inst) = inst else {
        return Err(capture::instance_not_found(r, ""));
    };
    let resolved = capture::resolve(r, &inst, ctx.st.now_ms())?;
    Ok((inst, resolved))
}

/// The records of a capture, built (not written).
struct CaptureRecords {
    image: Image,
    version: Version,
    asset: Asset,
    op_id: String,
}

fn build_capture(
    ctx: &Ctx<'_>,
    r: &CreateImageByInstance,
    (inst, resolved): (&sim::Instance, &Resolved),
    ids: (String, String, String),
) -> CaptureRecords {
    let (image_id, version_id, op_id) = ids;
    let now = ctx.now();
    let asset_id = ctx.st.new_id("ast-");
    let mut extra = Map::new();
    extra.insert("imageCreateMode".into(), json!("BY_INSTANCE_ID"));
    extra.insert("instanceId".into(), json!(r.instance_id));
    extra.insert(
        "instanceType".into(),
        json!(resolved.instance_type.as_str()),
    );
    extra.insert("diskType".into(), json!(r.disk_type.as_str()));
    extra.insert("autoCleanUserdata".into(), json!(r.auto_clean_userdata));
    if let Some(s) = &r.sub_instance_id {
        extra.insert("subInstanceId".into(), json!(s));
    }
    extra.insert("productType".into(), json!(resolved.product_type));
    if let Some(b) = r.biz_type {
        extra.insert("bizType".into(), json!(b));
    }
    let image = Image {
        id: image_id.clone(),
        org_id: ctx.org.clone(),
        name: resolved.image_name.clone(),
        description: r.description.clone(),
        os: None,
        os_type: inst.os_type,
        gpu_type: GpuType::None,
        multi_session: false,
        source_type: SourceType::ImportedVms,
        source_stream_id: None,
        source_version_id: None,
        status: ImageStatus::Pending,
        markers: vec![],
        version_count: 1,
        created_at: now,
        updated_at: now,
        version_ids: vec![version_id.clone()],
        version_statuses: Default::default(),
        distributed_version_ids: vec![],
        tail_span: Some([now; 2]),
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: to_tags(&r.tags),
        extra,
    };
    let at = write::Placement {
        org: &ctx.org,
        image_id: &image_id,
        op_id: &op_id,
        kind: OpKind::CaptureByInstance,
        now,
    };
    let draft = write::VersionDraft {
        name: "1.0.0".into(),
        description: r.description.clone(),
        os: None,
        version_type: VersionType::Major,
        history: vec![],
        source_type: SourceType::ImportedVms,
        source_version_id: None,
        last_action: LastTriggeredAction::Import,
        partner_image: None,
    };
    let version = write::new_version(at, version_id.clone(), asset_id.clone(), draft);
    let mut data = Map::new();
    data.insert("instanceId".into(), json!(r.instance_id));
    let status = write::first_asset_status(OpKind::CaptureByInstance);
    let asset = Asset {
        asset_details: AssetDetails {
            asset_type: None,
            data,
        },
        ..write::new_asset(at, asset_id, &version_id, status)
    };
    CaptureRecords {
        image,
        version,
        asset,
        op_id,
    }
}

/// Writes a capture's records like the REST door writes a new image: records under fresh
/// ids, the operation, then the index slot (a listed id always names a written image).
fn write_capture(ctx: &Ctx<'_>, c: &CaptureRecords, instance_id: &str) -> Result<(), StoreError> {
    // Version numbering is shared with the REST door: this image's first major is taken.
    write::first_major(&ctx.st, &ctx.org, &c.image.id)?;
    let new = write::NewImage {
        org: &ctx.org,
        image: &c.image,
        version: &c.version,
        asset: &c.asset,
        op_id: &c.op_id,
        kind: OpKind::CaptureByInstance,
        target: Target {
            image_id: c.image.id.clone(),
            version_id: Some(c.version.id.clone()),
            asset_ids: vec![c.asset.id.clone()],
            source_id: Some(instance_id.to_owned()),
            ..Target::default()
        },
    };
    write::write_new_image(&ctx.st, &ctx.settings.ops, new)
}

pub fn create_image_by_instance(
    ctx: &Ctx<'_>,
    r: &CreateImageByInstance,
) -> Result<Value, RpcError> {
    capture::check_lengths(r)?;
    let (inst, resolved) = check_instance(ctx, r)?;
    // The org's image quota, before anything is recorded (`catalog::quota`).
    if let Err(Exceeded::Images { quota }) =
        quota::image_room(&ctx.st, &ctx.org, &ctx.settings.ops.quotas)?
    {
        return Err(errors::image_quota_exceeded(quota));
    }
    let image_id = ctx.st.new_id("imgc-");
    let version_id = ctx.st.new_id("iv-");
    let op_id = ops::new_op_id(&ctx.st);
    let claim = match quota::claim_operation(&ctx.st, &ctx.org, &ctx.settings.ops.quotas, &op_id)? {
        Ok(c) => c,
        Err(_) => {
            return Err(errors::exceed_builder_quota_of_operations(
                &ctx.settings.ops.quotas,
            ));
        }
    };
    claim_capture(
        ctx,
        RunningCapture {
            instance_id: r.instance_id.clone(),
            op_id: op_id.clone(),
            image_id: image_id.clone(),
            claimed_at: ctx.st.now_ms(),
        },
    )?;
    let c = build_capture(
        ctx,
        r,
        (&inst, &resolved),
        (image_id, version_id, op_id.clone()),
    );
    if let Err(e) = write_capture(ctx, &c, &r.instance_id) {
        release_capture(ctx, &c.op_id);
        return Err(errors::record_not_written(&e));
    }
    claim.keep();
    Ok(json!({
        "ImageId": c.image.id,
        "VersionId": c.version.id,
        "TaskId": c.op_id,
    }))
}
