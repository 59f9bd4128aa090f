//! New records and the writes that place them: a version with its asset and operation
//! ([`build_version`]), a new image ([`pending_image`], [`write_new_image`]), a marker ([`new_marker`]); a new version's number
//! ([`elect_number`]) and its attachment to an existing image ([`attach_version`]).

use super::render::{image_json, version_json};
use super::{Ctx, RestError};
use crate::catalog::pages::{self, Sealing};
use crate::catalog::quota;
use crate::catalog::{Asset, AssetDetails, Image, Marker, PartnerImage, Version, write};
use crate::imagemgmt::input::*;
use crate::keys;
use crate::ops::{self, OpKind, Target};
use crate::records::{Change, Stored};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::*;
use serde_json::{Value, json};

/// What a new version is made of (its image and number come when it is built).
pub(super) struct NewVersion {
    pub version_type: VersionType,
    pub history: Vec<String>,
    pub source_type: SourceType,
    pub source_version_id: Option<String>,
    pub description: Option<String>,
    pub os: Option<String>,
    pub kind: OpKind,
    pub last_action: LastTriggeredAction,
    pub provider_instance_id: Option<String>,
    pub provider_label: Option<ProviderLabel>,
    pub asset_details: AssetDetails,
    /// The provider source the operation checks (`vmId`, `sourceImageVersionId`); none for
    /// a clone.
    pub source_id: Option<String>,
    pub partner_image: Option<PartnerImage>,
}

/// A version, its asset and its operation, built (not written) in the operation's first
/// statuses.
pub(super) struct Built {
    pub version: Version,
    pub asset: Asset,
    pub op_id: String,
    kind: OpKind,
    target: Target,
}

impl Built {
    /// Writes the asset, then the version: under fresh ids (R1), listed nowhere yet.
    pub fn put(&self, ctx: &Ctx<'_>) -> Result<(), StoreError> {
        ctx.st
            .put_new(&keys::asset(&ctx.org, &self.asset.id), &self.asset)?;
        ctx.st
            .put_new(&keys::version(&ctx.org, &self.version.id), &self.version)?;
        Ok(())
    }

    /// Starts the version's operation.
    pub fn start(&self, ctx: &Ctx<'_>) -> Result<(), StoreError> {
        ops::start(
            &ctx.st,
            ctx.settings,
            &self.op_id,
            &ctx.org,
            self.kind,
            self.target.clone(),
        )
        .map(drop)
    }

    /// Writes the asset, the version, the operation and its due entry in one store call
    /// (`ops::start_with`). Their order does not matter: nothing visible names any of them
    /// until the image lists the version ([`attach_version`], after this returned), so a
    /// batch cut short leaves only records no client reaches.
    pub fn put_and_start(&self, ctx: &Ctx<'_>) -> Result<(), StoreError> {
        let along = vec![
            ctx.st
                .new_entry(&keys::asset(&ctx.org, &self.asset.id), &self.asset)?,
            ctx.st
                .new_entry(&keys::version(&ctx.org, &self.version.id), &self.version)?,
        ];
        ops::start_with(
            &ctx.st,
            ctx.settings,
            &self.op_id,
            &ctx.org,
            self.kind,
            self.target.clone(),
            along,
        )
        .map(drop)
    }

    /// Removes what [`Built::put`] wrote, for a refused request (best effort: the records
    /// are not indexed anywhere).
    pub fn discard(&self, ctx: &Ctx<'_>) {
        let _ = ctx.st.delete(&keys::asset(&ctx.org, &self.asset.id));
        let _ = ctx.st.delete(&keys::version(&ctx.org, &self.version.id));
    }
}

/// Builds version `number` of image `image_id`, its asset and its operation id.
pub(super) fn build_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    number: VersionNumber,
    n: NewVersion,
    op_id: String,
) -> Built {
    let version_id = ctx.st.new_id("ver-");
    let asset_id = ctx.st.new_id("ast-");
    let mut details = n.asset_details;
    if details.asset_type.is_none() {
        details.asset_type = Some(match n.kind {
            OpKind::CopyFromGallery => AssetType::AzureImageInSig,
            _ => AssetType::AzureVmInRg,
        });
    }
    let at = write::Placement {
        org: &ctx.org,
        image_id,
        op_id: &op_id,
        kind: n.kind,
        now: ctx.now(),
    };
    let draft = write::VersionDraft {
        name: number.to_string(),
        description: n.description,
        os: n.os,
        version_type: n.version_type,
        history: n.history,
        source_type: n.source_type,
        source_version_id: n.source_version_id,
        last_action: n.last_action,
        partner_image: n.partner_image,
    };
    let version = write::new_version(at, version_id.clone(), asset_id.clone(), draft);
    let asset = Asset {
        provider_instance_id: n.provider_instance_id,
        provider_label: n.provider_label.or(Some(ProviderLabel::Azure)),
        asset_details: details,
        ..write::new_asset(at, asset_id, &version_id, write::first_asset_status(n.kind))
    };
    let target = Target {
        image_id: image_id.to_owned(),
        version_id: Some(version_id),
        asset_ids: vec![asset.id.clone()],
        replica_asset_ids: vec![],
        regions: vec![],
        source_id: n.source_id,
        provider_instance_id: asset.provider_instance_id.clone(),
    };
    Built {
        version,
        asset,
        op_id,
        kind: n.kind,
        target,
    }
}

