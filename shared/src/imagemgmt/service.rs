//! The imagemgmt operations. Each write operation has its own error enum, mapped to HTTP once
//! (`impl From<…> for Problem`). Records are created only under fresh random ids or slots
//! elected with `increment` (R1); parents that already exist are changed by compare-and-swap.

use crate::api::Problem;
use crate::catalog::{
    Asset, AssetDetails, Image, Marker, PartnerImage, StatusEntry, Version, allowed_actions,
};
use crate::catalog::{deletion, write};
use crate::imagemgmt::input::*;
use crate::imagemgmt::names::rest_name;
use crate::imagemgmt::partner;
use crate::imagemgmt::query::{ListQuery, ListSpec};
use crate::keys;
use crate::ops::{self, OpKind, Settings, Target};
use crate::records::{Change, Stored, UpdateError};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::*;
use serde_json::{Value, json};

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
}

/// Everything an operation needs: the ports, the settings and the caller's org.
pub type Ctx<'a> = crate::catalog::Ctx<'a, Settings>;

impl Ctx<'_> {
    fn image(&self, id: &str) -> Result<Option<Stored<Image>>, StoreError> {
        let s = self.st.get::<Image>(&keys::image(&self.org, id))?;
        // Keys are org-scoped; the check keeps a foreign record hidden even if one leaked in.
        Ok(s.filter(|s| s.value.org_id == self.org))
    }

    fn version(&self, image_id: &str, id: &str) -> Result<Option<Stored<Version>>, StoreError> {
        let s = self.st.get::<Version>(&keys::version(&self.org, id))?;
        Ok(s.filter(|s| s.value.org_id == self.org && s.value.stream_id == image_id))
    }
}

/// `If-Match`: `*`, or a list of (possibly weak) entity tags.
pub fn if_match_ok(if_match: Option<&str>, token: &str) -> bool {
    match if_match {
        None => true,
        Some(h) => h
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t.trim_start_matches("W/").trim_matches('"') == token),
    }
}

/// Maps the outcome of an update of a parent record.
fn lift<E>(r: UpdateError<E>, not_found: E, store: impl Fn(StoreError) -> E) -> E {
    match r {
        UpdateError::NotFound => not_found,
        UpdateError::Aborted(e) => e,
        UpdateError::Store(e) => store(e),
        UpdateError::Contended => store(StoreError::Transient("record contended".into())),
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// An image as the API shows it (internal index fields dropped).
pub fn image_json(img: &Image) -> Value {
    let mut v = serde_json::to_value(img).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for internal in ["versionIds", "versionStatuses", "distributedVersionIds"] {
            o.remove(internal);
        }
        // A name from the RPC door that the REST rules refuse is shown mapped (`names`).
        o.insert("name".into(), json!(rest_name(&img.name)));
    }
    v
}

/// A version as the API shows it: markers projected from the image (their source of truth),
/// allowed actions from the current status.
pub fn version_json(v: &Version, image: Option<&Image>) -> Value {
    let mut val = serde_json::to_value(v).unwrap_or(Value::Null);
    if let Some(o) = val.as_object_mut() {
        o.remove("assetIds");
        o.remove("opSeq");
        if let Some(img) = image {
            let markers: Vec<&Marker> = img
                .markers
                .iter()
                .filter(|m| m.version_id == v.id)
                .collect();
            o.insert("markers".into(), json!(markers));
        }
        o.insert("allowedActions".into(), json!(allowed_actions(v.status)));
    }
    val
}

/// An asset (copy) as the API shows it.
pub fn asset_json(a: &Asset) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("opSeq");
    }
    v
}

// ---------------------------------------------------------------------------------------
// Record construction
// ---------------------------------------------------------------------------------------

/// What a new version is made of.
struct NewVersion<'a> {
    image_id: &'a str,
    number: VersionNumber,
    version_type: VersionType,
    history: Vec<String>,
    source_type: SourceType,
    source_version_id: Option<String>,
    description: Option<String>,
    os: Option<String>,
    kind: OpKind,
    last_action: LastTriggeredAction,
    provider_instance_id: Option<String>,
    provider_label: Option<ProviderLabel>,
    asset_details: AssetDetails,
    partner_image: Option<PartnerImage>,
}

/// Builds (not writes) a version, its asset and its operation id, in the operation's first
/// statuses.
fn build_version(ctx: &Ctx<'_>, n: NewVersion<'_>) -> (Version, Asset, String) {
    let now = ctx.now();
    let op_id = ops::new_op_id(&ctx.st);
    let version_id = ctx.st.new_id("ver-");
    let asset_id = ctx.st.new_id("ast-");
    let (vs, asset_status) = ops::initial_statuses(n.kind);
    let status = vs.unwrap_or(VersionStatus::Pending);
    let mut details = n.asset_details;
    if details.asset_type.is_none() {
        details.asset_type = Some(match n.kind {
            OpKind::CopyFromGallery => AssetType::AzureImageInSig,
            _ => AssetType::AzureVmInRg,
        });
    }
    let version = Version {
        id: version_id.clone(),
        stream_id: n.image_id.to_owned(),
        org_id: ctx.org.clone(),
        name: n.number.to_string(),
        description: n.description,
        os: n.os,
        version_type: n.version_type,
        version_history: n.history,
        source_type: n.source_type,
        source_version_id: n.source_version_id,
        state: VersionState::NotReady,
        status,
        last_triggered_action: Some(n.last_action),
        markers: vec![],
        created_at: now,
        updated_at: now,
        operation_id: Some(op_id.clone()),
        status_history: vec![StatusEntry {
            status,
            asset_status,
            at: now,
        }],
        allowed_actions: allowed_actions(status),
        asset_ids: vec![asset_id.clone()],
        regions: vec![],
        partner_image: n.partner_image,
        op_seq: 0,
    };
    let asset = Asset {
        id: asset_id,
        org_id: ctx.org.clone(),
        image_id: n.image_id.to_owned(),
        version_id,
        provider_instance_id: n.provider_instance_id,
        provider_label: n.provider_label.or(Some(ProviderLabel::Azure)),
        asset_details: details,
        status: asset_status.unwrap_or(AssetStatus::ImportPending),
        state: Some(VersionState::NotReady),
        error_code: None,
        error_details: None,
        errors_history: vec![],
        created_at: now,
        updated_at: now,
        operation_id: Some(op_id.clone()),
        op_seq: 0,
    };
    (version, asset, op_id)
}

