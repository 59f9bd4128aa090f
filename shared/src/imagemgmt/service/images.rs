//! Images: create (1), list (2), get (3), PATCH (4) and DELETE (5).

use super::build::{NewVersion, kind_for, pending_image, write_new_image};
use super::render::image_json;
use super::{Ctx, Reply, RestError, check_preconditions};
use crate::api::Problem;
use crate::catalog::listing::{self, Order, Scope, Window};
use crate::catalog::{Image, deletion};
use crate::conditional::Preconditions;
use crate::imagemgmt::input::*;
use crate::imagemgmt::partner;
use crate::imagemgmt::query::{ListQuery, ListSpec, envelope};
use crate::keys;
use crate::records::Change;
use crate::vocab::*;
use serde_json::{Value, json};

pub const IMAGE_LIST: ListSpec = ListSpec {
    sort_fields: &[
        "name",
        "createdAt",
        "updatedAt",
        "status",
        "os",
        "osType",
        "gpuType",
        "sourceType",
        "versionCount",
    ],
    search_fields: &["name", "os", "osType", "sourceType", "gpuType", "status"],
};

pub fn create_image(ctx: &Ctx<'_>, action: CreateAction, body: &Value) -> Result<Reply, RestError> {
    let req = ImageCatalogRequest::parse(body, action).map_err(RestError::Invalid)?;
    let partner_image = partner::resolve(&ctx.st, &ctx.org, &req.source)?;
    let image = Image {
        description: req.stream_description.map(Description::into_string),
        os: req.os.clone(),
        multi_session: req.multi_session,
        ..pending_image(
            ctx,
            req.stream_name.into_string(),
            req.source_type,
            req.os_type,
            req.gpu_type,
        )
    };
    let first = NewVersion {
        version_type: VersionType::Major,
        history: vec![],
        source_type: req.source_type,
        source_version_id: None,
        description: req.version_description.map(Description::into_string),
        os: req.os,
        kind: kind_for(&req.source),
        last_action: LastTriggeredAction::Import,
        provider_instance_id: req.provider_instance_id.map(Id::into_string),
        provider_label: req.provider_label,
        asset_details: req.asset_details,
        source_id: req.source.source_id(),
        partner_image,
    };
    let (body, op) = write_new_image(ctx, image, first)?;
    Ok(Reply::started(201, body, op))
}

pub fn list_images(ctx: &Ctx<'_>, pairs: &[(String, String)]) -> Result<Reply, RestError> {
    let q = ListQuery::parse(pairs, &IMAGE_LIST).map_err(RestError::Invalid)?;
    let os = pairs
        .iter()
        .find(|(k, _)| k == "os")
        .map(|(_, v)| v.clone());
    let os_type = match pairs.iter().find(|(k, _)| k == "os_type") {
        None => None,
        Some((_, v)) => Some(v.parse::<OsType>().map_err(|e| {
            RestError::Invalid(Problem::field("os_type", "UNKNOWN_VALUE", e.to_string()))
        })?),
    };
    let scope = Scope {
        own: true,
        shared: true,
        hide_deleting: false,
    };
    if q.sort.is_none() && q.search.is_empty() && os.is_none() && os_type.is_none() {
        // The default order: one page read from the org's index, O(page) whatever the org
        // holds (`catalog::listing`, "Orders and costs").
        let offset = u64::try_from(q.offset()).unwrap_or(u64::MAX);
        let p = listing::page(&ctx.st, &ctx.org, scope, Order::Index, offset, q.size)?;
        let content = p.images.iter().map(image_json).collect();
        return Ok(Reply::ok(envelope(content, q.page, q.size, p.total)));
    }
    // Another order or a filter: every listed image is read, only the page's prefix kept.
    let mut window = Window::new(q.offset(), q.size, q.order("createdAt"));
    let listed = listing::listed(&ctx.st, &ctx.org, scope)?;
    ctx.charge_scan(listed.records())?;
    listed.for_each(&ctx.st, |i| {
        let kept = os.as_ref().is_none_or(|o| i.os.as_ref() == Some(o))
            && os_type.is_none_or(|t| i.os_type == t);
        if !kept {
            return;
        }
        // `search` reads the rendered fields (the REST door's names and values).
        let item = image_json(&i);
        if q.matches(&item) {
            window.push(item);
        }
    })?;
    let (content, total) = window.finish();
    Ok(Reply::ok(envelope(content, q.page, q.size, total)))
}

pub fn get_image(ctx: &Ctx<'_>, id: &str) -> Result<Reply, RestError> {
    let img = ctx.found_image(id)?;
    Ok(Reply::tagged(image_json(&img.value), img.token))
}

pub fn patch_image(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    pre: Preconditions<'_>,
) -> Result<Reply, RestError> {
    let patch = ImagePatch::parse(body).map_err(RestError::Invalid)?;
    let seen = ctx.found_image(id)?;
    check_preconditions(pre, &seen)?;
    let now = ctx.now();
    let checked = pre.any();
    let r = ctx
        .st
        .update::<Image, RestError>(&keys::image(&ctx.org, id), |img| {
            // With If-Match, the record must still be the one whose tag matched.
            if checked && *img != seen.value {
                return Change::Abort(RestError::PreconditionFailed);
            }
            if img.status == ImageStatus::Deleting {
                return Change::Abort(RestError::ImageDeleting);
            }
            let mut img = img.clone();
            if let Some(n) = &patch.name {
                img.name = n.to_string();
            }
            if let Some(d) = &patch.description {
                img.description = Some(d.to_string());
            }
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| e.lift(|| RestError::NotFound("image")))?;
    Ok(Reply::tagged(image_json(&r.value), r.token))
}

/// Marks the image and its versions `DELETING` and starts the delete operation (the shared
/// image deletion, `catalog::deletion`); returns the operation id.
pub(super) fn start_image_deletion(
    ctx: &Ctx<'_>,
    id: &str,
    expect: Option<&Image>,
) -> Result<String, deletion::DeleteRefusal> {
    deletion::start_image_deletion(&ctx.st, ctx.settings, &ctx.org, id, expect)
}

pub fn delete_image(ctx: &Ctx<'_>, id: &str, pre: Preconditions<'_>) -> Result<Reply, RestError> {
    let seen = ctx.found_image(id)?;
    check_preconditions(pre, &seen)?;
    let expect = pre.any().then_some(&seen.value);
    let op = start_image_deletion(ctx, id, expect)?;
    let mut body = image_json(&seen.value);
    body["status"] = json!(ImageStatus::Deleting);
    Ok(Reply::started(202, body, op))
}
