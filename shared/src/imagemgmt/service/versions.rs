//! Versions: Add Version (6), list (7), get (8), PATCH (9), DELETE (13), a version's copies
//! (14) and operations (15).

use super::build::{
    Built, NewVersion, attach_version, build_version, check_marker_room, check_version_room,
    check_writable, elect_number, kind_for, new_marker, taken_marker,
};
use super::images::start_image_deletion;
use super::render::{added_version_json, asset_json, version_json};
use super::{Ctx, Reply, RestError, check_preconditions};
use crate::api::Problem;
use crate::catalog::deletion::{self, DeleteRefusal};
use crate::catalog::pages;
use crate::catalog::{Asset, Image, Marker, Version, allowed_actions};
use crate::conditional::Preconditions;
use crate::imagemgmt::input::*;
use crate::imagemgmt::partner;
use crate::imagemgmt::query::{ListQuery, ListSpec, envelope};
use crate::keys;
use crate::ops::{self, OpKind, Target};
use crate::records::{Change, Stored};
use crate::vocab::*;
use serde_json::{Value, json};

pub const VERSION_LIST: ListSpec = ListSpec {
    sort_fields: &[
        "name",
        "createdAt",
        "updatedAt",
        "status",
        "state",
        "versionType",
    ],
    search_fields: &["name", "status", "state", "versionType", "sourceType"],
};

pub const COPY_LIST: ListSpec = ListSpec {
    sort_fields: &["createdAt", "updatedAt", "status", "providerInstanceId"],
    search_fields: &["status", "providerInstanceId", "providerLabel"],
};

// ---------------------------------------------------------------------------------------
// Reads: 7, 8, 14, 15
// ---------------------------------------------------------------------------------------

/// The most versions a sorted (other than by `createdAt`) or searched listing reads: past
/// it such a listing is refused (400 naming `sort` / `search`); the default order is served
/// from the image's own list of version ids, reading only the page.
pub const MAX_SCANNED_VERSIONS: u32 = 256;

/// Lists an image's versions. In the order they were added (`createdAt`, either way, the
/// default) it reads the image's id list (the image and its pages: one batch) and the page's
/// versions only; a search or another sort reads every version, so it is refused on an
/// image of more than [`MAX_SCANNED_VERSIONS`].
pub fn list_versions(
    ctx: &Ctx<'_>,
    image_id: &str,
    pairs: &[(String, String)],
) -> Result<Reply, RestError> {
    let q = ListQuery::parse(pairs, &VERSION_LIST).map_err(RestError::Invalid)?;
    let img = ctx.found_image(image_id)?.value;
    let in_added_order = q.search.is_empty()
        && q.sort
            .as_ref()
            .is_none_or(|(field, _)| field == "createdAt");
    if in_added_order {
        let mut ids = pages::all_ids(&ctx.st, &ctx.org, &img)?;
        if q.sort.as_ref().is_some_and(|(_, asc)| !asc) {
            ids.reverse();
        }
        let total = u64::try_from(ids.len()).unwrap_or(u64::MAX);
        let keys: Vec<String> = ids
            .iter()
            .skip(q.offset())
            .take(q.size)
            .map(|id| keys::version(&ctx.org, id))
            .collect();
        let content = ctx
            .st
            .get_many::<Version>(&keys)?
            .into_iter()
            .flatten()
            .filter(|v| v.value.stream_id == img.id && v.value.org_id == ctx.org)
            .map(|v| version_json(&v.value, Some(&img)))
            .collect();
        return Ok(Reply::ok(envelope(content, q.page, q.size, total)));
    }
    let count = pages::count(&img);
    if count > MAX_SCANNED_VERSIONS {
        let field = if q.search.is_empty() {
            "sort"
        } else {
            "search"
        };
        return Err(RestError::Invalid(Problem::field(
            field,
            "LIST_TOO_LARGE",
            format!(
                "this image has {count} versions; a search or a sort other than createdAt \
                 reads them all and is served for at most {MAX_SCANNED_VERSIONS}: page by createdAt"
            ),
        )));
    }
    ctx.charge_scan(u64::from(count))?;
    let items = crate::catalog::image_versions(&ctx.st, &ctx.org, &img)?
        .iter()
        .map(|v| version_json(v, Some(&img)))
        .collect();
    Ok(Reply::ok(q.apply(items, "createdAt")))
}

pub fn get_version(ctx: &Ctx<'_>, image_id: &str, id: &str) -> Result<Reply, RestError> {
    let (img, v) = ctx.found_version(image_id, id)?;
    Ok(Reply::tagged(
        version_json(&v.value, Some(&img.value)),
        v.token,
    ))
}

