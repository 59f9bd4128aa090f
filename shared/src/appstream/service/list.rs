//! ListImage: the org's images (and the platform's shared ones) filtered, newest first, one
//! page of items; of each image only the versions the item shows are read. Without
//! filters, newest first is the reverse of the index order (`catalog::listing`: the org's
//! images, newest created first, then the shared ones) and a page costs O(page); with a
//! filter it is `GmtCreate` descending, ties by id, and every listed image is read.

use super::{Ctx, errors};
use crate::appstream::RpcError;
use crate::appstream::params::ListImage;
use crate::catalog::listing::{self, Order, Scope, Window};
use crate::catalog::{Image, RegionDistribution, Version};
use crate::keys;
use crate::ratelimit::{self, Verdict};
use crate::time::iso8601_s;
use crate::vocab::*;
use serde_json::{Value, json};

/// WUYING spells OS types `Windows` / `Linux`.
pub fn rpc_os_type(os: OsType) -> &'static str {
    match os {
        OsType::Linux => "Linux",
        OsType::Windows | OsType::Client | OsType::Server | OsType::Wvd => "Windows",
    }
}

fn extra_str<'a>(img: &'a Image, name: &str) -> Option<&'a str> {
    img.extra.get(name).and_then(Value::as_str)
}

fn matches(img: &Image, q: &ListImage) -> bool {
    if img.status == ImageStatus::Deleting {
        return false;
    }
    q.image_id.as_ref().is_none_or(|id| *id == img.id)
        && q.image_name
            .as_ref()
            .is_none_or(|n| img.name.contains(n.as_str()))
        && q.status
            .as_ref()
            .is_none_or(|s| s == rpc_image_status(img.status))
        // The org's own images are "User"; the platform's shared ones "System".
        && q.image_type.as_ref().is_none_or(|t| t == image_type(img))
        && q.os_type.as_ref().is_none_or(|o| {
            o.eq_ignore_ascii_case(rpc_os_type(img.os_type))
                || o.eq_ignore_ascii_case(img.os_type.as_str())
        })
        && q.product_type
            .as_ref()
            .is_none_or(|p| extra_str(img, "productType") == Some(p.as_str()))
        && q.tags.iter().all(|t| {
            img.tags
                .iter()
                .any(|it| it.key == t.key && it.value == t.value)
        })
}

/// What a ListImage item shows of an image's versions: the newest, the newest AVAILABLE one,
/// and every version with region distributions (the others are not read at all).
struct Shown<'v> {
    latest: Option<&'v Version>,
    online: Option<&'v Version>,
    distributed: Vec<&'v Version>,
}

impl<'v> Shown<'v> {
    /// From every version of the image, oldest first.
    fn of_all(versions: &'v [Version]) -> Shown<'v> {
        Shown {
            latest: versions.last(),
            online: versions
                .iter()
                .rev()
                .find(|v| rpc_version_status(v.status) == "AVAILABLE"),
            distributed: versions.iter().filter(|v| !v.regions.is_empty()).collect(),
        }
    }
}

/// The versions ListImage reads for an image, from its recorded version statuses: the
/// newest, the newest AVAILABLE, and the distributed ones.
struct Wanted {
    latest: Option<String>,
    online: Option<String>,
    ids: Vec<String>,
}

/// `None` when a version has no recorded status yet (just attached): then every version is
/// read.
fn wanted(img: &Image) -> Option<Wanted> {
    if img
        .version_ids
        .iter()
        .any(|id| !img.version_statuses.contains_key(id))
    {
        return None;
    }
    // Every version of the tail deleted while older pages remain: rare, read them all.
    let latest = img.version_ids.last().cloned();
    if latest.is_none() && !img.version_pages.is_empty() {
        return None;
    }
    // The newest AVAILABLE one may be in an older page: the summaries name it.
    let online = crate::catalog::pages::summary(img).newest_online;
    let mut ids: Vec<String> = Vec::new();
    let distributed = img.distributed_version_ids.iter();
    for id in latest.iter().chain(online.iter()).chain(distributed) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    Some(Wanted {
        latest,
        online,
        ids,
    })
}

/// `ImageType`: `System` for an image the platform shares, `User` for the org's own.
fn image_type(img: &Image) -> &'static str {
    if crate::catalog::platform::is_shared(img) {
        "System"
    } else {
        "User"
    }
}

fn list_item(img: &Image, shown: &Shown<'_>) -> Value {
    let (latest, online) = (shown.latest, shown.online);
    let mode = extra_str(img, "imageCreateMode").unwrap_or(match img.source_type {
        SourceType::ImportedVms => "BY_INSTANCE_ID",
        _ => "BY_IMPORT",
    });
    let regions: Vec<Value> = shown
        .distributed
        .iter()
        .flat_map(|v| {
            v.regions.iter().map(|r: &RegionDistribution| {
                json!({
                    "RegionId": r.region_id,
                    "Status": r.status,
                    "Progress": format!("{}%", r.progress.min(100)),
                    "ImageId": img.id,
                    "VersionId": v.id,
                })
            })
        })
        .collect();
    let tags: Vec<Value> = img
        .tags
        .iter()
        .map(|t| json!({"Key": t.key, "Value": t.value}))
        .collect();
    let mut item = json!({
        "ImageId": img.id,
        "ImageName": img.name,
        "Description": img.description.clone().unwrap_or_default(),
        "Status": rpc_image_status(img.status),
        "ImageType": image_type(img),
        "OsType": rpc_os_type(img.os_type),
        "Platform": rpc_os_type(img.os_type),
        "ImageCreateMode": mode,
        "VersionId": latest.map(|v| v.id.clone()),
        "VersionName": latest.map(|v| format!("v{}", v.name)),
        "LatestVersionId": latest.map(|v| v.id.clone()),
        "OnlineVersionId": online.map(|v| v.id.clone()),
        "OnlineVersion": online.map(|v| format!("v{}", v.name)),
        "GmtCreate": iso8601_s(img.created_at.ms()),
        "GmtModified": iso8601_s(img.updated_at.ms()),
        "TagList": tags,
        "ImageRegionDistributeList": regions,
    });
    if let Some(obj) = item.as_object_mut() {
        for (field, name) in [
            ("ProductType", "productType"),
            ("DiskType", "diskType"),
            ("BizType", "bizType"),
        ] {
            if let Some(v) = img.extra.get(name) {
                obj.insert(field.into(), v.clone());
            }
        }
    }
    item
}