/// The provider source an asset was made from (`vmId` or `sourceImageVersionId`).
fn provider_source_of(asset: &Asset) -> Option<String> {
    ["vmId", "sourceImageVersionId"]
        .iter()
        .find_map(|k| asset.asset_details.data.get(*k)?.as_str())
        .map(str::to_owned)
}

fn target_of(version: &Version, asset: &Asset, source_id: Option<String>) -> Target {
    Target {
        image_id: version.stream_id.clone(),
        version_id: Some(version.id.clone()),
        asset_ids: vec![asset.id.clone()],
        replica_asset_ids: vec![],
        regions: vec![],
        source_id,
        provider_instance_id: asset.provider_instance_id.clone(),
    }
}

fn kind_for(source: &Source) -> OpKind {
    match source {
        Source::Sig { .. } => OpKind::CopyFromGallery,
        Source::CustomVm { .. } | Source::MarketPlace => OpKind::ImportVm,
    }
}

/// A new image with its first version `1.0.0`, written and indexed; returns the 201 body.
fn write_new_image(
    ctx: &Ctx<'_>,
    mut image: Image,
    f: NewVersionOwned,
) -> Result<(Value, String), StoreError> {
    // The image id is fresh, so its major counter starts at 1 and 1.0.0 is taken once.
    let number = VersionNumber {
        major: write::first_major(&ctx.st, &ctx.org, &image.id)?,
        minor: 0,
        patch: 0,
    };
    let (version, asset, op_id) = build_version(ctx, f.as_new(&image.id, number));
    image.version_ids = vec![version.id.clone()];
    image.version_count = 1;
    let new = write::NewImage {
        org: &ctx.org,
        image: &image,
        version: &version,
        asset: &asset,
        op_id: &op_id,
        kind: f.kind,
        target: target_of(&version, &asset, f.source_id),
    };
    write::write_new_image(&ctx.st, ctx.settings, new)?;
    let mut body = image_json(&image);
    body["versions"] = json!([version_json(&version, Some(&image))]);
    Ok((body, op_id))
}

/// The owned parts of a first version (the image id and number come later).
struct NewVersionOwned {
    version_type: VersionType,
    history: Vec<String>,
    source_type: SourceType,
    source_version_id: Option<String>,
    description: Option<String>,
    os: Option<String>,
    kind: OpKind,
    last_action: LastTriggeredAction,
    provider_instance_id: Option<String>,
    provider_label: Option<ProviderLabel>,
    asset_details: AssetDetails,
    source_id: Option<String>,
    partner_image: Option<PartnerImage>,
}