pub fn list_copies(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    pairs: &[(String, String)],
) -> Result<Reply, RestError> {
    let q = ListQuery::parse(pairs, &COPY_LIST).map_err(RestError::Invalid)?;
    let (img, v) = ctx.found_version(image_id, id)?;
    let items = assets_of(ctx, &v.value)?
        .iter()
        .map(|a| asset_json(&deletion::shown_asset(a, &img.value)))
        .collect();
    Ok(Reply::ok(q.apply(items, "createdAt")))
}

/// A version's assets that exist, in its order.
pub(super) fn assets_of(ctx: &Ctx<'_>, v: &Version) -> Result<Vec<Asset>, RestError> {
    let keys: Vec<String> = v
        .asset_ids
        .iter()
        .map(|a| keys::asset(&ctx.org, a))
        .collect();
    Ok(ctx
        .st
        .get_many::<Asset>(&keys)?
        .into_iter()
        .flatten()
        .map(|s| s.value)
        .collect())
}

pub fn get_operation(ctx: &Ctx<'_>, id: &str) -> Result<Reply, RestError> {
    let op = ops::get(&ctx.st, &ctx.org, id)?
        .filter(|o| o.org_id == ctx.org)
        .ok_or(RestError::NotFound("operation"))?;
    Ok(Reply::ok(serde_json::to_value(&op).unwrap_or(Value::Null)))
}

// ---------------------------------------------------------------------------------------
// 6. Add Version
// ---------------------------------------------------------------------------------------

/// Add Version. A store failure while it records is its own documented 500
/// ([`RestError::AddVersionStore`]), here and only here.
pub fn add_version(ctx: &Ctx<'_>, image_id: &str, body: &Value) -> Result<Reply, RestError> {
    add_version_inner(ctx, image_id, body).map_err(|e| match e {
        RestError::Store(e) => RestError::AddVersionStore(e),
        e => e,
    })
}

fn add_version_inner(ctx: &Ctx<'_>, image_id: &str, body: &Value) -> Result<Reply, RestError> {
    let req = VersionCreateTO::parse(body).map_err(RestError::Invalid)?;
    let seen = ctx.found_image_seen(image_id)?;
    let img = &seen.stored.value;
    check_add_rules(img, &req)?;
    check_version_room(ctx, img)?;
    let partner_image = partner::resolve(&ctx.st, &ctx.org, &req.source)?;
    let source = source_of(ctx, image_id, img, req.source_version_id.as_ref())?;
    let op_id = ops::new_op_id(&ctx.st);
    let claim = ctx.claim_operation(&op_id)?;
    let number = elect_number(ctx, image_id, &req.numbering, source.as_ref())?;
    let history = source.as_ref().map(Version::lineage).unwrap_or_default();
    let new = NewVersion {
        version_type: match req.numbering {
            Numbering::Major => VersionType::Major,
            Numbering::Minor => VersionType::Minor,
        },
        history,
        source_type: req.source_type,
        source_version_id: req.source_version_id.as_ref().map(|i| i.to_string()),
        description: req.description.map(Description::into_string),
        os: req.os.or(img.os.clone()),
        kind: kind_for(&req.source),
        last_action: LastTriggeredAction::Import,
        provider_instance_id: Some(req.provider_instance_id.to_string()),
        provider_label: req.provider_label,
        asset_details: req.asset_details,
        source_id: req.source.source_id(),
        partner_image,
    };
    let b = build_version(ctx, image_id, number, new, op_id.clone());
    let img = record_added(ctx, image_id, &b, &req.markers, seen.raw)?;
    claim.keep();
    let body = added_version_json(&ctx.org, &img, &b.version, &b.asset, &b.op_id);
    Ok(Reply::started(201, body, b.op_id))
}

/// Add Version's rules on the image as read, before anything is numbered or written.
fn check_add_rules(img: &Image, req: &VersionCreateTO) -> Result<(), RestError> {
    // Rule 1: only gallery and custom-VM images take new versions.
    if !matches!(
        img.source_type,
        SourceType::AzureSig | SourceType::AzureCustomVm
    ) {
        return Err(RestError::ImageSourceType(img.source_type));
    }
    if let Some(t) = req.os_type.filter(|t| *t != img.os_type) {
        return Err(RestError::Mismatch(
            "osType",
            img.os_type.to_string(),
            t.to_string(),
        ));
    }
    if let Some(t) = req.gpu_type.filter(|t| *t != img.gpu_type) {
        return Err(RestError::Mismatch(
            "gpuType",
            img.gpu_type.to_string(),
            t.to_string(),
        ));
    }
    check_writable(img.status)?;
    if let Some(m) = taken_marker(img, &req.markers) {
        return Err(RestError::MarkerTaken(m.to_string()));
    }
    Ok(())
}