/// The operation a new version from `source` runs.
pub(super) fn kind_for(source: &Source) -> OpKind {
    match source {
        Source::Sig { .. } => OpKind::CopyFromGallery,
        Source::CustomVm { .. } | Source::MarketPlace => OpKind::ImportVm,
    }
}

/// A new `PENDING` image of the caller's org under a fresh id, with no version yet; the
/// caller sets what else it knows (description, os, multi-session, source).
pub(super) fn pending_image(
    ctx: &Ctx<'_>,
    name: String,
    source_type: SourceType,
    os_type: OsType,
    gpu_type: GpuType,
) -> Image {
    let now = ctx.now();
    Image {
        id: ctx.st.new_id("img-"),
        org_id: ctx.org.clone(),
        name,
        description: None,
        os: None,
        os_type,
        gpu_type,
        multi_session: false,
        source_type,
        source_stream_id: None,
        source_version_id: None,
        status: ImageStatus::Pending,
        markers: vec![],
        version_count: 0,
        created_at: now,
        updated_at: now,
        version_ids: vec![],
        version_statuses: Default::default(),
        distributed_version_ids: vec![],
        tail_span: None,
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: vec![],
        extra: Default::default(),
    }
}

/// Writes a new image with its first version `1.0.0` and indexes it (`catalog::write`);
/// returns the 201 body and the operation id.
pub(super) fn write_new_image(
    ctx: &Ctx<'_>,
    mut image: Image,
    first: NewVersion,
) -> Result<(Value, String), RestError> {
    // Before anything is written (`catalog::quota`).
    quota::image_room(&ctx.st, &ctx.org, &ctx.settings.quotas)?.map_err(RestError::Quota)?;
    let op_id = ops::new_op_id(&ctx.st);
    let claim = ctx.claim_operation(&op_id)?;
    // The image id is fresh, so its major counter starts at 1 and 1.0.0 is taken once.
    let number = VersionNumber {
        major: write::first_major(&ctx.st, &ctx.org, &image.id)?,
        minor: 0,
        patch: 0,
    };
    let b = build_version(ctx, &image.id, number, first, op_id.clone());
    image.version_ids = vec![b.version.id.clone()];
    image.tail_span = Some([b.version.created_at; 2]);
    image.version_count = 1;
    let new = write::NewImage {
        org: &ctx.org,
        image: &image,
        version: &b.version,
        asset: &b.asset,
        op_id: &b.op_id,
        kind: b.kind,
        target: b.target,
    };
    write::write_new_image(&ctx.st, ctx.settings, new)?;
    claim.keep();
    let mut body = image_json(&image);
    body["versions"] = json!([version_json(&b.version, Some(&image))]);
    Ok((body, b.op_id))
}

/// A new marker `name` on version `version_id` of `img`. Its id is deterministic per
/// (version, name): a compare-and-swap retry does not mint a second one.
pub(super) fn new_marker(img: &Image, version_id: &str, name: &str, now: Timestamp) -> Marker {
    Marker {
        id: format!("mrk-{}-{}", version_id.trim_start_matches("ver-"), name),
        org_id: img.org_id.clone(),
        image_id: img.id.clone(),
        version_id: version_id.to_owned(),
        next_version_id: None,
        name: name.to_owned(),
        status: "ACTIVE".into(),
        template_count: 0,
        error_code: None,
        error_details: None,
        error_details_parameters: Default::default(),
        created_at: now,
        updated_at: now,
    }
}