impl NewVersionOwned {
    fn as_new<'a>(&self, image_id: &'a str, number: VersionNumber) -> NewVersion<'a> {
        NewVersion {
            image_id,
            number,
            version_type: self.version_type,
            history: self.history.clone(),
            source_type: self.source_type,
            source_version_id: self.source_version_id.clone(),
            description: self.description.clone(),
            os: self.os.clone(),
            kind: self.kind,
            last_action: self.last_action,
            provider_instance_id: self.provider_instance_id.clone(),
            provider_label: self.provider_label,
            asset_details: self.asset_details.clone(),
            partner_image: self.partner_image.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. Create image
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum CreateImageError {
    Invalid(Problem),
    Store(StoreError),
}

impl From<CreateImageError> for Problem {
    fn from(e: CreateImageError) -> Self {
        match e {
            CreateImageError::Invalid(p) => p,
            CreateImageError::Store(e) => Problem::store(&e),
        }
    }
}

pub fn create_image(
    ctx: &Ctx<'_>,
    action: CreateAction,
    body: &Value,
) -> Result<Reply, CreateImageError> {
    let req = ImageCatalogRequest::parse(body, action).map_err(CreateImageError::Invalid)?;
    let partner_image = partner::resolve(&ctx.st, &ctx.org, &req.source)
        .map_err(|e| CreateImageError::Invalid(e.into()))?;
    let now = ctx.now();
    let image = Image {
        id: ctx.st.new_id("img-"),
        org_id: ctx.org.clone(),
        name: req.stream_name.into_string(),
        description: req.stream_description.map(Description::into_string),
        os: req.os.clone(),
        os_type: req.os_type,
        gpu_type: req.gpu_type,
        multi_session: req.multi_session,
        source_type: req.source_type,
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
        tags: vec![],
        extra: Default::default(),
    };
    let first = NewVersionOwned {
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
    let (body, op) = write_new_image(ctx, image, first).map_err(CreateImageError::Store)?;
    Ok(Reply {
        status: 201,
        body,
        etag: None,
        operation_id: Some(op),
    })
}

// ---------------------------------------------------------------------------------------
// Reads: 2, 3, 7, 8, 14, 15
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum ReadError {
    Invalid(Problem),
    NotFound(&'static str),
    Store(StoreError),
}

impl From<ReadError> for Problem {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Invalid(p) => p,
            ReadError::NotFound(what) => Problem::new(
                404,
                &format!("{}_NOT_FOUND", what.to_ascii_uppercase()),
                format!("{what} not found"),
            ),
            ReadError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<StoreError> for ReadError {
    fn from(e: StoreError) -> Self {
        ReadError::Store(e)
    }
}

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

/// The org's images, through its index slots (never a key scan).
fn org_images(ctx: &Ctx<'_>) -> Result<Vec<Image>, StoreError> {
    crate::catalog::org_images(&ctx.st, &ctx.org)
}

pub fn list_images(ctx: &Ctx<'_>, pairs: &[(String, String)]) -> Result<Reply, ReadError> {
    let q = ListQuery::parse(pairs, &IMAGE_LIST).map_err(ReadError::Invalid)?;
    let os = pairs
        .iter()
        .find(|(k, _)| k == "os")
        .map(|(_, v)| v.clone());
    let os_type = match pairs.iter().find(|(k, _)| k == "os_type") {
        None => None,
        Some((_, v)) => Some(v.parse::<OsType>().map_err(|e| {
            ReadError::Invalid(Problem::field("os_type", "UNKNOWN_VALUE", e.to_string()))
        })?),
    };
    let items: Vec<Value> = org_images(ctx)?
        .iter()
        .filter(|i| os.as_ref().is_none_or(|o| i.os.as_ref() == Some(o)))
        .filter(|i| os_type.is_none_or(|t| i.os_type == t))
        .map(image_json)
        .collect();
    Ok(Reply::ok(q.apply(items, "createdAt")))
}

pub fn get_image(ctx: &Ctx<'_>, id: &str) -> Result<Reply, ReadError> {
    let img = ctx.image(id)?.ok_or(ReadError::NotFound("image"))?;
    Ok(Reply {
        etag: Some(img.token),
        ..Reply::ok(image_json(&img.value))
    })
}

fn image_versions(ctx: &Ctx<'_>, img: &Image) -> Result<Vec<Version>, StoreError> {
    crate::catalog::image_versions(&ctx.st, &ctx.org, img)
}

pub fn list_versions(
    ctx: &Ctx<'_>,
    image_id: &str,
    pairs: &[(String, String)],
) -> Result<Reply, ReadError> {
    let q = ListQuery::parse(pairs, &VERSION_LIST).map_err(ReadError::Invalid)?;
    let img = ctx.image(image_id)?.ok_or(ReadError::NotFound("image"))?;
    let items = image_versions(ctx, &img.value)?
        .iter()
        .map(|v| version_json(v, Some(&img.value)))
        .collect();
    Ok(Reply::ok(q.apply(items, "createdAt")))
}

pub fn get_version(ctx: &Ctx<'_>, image_id: &str, id: &str) -> Result<Reply, ReadError> {
    let img = ctx.image(image_id)?.ok_or(ReadError::NotFound("image"))?;
    let v = ctx
        .version(image_id, id)?
        .ok_or(ReadError::NotFound("version"))?;
    Ok(Reply {
        etag: Some(v.token),
        ..Reply::ok(version_json(&v.value, Some(&img.value)))
    })
}

pub fn list_copies(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    pairs: &[(String, String)],
) -> Result<Reply, ReadError> {
    let q = ListQuery::parse(pairs, &COPY_LIST).map_err(ReadError::Invalid)?;
    ctx.image(image_id)?.ok_or(ReadError::NotFound("image"))?;
    let v = ctx
        .version(image_id, id)?
        .ok_or(ReadError::NotFound("version"))?;
    let keys: Vec<String> = v
        .value
        .asset_ids
        .iter()
        .map(|a| keys::asset(&ctx.org, a))
        .collect();
    let items = ctx
        .st
        .get_many::<Asset>(&keys)?
        .into_iter()
        .flatten()
        .map(|s| asset_json(&s.value))
        .collect();
    Ok(Reply::ok(q.apply(items, "createdAt")))
}

pub fn get_operation(ctx: &Ctx<'_>, id: &str) -> Result<Reply, ReadError> {
    let op = ops::get(&ctx.st, &ctx.org, id)?
        .filter(|o| o.org_id == ctx.org)
        .ok_or(ReadError::NotFound("operation"))?;
    Ok(Reply::ok(serde_json::to_value(&op).unwrap_or(Value::Null)))
}

// ---------------------------------------------------------------------------------------
// 4. PATCH image
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum PatchImageError {
    Invalid(Problem),
    NotFound,
    PreconditionFailed,
    Deleting,
    Store(StoreError),
}

impl From<PatchImageError> for Problem {
    fn from(e: PatchImageError) -> Self {
        match e {
            PatchImageError::Invalid(p) => p,
            PatchImageError::NotFound => Problem::new(404, "IMAGE_NOT_FOUND", "image not found"),
            PatchImageError::PreconditionFailed => precondition_failed(),
            PatchImageError::Deleting => {
                Problem::new(409, "IMAGE_DELETING", "the image is being deleted")
            }
            PatchImageError::Store(e) => Problem::store(&e),
        }
    }
}

fn precondition_failed() -> Problem {
    Problem::new(
        412,
        "PRECONDITION_FAILED",
        "If-Match does not match the current ETag",
    )
}

pub fn patch_image(
    ctx: &Ctx<'_>,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Reply, PatchImageError> {
    let patch = ImagePatch::parse(body).map_err(PatchImageError::Invalid)?;
    let seen = ctx
        .image(id)
        .map_err(PatchImageError::Store)?
        .ok_or(PatchImageError::NotFound)?;
    if !if_match_ok(if_match, &seen.token) {
        return Err(PatchImageError::PreconditionFailed);
    }
    let now = ctx.now();
    let checked = if_match.is_some();
    let r = ctx
        .st
        .update::<Image, PatchImageError>(&keys::image(&ctx.org, id), |img| {
            // With If-Match, the record must still be the one whose tag matched.
            if checked && *img != seen.value {
                return Change::Abort(PatchImageError::PreconditionFailed);
            }
            if img.status == ImageStatus::Deleting {
                return Change::Abort(PatchImageError::Deleting);
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
        .map_err(|e| lift(e, PatchImageError::NotFound, PatchImageError::Store))?;
    Ok(Reply {
        etag: Some(r.token),
        ..Reply::ok(image_json(&r.value))
    })
}

// ---------------------------------------------------------------------------------------
// 5. DELETE image
// ---------------------------------------------------------------------------------------

pub use crate::catalog::deletion::DeleteRefusal as DeleteImageError;

impl From<DeleteImageError> for Problem {
    fn from(e: DeleteImageError) -> Self {
        match e {
            DeleteImageError::NotFound => Problem::new(404, "IMAGE_NOT_FOUND", "image not found"),
            DeleteImageError::PreconditionFailed => precondition_failed(),
            DeleteImageError::AlreadyDeleting => {
                Problem::new(409, "IMAGE_DELETING", "the image is already being deleted")
            }
            DeleteImageError::MarkerInUse(m) => marker_bound(&m),
            DeleteImageError::Store(e) => Problem::store(&e),
        }
    }
}

fn marker_bound(m: &str) -> Problem {
    Problem::new(
        409,
        "MARKER_IN_USE",
        format!("marker {m} is bound to desktop pools; move it first"),
    )
}

fn start_image_deletion(
    ctx: &Ctx<'_>,
    id: &str,
    expect: Option<&Image>,
) -> Result<String, DeleteImageError> {
    deletion::start_image_deletion(&ctx.st, ctx.settings, &ctx.org, id, expect)
}

pub fn delete_image(
    ctx: &Ctx<'_>,
    id: &str,
    if_match: Option<&str>,
) -> Result<Reply, DeleteImageError> {
    let seen = ctx
        .image(id)
        .map_err(DeleteImageError::Store)?
        .ok_or(DeleteImageError::NotFound)?;
    if !if_match_ok(if_match, &seen.token) {
        return Err(DeleteImageError::PreconditionFailed);
    }
    let expect = if_match.map(|_| &seen.value);
    let op = start_image_deletion(ctx, id, expect)?;
    let mut body = image_json(&seen.value);
    body["status"] = json!(ImageStatus::Deleting);
    Ok(Reply {
        status: 202,
        body,
        etag: None,
        operation_id: Some(op),
    })
}

// ---------------------------------------------------------------------------------------
// 6. Add Version
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum AddVersionError {
    Invalid(Problem),
    /// Rule 1: the image's own source type does not take new versions.
    ImageSourceType(SourceType),
    /// `osType`/`gpuType` differ from the image's: (field, image's value, given value).
    Mismatch(&'static str, String, String),
    /// The source version is not `major.minor.patch` (a version of another door).
    SourceNotNumbered(String),
    ImageNotFound,
    SourceVersionNotFound,
    ImageNotWritable(ImageStatus),
    MarkerTaken(String),
    Store(StoreError),
}

impl From<AddVersionError> for Problem {
    fn from(e: AddVersionError) -> Self {
        use AddVersionError as E;
        match e {
            E::Invalid(p) => p,
            E::ImageSourceType(t) => Problem::field(
                "sourceType",
                "UNSUPPORTED_IMAGE_SOURCE_TYPE",
                format!(
                    "versions are added only to AZURE_SIG or AZURE_CUSTOM_VM images; this image is {t}"
                ),
            ),
            E::Mismatch(field, image, given) => Problem::field(
                field,
                "MISMATCH",
                format!("must equal the image's {field} {image}, got {given}"),
            ),
            E::SourceNotNumbered(n) => Problem::field(
                "sourceVersionId",
                "INVALID_VALUE",
                format!("the source version's name {n:?} is not major.minor.patch"),
            ),
            E::ImageNotFound => Problem::new(404, "IMAGE_NOT_FOUND", "image not found"),
            E::SourceVersionNotFound => Problem::new(
                404,
                "SOURCE_VERSION_NOT_FOUND",
                "source version not found in this image",
            ),
            E::ImageNotWritable(s) => Problem::new(
                409,
                "IMAGE_NOT_WRITABLE",
                format!("the image is {s}: no version can be added"),
            ),
            E::MarkerTaken(m) => Problem::new(
                409,
                "MARKER_NAME_IN_USE",
                format!("marker {m} is already used in this image"),
            ),
            E::Store(e) => crate::imagemgmt::submit::add_version_store_failure(&e),
        }
    }
}

/// Elects the number of a new version (rule 5) with `increment`-based counters: unique per
/// image under any concurrency; a failed request leaves a gap, never a duplicate.
fn elect_number(
    ctx: &Ctx<'_>,
    image_id: &str,
    numbering: &Numbering,
    source: Option<&Version>,
) -> Result<Result<VersionNumber, String>, StoreError> {
    match numbering {
        Numbering::Major => {
            let n = ctx
                .st
                .counter_next(&keys::image_counter(&ctx.org, image_id, "major"))?;
            Ok(Ok(VersionNumber {
                major: u64::try_from(n).unwrap_or(0),
                minor: 0,
                patch: 0,
            }))
        }
        Numbering::Minor => {
            let Some(src) = source else {
                return Ok(Err(String::new()));
            };
            let base = match src.name.parse::<VersionNumber>() {
                Ok(b) => b,
                Err(_) => return Ok(Err(src.name.clone())),
            };
            let key = keys::image_counter(&ctx.org, image_id, &format!("minor-{}", base.major));
            let m = ctx.st.counter_next(&key)?;
            Ok(Ok(VersionNumber {
                major: base.major,
                minor: u64::try_from(m).unwrap_or(0),
                patch: 0,
            }))
        }
    }
}

/// Appends a written version to its image (and places `markers` on it) by compare-and-swap;
/// refuses a `DELETING`/`DISABLED` image or a taken marker name.
fn attach_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    version_id: &str,
    markers: &[MarkerName],
    now: Timestamp,
) -> Result<Stored<Image>, AddVersionError> {
    ctx.st
        .update::<Image, AddVersionError>(&keys::image(&ctx.org, image_id), |img| {
            // Idempotent: a swap reported failed that had landed (R2) and was then built
            // upon by another writer is retried here; the version is already attached.
            if img.version_ids.iter().any(|v| v == version_id) {
                return Change::Unchanged;
            }
            if matches!(img.status, ImageStatus::Deleting | ImageStatus::Disabled) {
                return Change::Abort(AddVersionError::ImageNotWritable(img.status));
            }
            if let Some(m) = markers
                .iter()
                .find(|m| img.markers.iter().any(|x| x.name == m.as_str()))
            {
                return Change::Abort(AddVersionError::MarkerTaken(m.to_string()));
            }
            let mut img = img.clone();
            img.version_ids.push(version_id.to_owned());
            img.version_count = u32::try_from(img.version_ids.len()).unwrap_or(u32::MAX);
            for m in markers {
                img.markers.push(Marker {
                    // Deterministic per (version, name): a CAS retry does not mint a second id.
                    id: format!("mrk-{}-{}", version_id.trim_start_matches("ver-"), m),
                    org_id: img.org_id.clone(),
                    image_id: img.id.clone(),
                    version_id: version_id.to_owned(),
                    next_version_id: None,
                    name: m.to_string(),
                    status: "ACTIVE".into(),
                    template_count: 0,
                    error_code: None,
                    error_details: None,
                    error_details_parameters: Default::default(),
                    created_at: now,
                    updated_at: now,
                });
            }
            img.updated_at = now;
            Change::Write(img)
        })
        .map_err(|e| lift(e, AddVersionError::ImageNotFound, AddVersionError::Store))
}

/// Removes records a refused request wrote (best effort: they are not indexed anywhere).
fn discard(ctx: &Ctx<'_>, version: &Version, asset: &Asset) {
    let _ = ctx.st.delete(&keys::asset(&ctx.org, &asset.id));
    let _ = ctx.st.delete(&keys::version(&ctx.org, &version.id));
}

pub fn add_version(ctx: &Ctx<'_>, image_id: &str, body: &Value) -> Result<Reply, AddVersionError> {
    use AddVersionError as E;
    let req = VersionCreateTO::parse(body).map_err(E::Invalid)?;
    let img = ctx
        .image(image_id)
        .map_err(E::Store)?
        .ok_or(E::ImageNotFound)?
        .value;
    if !matches!(
        img.source_type,
        SourceType::AzureSig | SourceType::AzureCustomVm
    ) {
        return Err(E::ImageSourceType(img.source_type));
    }
    if let Some(t) = req.os_type.filter(|t| *t != img.os_type) {
        return Err(E::Mismatch(
            "osType",
            img.os_type.to_string(),
            t.to_string(),
        ));
    }
    if let Some(t) = req.gpu_type.filter(|t| *t != img.gpu_type) {
        return Err(E::Mismatch(
            "gpuType",
            img.gpu_type.to_string(),
            t.to_string(),
        ));
    }
    if matches!(img.status, ImageStatus::Deleting | ImageStatus::Disabled) {
        return Err(E::ImageNotWritable(img.status));
    }
    if let Some(m) = req
        .markers
        .iter()
        .find(|m| img.markers.iter().any(|x| x.name == m.as_str()))
    {
        return Err(E::MarkerTaken(m.to_string()));
    }
    let partner_image =
        partner::resolve(&ctx.st, &ctx.org, &req.source).map_err(|e| E::Invalid(e.into()))?;
    // The source: the named version, or (MAJOR without one) the image's newest version.
    let source = match &req.source_version_id {
        Some(id) => Some(
            ctx.version(image_id, id.as_str())
                .map_err(E::Store)?
                .ok_or(E::SourceVersionNotFound)?
                .value,
        ),
        None => match img.version_ids.last() {
            Some(newest) => ctx
                .version(image_id, newest)
                .map_err(E::Store)?
                .map(|s| s.value),
            None => None,
        },
    };
    let number = elect_number(ctx, image_id, &req.numbering, source.as_ref())
        .map_err(E::Store)?
        .map_err(E::SourceNotNumbered)?;
    let mut history = source
        .as_ref()
        .map(|s| s.version_history.clone())
        .unwrap_or_default();
    if let Some(s) = &source {
        history.push(s.name.clone());
    }
    let kind = kind_for(&req.source);
    let (version, asset, op_id) = build_version(
        ctx,
        NewVersion {
            image_id,
            number,
            version_type: match req.numbering {
                Numbering::Major => VersionType::Major,
                Numbering::Minor => VersionType::Minor,
            },
            history,
            source_type: req.source_type,
            source_version_id: req.source_version_id.as_ref().map(|i| i.to_string()),
            description: req.description.map(Description::into_string),
            os: req.os.or(img.os.clone()),
            kind,
            last_action: LastTriggeredAction::Import,
            provider_instance_id: Some(req.provider_instance_id.to_string()),
            provider_label: req.provider_label,
            asset_details: req.asset_details,
            partner_image,
        },
    );
    let now = version.created_at;
    ctx.st
        .put_new(&keys::asset(&ctx.org, &asset.id), &asset)
        .map_err(E::Store)?;
    ctx.st
        .put_new(&keys::version(&ctx.org, &version.id), &version)
        .map_err(E::Store)?;
    // The operation is recorded before the version is attached to its image: a version
    // that clients can see always has its operation (a failure in between leaves only an
    // unlisted version, never a listed one nothing advances).
    if let Err(e) = ops::start(
        &ctx.st,
        ctx.settings,
        &op_id,
        &ctx.org,
        kind,
        target_of(&version, &asset, req.source.source_id()),
    ) {
        discard(ctx, &version, &asset);
        return Err(E::Store(e));
    }
    let img = match attach_version(ctx, image_id, &version.id, &req.markers, now) {
        Ok(img) => img.value,
        // A store failure leaves the outcome unknown (the swap may have landed, R2/R4):
        // keep the records, the image may list the version. Only a refusal discards them.
        Err(e @ E::Store(_)) => return Err(e),
        Err(e) => {
            discard(ctx, &version, &asset);
            return Err(e);
        }
    };
    let markers: Vec<&Marker> = img
        .markers
        .iter()
        .filter(|m| m.version_id == version.id)
        .collect();
    let body = json!({
        "assetDetails": asset.asset_details,
        "assetId": asset.id,
        "assetStatus": asset.status,
        "assetType": asset.asset_details.asset_type,
        "imageDescription": img.description,
        "imageId": img.id,
        "imageName": rest_name(&img.name),
        "imageStatus": img.status,
        "markers": markers,
        "orgId": ctx.org,
        "sourceAssetId": Value::Null,
        "sourceImageId": img.source_stream_id,
        "sourceImageType": img.source_type,
        "sourceType": version.source_type,
        "sourceVersionId": version.source_version_id,
        "versionDescription": version.description,
        "versionHistory": version.version_history,
        "versionId": version.id,
        "versionName": version.name,
        "versionStatus": version.status,
        "versionType": version.version_type,
        "operationId": op_id,
    });
    Ok(Reply {
        status: 201,
        body,
        etag: None,
        operation_id: Some(op_id),
    })
}

// ---------------------------------------------------------------------------------------
// 9. PATCH version
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum PatchVersionError {
    Invalid(Problem),
    NotFound(&'static str),
    PreconditionFailed,
    /// Markers cannot go onto a version in this status.
    MarkerOnStatus(VersionStatus),
    Store(StoreError),
}

impl From<PatchVersionError> for Problem {
    fn from(e: PatchVersionError) -> Self {
        match e {
            PatchVersionError::Invalid(p) => p,
            PatchVersionError::NotFound(w) => ReadError::NotFound(w).into(),
            PatchVersionError::PreconditionFailed => precondition_failed(),
            PatchVersionError::MarkerOnStatus(s) => Problem::new(
                409,
                "MARKER_ON_UNUSABLE_VERSION",
                format!("a marker cannot be placed on a {s} version"),
            ),
            PatchVersionError::Store(e) => Problem::store(&e),
        }
    }
}

pub fn patch_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    body: &Value,
    if_match: Option<&str>,
) -> Result<Reply, PatchVersionError> {
    use PatchVersionError as E;
    let patch = VersionPatch::parse(body).map_err(E::Invalid)?;
    ctx.image(image_id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("image"))?;
    let seen = ctx
        .version(image_id, id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("version"))?;
    if !if_match_ok(if_match, &seen.token) {
        return Err(E::PreconditionFailed);
    }
    if !patch.markers.is_empty()
        && matches!(
            seen.value.status,
            VersionStatus::Disabled | VersionStatus::Deleting
        )
    {
        return Err(E::MarkerOnStatus(seen.value.status));
    }
    let now = ctx.now();
    let checked = if_match.is_some();
    let version = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, id), |v| {
            if checked && *v != seen.value {
                return Change::Abort(E::PreconditionFailed);
            }
            if !patch.markers.is_empty()
                && matches!(v.status, VersionStatus::Disabled | VersionStatus::Deleting)
            {
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
        .map_err(|e| lift(e, E::NotFound("version"), E::Store))?;
    // Markers live on the image: place new ones, move existing ones onto this version.
    let img = if patch.markers.is_empty() {
        ctx.image(image_id)
            .map_err(E::Store)?
            .ok_or(E::NotFound("image"))?
    } else {
        ctx.st
            .update::<Image, E>(&keys::image(&ctx.org, image_id), |img| {
                let mut img = img.clone();
                let mut changed = false;
                for m in &patch.markers {
                    match img.markers.iter_mut().find(|x| x.name == m.as_str()) {
                        Some(x) if x.version_id == id => {}
                        Some(x) => {
                            x.version_id = id.to_owned();
                            x.next_version_id = None;
                            x.updated_at = now;
                            changed = true;
                        }
                        None => {
                            img.markers.push(Marker {
                                id: format!("mrk-{}-{}", id.trim_start_matches("ver-"), m),
                                org_id: img.org_id.clone(),
                                image_id: img.id.clone(),
                                version_id: id.to_owned(),
                                next_version_id: None,
                                name: m.to_string(),
                                status: "ACTIVE".into(),
                                template_count: 0,
                                error_code: None,
                                error_details: None,
                                error_details_parameters: Default::default(),
                                created_at: now,
                                updated_at: now,
                            });
                            changed = true;
                        }
                    }
                }
                if !changed {
                    return Change::Unchanged;
                }
                img.updated_at = now;
                Change::Write(img)
            })
            .map_err(|e| lift(e, E::NotFound("image"), E::Store))?
    };
    Ok(Reply {
        status: 202,
        body: version_json(&version.value, Some(&img.value)),
        etag: Some(version.token),
        operation_id: version.value.operation_id.clone(),
    })
}

// ---------------------------------------------------------------------------------------
// 10, 11. Publish and republish
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum PublishError {
    Invalid(Problem),
    NotFound(&'static str),
    /// The version is not in a status the action starts from.
    WrongStatus(VersionStatus, &'static str),
    Store(StoreError),
}

impl From<PublishError> for Problem {
    fn from(e: PublishError) -> Self {
        match e {
            PublishError::Invalid(p) => p,
            PublishError::NotFound(w) => ReadError::NotFound(w).into(),
            PublishError::WrongStatus(s, needed) => Problem::new(
                412,
                "VERSION_STATUS_PRECONDITION",
                format!("the version is {s}; this action needs {needed}"),
            ),
            PublishError::Store(e) => Problem::store(&e),
        }
    }
}

/// Writes replica assets, moves the version into publishing and starts the operation.
#[allow(clippy::too_many_arguments)]
fn start_publish(
    ctx: &Ctx<'_>,
    image_id: &str,
    seen: &Version,
    allowed: &[VersionStatus],
    needed: &'static str,
    new_replicas: &[Id],
    description: Option<&Description>,
) -> Result<(Version, String), PublishError> {
    use PublishError as E;
    let now = ctx.now();
    let op_id = ops::new_op_id(&ctx.st);
    let existing = ctx
        .st
        .get_many::<Asset>(
            &seen
                .asset_ids
                .iter()
                .map(|a| keys::asset(&ctx.org, a))
                .collect::<Vec<_>>(),
        )
        .map_err(E::Store)?;
    let existing: Vec<Asset> = existing.into_iter().flatten().map(|s| s.value).collect();
    let Some(source_asset) = existing.first().cloned() else {
        return Err(E::WrongStatus(seen.status, "an asset to publish from"));
    };
    let mut replica_ids: Vec<String> = existing.iter().skip(1).map(|a| a.id.clone()).collect();
    let mut wanted: Vec<String> = new_replicas.iter().map(|r| r.to_string()).collect();
    if wanted.is_empty() && replica_ids.is_empty() {
        // No replica named: publish into the instance the VM lives in.
        wanted.extend(source_asset.provider_instance_id.clone());
    }
    let mut new_assets = Vec::new();
    for pi in wanted {
        if existing
            .iter()
            .skip(1)
            .any(|a| a.provider_instance_id.as_deref() == Some(pi.as_str()))
        {
            continue;
        }
        let asset = Asset {
            id: ctx.st.new_id("ast-"),
            org_id: ctx.org.clone(),
            image_id: image_id.to_owned(),
            version_id: seen.id.clone(),
            provider_instance_id: Some(pi),
            provider_label: source_asset.provider_label,
            asset_details: AssetDetails {
                asset_type: Some(AssetType::AzureImageReplicaInSig),
                data: Default::default(),
            },
            status: AssetStatus::PublishInProgress,
            state: Some(VersionState::NotReady),
            error_code: None,
            error_details: None,
            errors_history: vec![],
            created_at: now,
            updated_at: now,
            operation_id: Some(op_id.clone()),
            op_seq: 0,
        };
        ctx.st
            .put_new(&keys::asset(&ctx.org, &asset.id), &asset)
            .map_err(E::Store)?;
        replica_ids.push(asset.id.clone());
        new_assets.push(asset.id);
    }
    let (vs, asset_status) = ops::initial_statuses(OpKind::Publish);
    let status = vs.unwrap_or(VersionStatus::PublishInProgress);
    let version = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, &seen.id), |v| {
            if !allowed.contains(&v.status) {
                return Change::Abort(E::WrongStatus(v.status, needed));
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
            v.status_history.push(StatusEntry {
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
            return Err(lift(e, E::NotFound("version"), E::Store));
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
    if let Err(UpdateError::Store(e)) = r {
        return Err(E::Store(e));
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
    )
    .map_err(E::Store)?;
    Ok((version, op_id))
}

pub fn publish(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    body: &Value,
) -> Result<Reply, PublishError> {
    use PublishError as E;
    let req = PublishRequest::parse(body).map_err(E::Invalid)?;
    let img = ctx
        .image(image_id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("image"))?;
    let seen = ctx
        .version(image_id, id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("version"))?;
    const NEEDED: &[VersionStatus] = &[VersionStatus::ImportComplete];
    if !NEEDED.contains(&seen.value.status) {
        return Err(E::WrongStatus(seen.value.status, "IMPORT_COMPLETE"));
    }
    let (v, op) = start_publish(
        ctx,
        image_id,
        &seen.value,
        NEEDED,
        "IMPORT_COMPLETE",
        &req.replicas,
        req.description.as_ref(),
    )?;
    Ok(Reply {
        status: 201,
        body: version_json(&v, Some(&img.value)),
        etag: None,
        operation_id: Some(op),
    })
}

pub fn republish(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    body: &Value,
) -> Result<Reply, PublishError> {
    use PublishError as E;
    let req = RepublishRequest::parse(body).map_err(E::Invalid)?;
    let img = ctx
        .image(image_id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("image"))?;
    let seen = ctx
        .version(image_id, id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("version"))?;
    const NEEDED: &[VersionStatus] = &[
        VersionStatus::Available,
        VersionStatus::PartiallyAvailable,
        VersionStatus::Failed,
    ];
    const NEEDED_TEXT: &str = "AVAILABLE, PARTIALLY_AVAILABLE or FAILED";
    if !NEEDED.contains(&seen.value.status) {
        return Err(E::WrongStatus(seen.value.status, NEEDED_TEXT));
    }
    let (v, op) = start_publish(
        ctx,
        image_id,
        &seen.value,
        NEEDED,
        NEEDED_TEXT,
        &req.additional_replicas,
        None,
    )?;
    Ok(Reply {
        status: 202,
        body: version_json(&v, Some(&img.value)),
        etag: None,
        operation_id: Some(op),
    })
}

// ---------------------------------------------------------------------------------------
// 12. Clone
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum CloneError {
    Invalid(Problem),
    NotFound(&'static str),
    /// The source version's status does not allow cloning.
    StatusForbids(VersionStatus),
    SourceNotNumbered(String),
    ImageNotWritable(ImageStatus),
    Store(StoreError),
}

impl From<CloneError> for Problem {
    fn from(e: CloneError) -> Self {
        match e {
            CloneError::Invalid(p) => p,
            CloneError::NotFound(w) => ReadError::NotFound(w).into(),
            CloneError::StatusForbids(s) => Problem::new(
                422,
                "VERSION_STATUS_FORBIDS",
                format!("a {s} version cannot be cloned"),
            ),
            CloneError::SourceNotNumbered(n) => AddVersionError::SourceNotNumbered(n).into(),
            CloneError::ImageNotWritable(s) => AddVersionError::ImageNotWritable(s).into(),
            CloneError::Store(e) => Problem::store(&e),
        }
    }
}

pub fn clone(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    action: Option<&str>,
    body: &Value,
) -> Result<Reply, CloneError> {
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
) -> Result<Reply, CloneError> {
    use CloneError as E;
    let req = CloneRequest::parse(body, action).map_err(E::Invalid)?;
    let img = from
        .image(image_id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("image"))?
        .value;
    let src = from
        .version(image_id, id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("version"))?
        .value;
    if !allowed_actions(src.status).iter().any(|a| a == "CLONE") {
        return Err(E::StatusForbids(src.status));
    }
    let src_asset = match src.asset_ids.first() {
        Some(a) => from
            .st
            .get::<Asset>(&keys::asset(&from.org, a))
            .map_err(E::Store)?
            .map(|s| s.value),
        None => None,
    };
    let mut history = src.version_history.clone();
    history.push(src.name.clone());
    // A clone is a new VM from the source's bits: it ends IMPORT_COMPLETE, ready to be
    // customised and published (no provider source to check, so `source_id` is none).
    let owned = NewVersionOwned {
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
            let now = ctx.now();
            let image = Image {
                id: ctx.st.new_id("img-"),
                org_id: ctx.org.clone(),
                name: name.into_string(),
                description: img.description.clone(),
                os: img.os.clone(),
                os_type: img.os_type,
                gpu_type: img.gpu_type,
                multi_session: img.multi_session,
                source_type: img.source_type,
                source_stream_id: Some(img.id.clone()),
                source_version_id: Some(src.id.clone()),
                status: ImageStatus::Pending,
                markers: vec![],
                version_count: 0,
                created_at: now,
                updated_at: now,
                version_ids: vec![],
                version_statuses: Default::default(),
                distributed_version_ids: vec![],
                tags: vec![],
                extra: Default::default(),
            };
            let (body, op) = write_new_image(ctx, image, owned).map_err(E::Store)?;
            Ok(Reply {
                status: 201,
                body,
                etag: None,
                operation_id: Some(op),
            })
        }
        CloneTarget::Version(numbering) => {
            if matches!(img.status, ImageStatus::Deleting | ImageStatus::Disabled) {
                return Err(E::ImageNotWritable(img.status));
            }
            let number = elect_number(ctx, image_id, &numbering, Some(&src))
                .map_err(E::Store)?
                .map_err(E::SourceNotNumbered)?;
            let mut nv = owned.as_new(image_id, number);
            if numbering == Numbering::Minor {
                nv.version_type = VersionType::Minor;
            }
            let (version, asset, op_id) = build_version(ctx, nv);
            ctx.st
                .put_new(&keys::asset(&ctx.org, &asset.id), &asset)
                .map_err(E::Store)?;
            ctx.st
                .put_new(&keys::version(&ctx.org, &version.id), &version)
                .map_err(E::Store)?;
            let img = match attach_version(ctx, image_id, &version.id, &[], version.created_at) {
                Ok(i) => i.value,
                Err(e) => {
                    discard(ctx, &version, &asset);
                    return Err(match e {
                        AddVersionError::ImageNotWritable(s) => E::ImageNotWritable(s),
                        AddVersionError::ImageNotFound => E::NotFound("image"),
                        AddVersionError::Store(s) => E::Store(s),
                        _ => E::Store(StoreError::Transient("image update refused".into())),
                    });
                }
            };
            ops::start(
                &ctx.st,
                ctx.settings,
                &op_id,
                &ctx.org,
                OpKind::ImportVm,
                target_of(&version, &asset, None),
            )
            .map_err(E::Store)?;
            Ok(Reply {
                status: 201,
                body: version_json(&version, Some(&img)),
                etag: None,
                operation_id: Some(op_id),
            })
        }
    }
}

// ---------------------------------------------------------------------------------------
// 13. DELETE version
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
pub enum DeleteVersionError {
    Invalid(Problem),
    NotFound(&'static str),
    PreconditionFailed,
    MarkerInUse(String),
    StatusForbids(VersionStatus),
    Store(StoreError),
}

impl From<DeleteVersionError> for Problem {
    fn from(e: DeleteVersionError) -> Self {
        match e {
            DeleteVersionError::Invalid(p) => p,
            DeleteVersionError::NotFound(w) => ReadError::NotFound(w).into(),
            DeleteVersionError::PreconditionFailed => precondition_failed(),
            DeleteVersionError::MarkerInUse(m) => marker_bound(&m),
            DeleteVersionError::StatusForbids(s) => Problem::new(
                422,
                "VERSION_STATUS_FORBIDS",
                format!("a {s} version cannot be deleted now"),
            ),
            DeleteVersionError::Store(e) => Problem::store(&e),
        }
    }
}

impl From<DeleteImageError> for DeleteVersionError {
    fn from(e: DeleteImageError) -> Self {
        match e {
            DeleteImageError::NotFound => DeleteVersionError::NotFound("image"),
            DeleteImageError::PreconditionFailed => DeleteVersionError::PreconditionFailed,
            DeleteImageError::AlreadyDeleting => {
                DeleteVersionError::StatusForbids(VersionStatus::Deleting)
            }
            DeleteImageError::MarkerInUse(m) => DeleteVersionError::MarkerInUse(m),
            DeleteImageError::Store(e) => DeleteVersionError::Store(e),
        }
    }
}

/// `force=true` also deletes a version whose work is still running (never one already being
/// deleted, never one a bound marker points at).
fn may_delete(status: VersionStatus, force: bool) -> bool {
    status != VersionStatus::Deleting
        && (force || allowed_actions(status).iter().any(|a| a == "DELETE"))
}

pub fn delete_version(
    ctx: &Ctx<'_>,
    image_id: &str,
    id: &str,
    force: Option<&str>,
    if_match: Option<&str>,
) -> Result<Reply, DeleteVersionError> {
    use DeleteVersionError as E;
    let force = match force {
        None | Some("false") => false,
        Some("true") | Some("") => true,
        Some(_) => {
            return Err(E::Invalid(Problem::field(
                "force",
                "INVALID_VALUE",
                "must be true or false",
            )));
        }
    };
    let img = ctx
        .image(image_id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("image"))?
        .value;
    let seen = ctx
        .version(image_id, id)
        .map_err(E::Store)?
        .ok_or(E::NotFound("version"))?;
    if !if_match_ok(if_match, &seen.token) {
        return Err(E::PreconditionFailed);
    }
    if let Some(m) = img
        .markers
        .iter()
        .find(|m| m.version_id == id && m.template_count > 0)
    {
        return Err(E::MarkerInUse(m.name.clone()));
    }
    if !may_delete(seen.value.status, force) {
        return Err(E::StatusForbids(seen.value.status));
    }
    // The last version takes its image with it.
    let others = image_versions(ctx, &img).map_err(E::Store)?;
    let last = !others
        .iter()
        .any(|v| v.id != id && v.status != VersionStatus::Deleting);
    if last {
        let op = start_image_deletion(ctx, image_id, None)?;
        let mut body = version_json(&seen.value, Some(&img));
        body["status"] = json!(VersionStatus::Deleting);
        return Ok(Reply {
            status: 202,
            body,
            etag: None,
            operation_id: Some(op),
        });
    }
    let now = ctx.now();
    let op_id = ops::new_op_id(&ctx.st);
    // Unbound markers pointing here go with the version; a marker bound meanwhile refuses.
    ctx.st
        .update::<Image, E>(&keys::image(&ctx.org, image_id), |img| {
            if let Some(m) = img
                .markers
                .iter()
                .find(|m| m.version_id == id && m.template_count > 0)
            {
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
        .map_err(|e| lift(e, E::NotFound("image"), E::Store))?;
    let checked = if_match.is_some();
    // The status check and the DELETING mark are one compare-and-swap: of two racing
    // deletes only one sees a deletable version and starts an operation.
    let v = ctx
        .st
        .update::<Version, E>(&keys::version(&ctx.org, id), |v| {
            if checked && *v != seen.value {
                return Change::Abort(E::PreconditionFailed);
            }
            if !may_delete(v.status, force) {
                return Change::Abort(E::StatusForbids(v.status));
            }
            Change::Write(deletion::deleting(v, &op_id, now))
        })
        .map_err(|e| lift(e, E::NotFound("version"), E::Store))?;
    deletion::mark_assets_deleting(&ctx.st, &ctx.org, &v.value, &op_id, now).map_err(E::Store)?;
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
    )
    .map_err(E::Store)?;
    let mut body = version_json(&v.value, Some(&img));
    body["status"] = json!(VersionStatus::Deleting);
    Ok(Reply {
        status: 202,
        body,
        etag: None,
        operation_id: Some(op_id),
    })
}