/// The source of a new version: the named version, or (MAJOR without one) the image's
/// newest version.
fn source_of(
    ctx: &Ctx<'_>,
    image_id: &str,
    img: &Image,
    named: Option<&Id>,
) -> Result<Option<Version>, RestError> {
    Ok(match named {
        Some(id) => Some(
            ctx.version(image_id, id.as_str())?
                .ok_or(RestError::SourceVersionNotFound)?
                .value,
        ),
        None => match crate::catalog::pages::newest_id(&ctx.st, &ctx.org, img)? {
            Some(newest) => ctx.version(image_id, &newest)?.map(|s| s.value),
            None => None,
        },
    })
}

/// Writes a built version, starts its operation, then attaches it to its image (swapping
/// from `seen`, the image's bytes as read at the start); returns the image as written.
fn record_added(
    ctx: &Ctx<'_>,
    image_id: &str,
    b: &Built,
    markers: &[MarkerName],
    seen: Vec<u8>,
) -> Result<Image, RestError> {
    // The operation is recorded with the version, before the version is attached to its
    // image: a version that clients can see always has its operation (a failure before the
    // attach leaves only unlisted records, never a listed version nothing advances).
    if let Err(e) = b.put_and_start(ctx) {
        b.discard(ctx);
        return Err(e.into());
    }
    let at = b.version.created_at;
    match attach_version(ctx, image_id, &b.version.id, markers, at, Some(seen)) {
        Ok(img) => Ok(img.value),
        // A store failure leaves the outcome unknown (the swap may have landed, R2/R4):
        // keep the records, the image may list the version. Only a refusal discards them.
        Err(e @ RestError::Store(_)) => Err(e),
        Err(e) => {
            b.discard(ctx);
            Err(e)
        }
    }
}

// ---------------------------------------------------------------------------------------
// 9. PATCH version
// ---------------------------------------------------------------------------------------

/// Markers cannot go onto a version in this status.
fn refuses_markers(status: VersionStatus) -> bool {
    matches!(status, VersionStatus::Disabled | VersionStatus::Deleting)
}

pub fn patch_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    body: &Value,
    pre: Preconditions<'_>,
) -> Result<Reply, RestError> {
    use RestError as E;
    let patch = VersionPatch::parse(body).map_err(E::Invalid)?;
    let (_, seen) = ctx.found_version(image_id, id)?;
    check_preconditions(pre, &seen)?;
    if !patch.markers.is_empty() && refuses_markers(seen.value.status) {
        return Err(E::MarkerOnStatus(seen.value.status));
    }
    let now = ctx.now();
    let checked = pre.any();
    let version = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, id), |v| {
            if checked && *v != seen.value {
                return Change::Abort(E::PreconditionFailed);
            }
            if !patch.markers.is_empty() && refuses_markers(v.status) {
                return Change::Abort(E::MarkerOnStatus(v.status));
            }
            match &patch.description {
                Some(d) if v.description.as_deref() != Some(d.as_str()) => {
                    let mut v = v.clone();
                    v.description = Some(d.to_string());
                    v.updated_at = now;
                    Change::Write(v)
                }
                _ => Change::Unchanged,
            }
        })
        .map_err(|e| e.lift(|| E::NotFound("version")))?;
    // Markers live on the image: place new ones, move existing ones onto this version.
    let img = if patch.markers.is_empty() {
        ctx.found_image(image_id)?
    } else {
        place_markers(ctx, image_id, id, &patch.markers, now)?
    };
    Ok(Reply {
        status: 202,
        body: version_json(&version.value, Some(&img.value)),
        etag: Some(version.token),
        operation_id: version.value.operation_id.clone(),
    })
}