/// Elects the number of a new version (rule 5) with `increment`-based counters: unique per
/// image under any concurrency; a failed request leaves a gap, never a duplicate. A MINOR
/// version needs a numbered source: 400 otherwise.
pub(super) fn elect_number(
    ctx: &Ctx<'_>,
    image_id: &str,
    numbering: &Numbering,
    source: Option<&Version>,
) -> Result<VersionNumber, RestError> {
    match numbering {
        Numbering::Major => {
            let n = ctx
                .st
                .counter_next(&keys::image_counter(&ctx.org, image_id, "major"))?;
            Ok(VersionNumber {
                major: u64::try_from(n).unwrap_or(0),
                minor: 0,
                patch: 0,
            })
        }
        Numbering::Minor => {
            let Some(src) = source else {
                return Err(RestError::SourceNotNumbered(String::new()));
            };
            let base = src
                .name
                .parse::<VersionNumber>()
                .map_err(|_| RestError::SourceNotNumbered(src.name.clone()))?;
            let key = keys::image_counter(&ctx.org, image_id, &format!("minor-{}", base.major));
            let m = ctx.st.counter_next(&key)?;
            Ok(VersionNumber {
                major: base.major,
                minor: u64::try_from(m).unwrap_or(0),
                patch: 0,
            })
        }
    }
}

/// 409 when `img` holds its quota of versions (`catalog::quota`): checked on the image as a
/// request read it, before anything is written, and again in the swap that attaches.
pub(super) fn check_version_room(ctx: &Ctx<'_>, img: &Image) -> Result<(), RestError> {
    ctx.settings
        .quotas
        .version_room(pages::count(img))
        .map_err(RestError::Quota)
}

/// 409 when no version can be added to an image in this status.
pub(super) fn check_writable(status: ImageStatus) -> Result<(), RestError> {
    if matches!(status, ImageStatus::Deleting | ImageStatus::Disabled) {
        return Err(RestError::ImageNotWritable(status));
    }
    Ok(())
}

/// 409 when an image would hold `markers` markers, more than `catalog::MAX_MARKERS`.
pub(super) fn check_marker_room(markers: usize) -> Result<(), RestError> {
    if markers > crate::catalog::MAX_MARKERS {
        return Err(RestError::TooManyMarkers);
    }
    Ok(())
}

/// The first of `markers` whose name the image already uses.
pub(super) fn taken_marker<'m>(img: &Image, markers: &'m [MarkerName]) -> Option<&'m MarkerName> {
    markers
        .iter()
        .find(|m| img.markers.iter().any(|x| x.name == m.as_str()))
}

/// Appends a written version to its image (and places `markers` on it) by compare-and-swap,
/// the first swap from `seen` (the image's bytes as this request read them) when given;
/// refuses a `DELETING`/`DISABLED` image or a taken marker name.
pub(super) fn attach_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    version_id: &str,
    markers: &[MarkerName],
    now: Timestamp,
    seen: Option<Vec<u8>>,
) -> Result<Stored<Image>, RestError> {
    // Whether a round sealed the tail into a page named after this version: a round that
    // lost its swap to another sealer leaves that page unnamed, and it is dropped below.
    let mut sealed = false;
    let r = ctx
        .st
        .update_from::<Image, RestError>(&keys::image(&ctx.org, image_id), seen, |img| {
            // Idempotent: a swap reported failed that had landed (R2) and was then built
            // upon by another writer is retried here; the version is already attached.
            if pages::lists_recent(img, version_id) {
                return Change::Unchanged;
            }
            if let Err(e) = check_writable(img.status) {
                return Change::Abort(e);
            }
            if let Some(m) = taken_marker(img, markers) {
                return Change::Abort(RestError::MarkerTaken(m.to_string()));
            }
            if let Err(e) = check_marker_room(img.markers.len() + markers.len()) {
                return Change::Abort(e);
            }
            if let Err(e) = check_version_room(ctx, img) {
                return Change::Abort(e);
            }
            let mut img = match pages::seal_if_full(&ctx.st, img, version_id) {
                Ok(Some(with_page)) => {
                    sealed = true;
                    with_page
                }
                Ok(None) => img.clone(),
                Err(Sealing::Full) => return Change::Abort(RestError::TooManyVersions),
                Err(Sealing::Store(e)) => return Change::Abort(e.into()),
            };
            img.version_ids.push(version_id.to_owned());
            pages::widen_tail(&mut img, now);
            img.version_count = pages::count(&img);
            for m in markers {
                let marker = new_marker(&img, version_id, m.as_str(), now);
                img.markers.push(marker);
            }
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| e.lift(|| RestError::NotFound("image")));
    if sealed {
        let names = |i: &Image| i.version_pages.iter().any(|p| p.id == version_id);
        // After a failure the swap may still have landed: look, and keep the page unless
        // the image is known not to name it (a leftover page is harmless, a lost one not).
        let unnamed = match &r {
            Ok(i) => !names(&i.value),
            Err(_) => matches!(
                ctx.st.get::<Image>(&keys::image(&ctx.org, image_id)),
                Ok(found) if !found.as_ref().is_some_and(|i| names(&i.value))
            ),
        };
        if unnamed {
            pages::drop_pages(&ctx.st, &ctx.org, image_id, &[version_id.to_owned()]);
        }
    }
    r
}