/// The page's images and the count of every match. Without filters, the page is read from
/// the org's index in O(page) (newest first: `catalog::listing`, "Orders and costs"); a
/// named image is read alone; any other filter reads every listed image of the org and
/// keeps only the page's prefix in memory.
fn candidates(ctx: &Ctx<'_>, q: &ListImage) -> Result<(Vec<Image>, u64), RpcError> {
    if let Some(id) = &q.image_id {
        let found: Vec<Image> = match ctx.live_image(id)? {
            Some(s) => vec![s.value],
            None => crate::catalog::platform::image(&ctx.st, id)?
                .into_iter()
                .collect(),
        };
        let found: Vec<Image> = found.into_iter().filter(|i| matches(i, q)).collect();
        let count = u64::try_from(found.len()).unwrap_or(u64::MAX);
        let skip = usize::try_from(q.offset()).unwrap_or(usize::MAX);
        return Ok((found.into_iter().skip(skip).collect(), count));
    }
    let scope = Scope {
        own: q.image_type.as_deref().is_none_or(|t| t == "User"),
        shared: q.image_type.as_deref().is_none_or(|t| t == "System"),
        hide_deleting: true,
    };
    let size = usize::try_from(q.page_size).unwrap_or(10);
    let unfiltered = q.image_name.is_none()
        && q.status.is_none()
        && q.os_type.is_none()
        && q.product_type.is_none()
        && q.tags.is_empty();
    if unfiltered {
        let p = listing::page(&ctx.st, &ctx.org, scope, Order::Reverse, q.offset(), size)?;
        return Ok((p.images, p.total));
    }
    // Newest first, ties by id: a stable order across pages.
    let skip = usize::try_from(q.offset()).unwrap_or(usize::MAX);
    let newest = |a: &Image, b: &Image| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id));
    let mut window = Window::new(skip, size, newest);
    let listed = listing::listed(&ctx.st, &ctx.org, scope)?;
    if let Verdict::Throttled { retry_after_s } =
        ratelimit::charge_scan(&ctx.st, &ctx.settings.ops, &ctx.org, listed.records())
    {
        return Err(errors::throttled(retry_after_s));
    }
    listed.for_each(&ctx.st, |i| {
        if matches(&i, q) {
            window.push(i);
        }
    })?;
    Ok(window.finish())
}

/// Returns the page's items and the count of every match.
pub fn list_image(ctx: &Ctx<'_>, q: &ListImage) -> Result<(Vec<Value>, u64), RpcError> {
    let (page, count) = candidates(ctx, q)?;
    // The versions the page shows, in one batched read (not every version of every image).
    let wanted: Vec<Option<Wanted>> = page.iter().map(wanted).collect();
    // A shared image's versions are the platform's records.
    let keys: Vec<String> = page
        .iter()
        .zip(&wanted)
        .filter_map(|(img, w)| w.as_ref().map(|w| (img, w)))
        .flat_map(|(img, w)| w.ids.iter().map(|id| keys::version(&img.org_id, id)))
        .collect();
    let mut read = ctx.get_all::<Version>(&keys)?.into_iter();
    let mut items = Vec::new();
    for (img, w) in page.iter().zip(wanted) {
        let got: Vec<Version> = match &w {
            Some(w) => w
                .ids
                .iter()
                .zip(read.by_ref())
                .filter_map(|(_, v)| v.filter(|v| v.stream_id == img.id))
                .collect(),
            None => Vec::new(),
        };
        let item = match w.as_ref().and_then(|w| shown_from_recorded(w, &got)) {
            Some(shown) => list_item(img, &shown),
            // A version without a recorded status yet, or one whose record disagrees with
            // it (a change not yet refreshed): read them all.
            None => list_item(img, &Shown::of_all(&ctx.versions(img)?)),
        };
        items.push(item);
    }
    Ok((items, count))
}

/// Sorts the read versions into what the item shows; `None` when the records disagree with
/// the recorded statuses (the newest is gone, or the newest AVAILABLE one is not).
fn shown_from_recorded<'v>(w: &Wanted, read: &'v [Version]) -> Option<Shown<'v>> {
    let find = |id: &Option<String>| id.as_ref().and_then(|id| read.iter().find(|v| &v.id == id));
    let (latest, online) = (find(&w.latest), find(&w.online));
    if w.latest.is_some() != latest.is_some()
        || w.online.is_some() != online.is_some()
        || online.is_some_and(|v| rpc_version_status(v.status) != "AVAILABLE")
    {
        return None;
    }
    Some(Shown {
        latest,
        online,
        distributed: read.iter().filter(|v| !v.regions.is_empty()).collect(),
    })
}