/// Places `markers` on version `id` of the image, moving those that point elsewhere.
fn place_markers(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    markers: &[MarkerName],
    now: crate::time::Timestamp,
) -> Result<Stored<Image>, RestError> {
    ctx.st
        .update::<Image, RestError>(&keys::image(&ctx.org, image_id), |img| {
            let mut img = img.clone();
            let mut changed = false;
            for m in markers {
                match img.markers.iter_mut().find(|x| x.name == m.as_str()) {
                    Some(x) if x.version_id == id => {}
                    Some(x) => {
                        x.version_id = id.to_owned();
                        x.next_version_id = None;
                        x.updated_at = now;
                        changed = true;
                    }
                    None => {
                        let marker = new_marker(&img, id, m.as_str(), now);
                        img.markers.push(marker);
                        changed = true;
                    }
                }
            }
            if let Err(e) = check_marker_room(img.markers.len()) {
                return Change::Abort(e);
            }
            if !changed {
                return Change::Unchanged;
            }
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| e.lift(|| RestError::NotFound("image")))
}

// ---------------------------------------------------------------------------------------
// 13. DELETE version
// ---------------------------------------------------------------------------------------

/// How the message words the refused action.
const DELETED_NOW: &str = "deleted now";

/// `force=true` also deletes a version whose work is still running (never one already being
/// deleted, never one a bound marker points at).
fn may_delete(status: VersionStatus, force: bool) -> bool {
    status != VersionStatus::Deleting
        && (force || allowed_actions(status).iter().any(|a| a == "DELETE"))
}

/// A marker bound to desktop pools that points at version `id`.
fn bound_marker<'a>(img: &'a Image, id: &str) -> Option<&'a Marker> {
    img.markers
        .iter()
        .find(|m| m.version_id == id && m.template_count > 0)
}

fn parse_force(force: Option<&str>) -> Result<bool, RestError> {
    match force {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(_) => Err(RestError::Invalid(Problem::field(
            "force",
            "INVALID_VALUE",
            "must be true or false",
        ))),
    }
}

pub fn delete_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    force: Option<&str>,
    pre: Preconditions<'_>,
) -> Result<Reply, RestError> {
    use RestError as E;
    let force = parse_force(force)?;
    let (img, seen) = ctx.found_version(image_id, id)?;
    let img = img.value;
    check_preconditions(pre, &seen)?;
    if let Some(m) = bound_marker(&img, id) {
        return Err(E::MarkerInUse(m.name.clone()));
    }
    if !may_delete(seen.value.status, force) {
        return Err(E::StatusForbids(seen.value.status, DELETED_NOW));
    }
    // The last version takes its image with it. Told from the image's own summary of its
    // versions' statuses (a version with no recorded status yet counts as live), so the
    // check reads no other version; a deletion that ends with no version left takes the
    // image all the same (`advancer::projection`).
    let deleting = pages::summary(&img).count(&[VersionStatus::Deleting]);
    let last = pages::count(&img).saturating_sub(deleting) <= 1;
    if last {
        let op = start_image_deletion(ctx, image_id, None).map_err(|e| match e {
            // As a version delete: the version is already being deleted with its image.
            DeleteRefusal::AlreadyDeleting => {
                E::StatusForbids(VersionStatus::Deleting, DELETED_NOW)
            }
            e => e.into(),
        })?;
        return Ok(Reply::started(202, deleting_json(&seen.value, &img), op));
    }
    let now = ctx.now();
    let op_id = ops::new_op_id(&ctx.st);
    // Unbound markers pointing here go with the version; a marker bound meanwhile refuses.
    ctx.st
        .update::<Image, E>(&keys::image(&ctx.org, image_id), |img| {
            if let Some(m) = bound_marker(img, id) {
                return Change::Abort(E::MarkerInUse(m.name.clone()));
            }
            if !img.markers.iter().any(|m| m.version_id == id) {
                return Change::Unchanged;
            }
            let mut img = img.clone();
            img.markers.retain(|m| m.version_id != id);
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| e.lift(|| E::NotFound("image")))?;
    let checked = pre.any();
    // The status check and the DELETING mark are one compare-and-swap: of two racing
    // deletes only one sees a deletable version and starts an operation.
    let v = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, id), |v| {
            if checked && *v != seen.value {
                return Change::Abort(E::PreconditionFailed);
            }
            if !may_delete(v.status, force) {
                return Change::Abort(E::StatusForbids(v.status, DELETED_NOW));
            }
            Change::Write(deletion::deleting(v, &op_id, now))
        })
        .map_err(|e| e.lift(|| E::NotFound("version")))?;
    deletion::mark_assets_deleting(&ctx.st, &ctx.org, &v.value, &op_id, now)?;
    let target = Target {
        image_id: image_id.to_owned(),
        version_id: Some(id.to_owned()),
        asset_ids: v.value.asset_ids.clone(),
        ..Target::default()
    };
    ops::start(
        &ctx.st,
        ctx.settings,
        &op_id,
        &ctx.org,
        OpKind::Delete,
        target,
    )?;
    Ok(Reply::started(202, deleting_json(&v.value, &img), op_id))
}

/// A version as shown once its delete has started.
fn deleting_json(v: &Version, img: &Image) -> Value {
    let mut body = version_json(v, Some(img));
    body["status"] = json!(VersionStatus::Deleting);
    body
}
