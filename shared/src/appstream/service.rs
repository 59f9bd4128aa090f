//! The RPC door end to end: [`handle`] takes an [`ApiRequest`] (plus the request URI's
//! authority, R7) and always answers a complete [`ApiResponse`] with the door's JSON envelope.
//!
//! Order: method → body size → ACS3 verification (AccessKeys via [`auth`], nonces elected with
//! `increment` and purged after their window) → version/action → parameters → the action.
//!
//! The records are the REST door's (`catalog`): a capture writes an image (`imgc-…`, source
//! type `IMPORTED_VMS`), its version `1.0.0` (`iv-…`) and an asset, starts a
//! `capture-by-instance` operation (`tid-…`) and takes a slot of the org's image index, exactly
//! as `imagemgmt::service` creates images; so each door lists the other's images.
//!
//! Running captures are tracked per org in one register record (created once, elected with
//! `increment`, R1; then changed by compare-and-swap), which makes "one capture per instance"
//! and "at most N per org" a single atomic decision. An entry is released when its operation
//! ends: the register is pruned of finished operations whenever it is changed.

use crate::api::{ApiRequest, ApiResponse, MAX_BODY_BYTES, RETRY_AFTER_SECONDS};
use crate::appstream::capture::{self, Resolved};
use crate::appstream::params::{
    CreateImageByInstance, DeleteImage, ListImage, Params, RpcRequest, StartTaskForDistributeImage,
    Tag as ParamTag, resolve_action,
};
use crate::appstream::sign::{AccessKey, AuthError, AuthStore, SignedRequest, StoreFailure};
use crate::appstream::{RpcError, envelope, sign};
use crate::auth;
use crate::catalog::deletion::{self, DeleteRefusal};
use crate::catalog::write;
use crate::catalog::{
    self, Asset, AssetDetails, Image, RegionDistribution, RegionStatus, StatusEntry, Tag, Version,
};
use crate::due;
use crate::env::Millis;
use crate::keys;
use crate::ops::{self, OpKind, Operation, Settings, Target};
use crate::records::Store;
use crate::records::{Change, Stored, UpdateError};
use crate::sim;
use crate::store::StoreError;
use crate::time::iso8601_s;
use crate::vocab::*;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Default of the Spin variable `builder_quota`: concurrent captures per org. Generous enough
/// for one org's test suite running a dozen quick captures at once (tests/sdk).
pub const DEFAULT_BUILDER_QUOTA: u32 = 20;
/// A register entry whose operation record never appeared (its request died between the
/// claim and `ops::start`) stops counting after this long.
pub const CLAIM_GRACE_MS: Millis = 60_000;
pub use crate::appstream::capture::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};

/// The door's settings: the operations' settings plus its own.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcSettings {
    pub ops: Settings,
    /// Most captures an org may run at once (`ExceedBuilderQuota` beyond).
    pub builder_quota: u32,
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            ops: Settings::default(),
            builder_quota: DEFAULT_BUILDER_QUOTA,
        }
    }
}

impl RpcSettings {
    /// The operation variables ([`Settings::from_vars`]) plus `builder_quota` (a positive
    /// integer; absent or empty: [`DEFAULT_BUILDER_QUOTA`]).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<RpcSettings, String> {
        let ops = Settings::from_vars(&var)?;
        let builder_quota = match var("builder_quota") {
            None => DEFAULT_BUILDER_QUOTA,
            Some(v) if v.trim().is_empty() => DEFAULT_BUILDER_QUOTA,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "variable builder_quota must be a positive integer, got {v:?}"
                    ));
                }
            },
        };
        Ok(RpcSettings { ops, builder_quota })
    }
}

/// The authority (`host[:port]`) of an absolute request URI (`http://127.0.0.1:3000/?a=b`);
/// a URI without a scheme yields `""` (the caller then falls back to a `host` header).
pub fn authority_of(uri: &str) -> &str {
    let Some((_, rest)) = uri.split_once("://") else {
        return "";
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Drop any `userinfo@`: the SDK never sends one, and it is not part of `host`.
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

fn err(code: &str, message: impl Into<String>) -> RpcError {
    RpcError::bad_request(code, message)
}

/// Any store failure: 503 (the SDK's retry policy may retry it), never half-written state.
fn store_error(e: &StoreError) -> RpcError {
    let why = match e {
        StoreError::Transient(_) => "the store is busy",
        StoreError::Unavailable(_) | StoreError::Corrupt(_) => "the store is unavailable",
    };
    RpcError::new(
        503,
        "ServiceUnavailable",
        format!(
            "The request has failed due to a temporary failure of the server ({why}); retry later."
        ),
    )
}

fn image_not_exist(id: &str) -> RpcError {
    err(
        "Image.NotExist",
        format!("The specified image {id} does not exist."),
    )
}

fn lift<E>(e: UpdateError<E>, not_found: impl FnOnce() -> RpcError) -> RpcError
where
    E: Into<RpcError>,
{
    match e {
        UpdateError::NotFound => not_found(),
        UpdateError::Aborted(e) => e.into(),
        UpdateError::Store(e) => store_error(&e),
        UpdateError::Contended => store_error(&StoreError::Transient("contended".into())),
    }
}

impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
        store_error(&e)
    }
}

// ---------------------------------------------------------------------------------------
// The edge
// ---------------------------------------------------------------------------------------

/// The whole door: every answer carries a fresh `RequestId`. Nothing here may panic (a
/// `wasm32-wasip2` component aborts on panic, and Spin answers an empty 500).
pub fn handle(
    st: &Store<'_>,
    settings: &RpcSettings,
    req: &ApiRequest,
    authority: &str,
) -> ApiResponse {
    let request_id = envelope::request_id(|| st.env().random_u64());
    let resp = match handle_inner(st, settings, req, authority, &request_id) {
        Ok(data) => data,
        Err(e) => envelope::error(&request_id, &e),
    };
    let mut out = ApiResponse::with_body(
        resp.status,
        envelope::CONTENT_TYPE,
        resp.body_string().into_bytes(),
    );
    if resp.status == 503 {
        out = out.header("retry-after", &RETRY_AFTER_SECONDS.to_string());
    }
    if resp.status == 405 {
        out = out.header("allow", "GET, POST");
    }
    out
}

/// Verification's view of the store: AccessKeys through [`auth`], nonces elected with
/// `increment` on a per-nonce key (the first caller gets 1; never a CAS creation, R1), and
/// purged through the due index once their window has closed.
struct KvAuth<'a> {
    st: Store<'a>,
    settings: &'a Settings,
}

fn failure(e: StoreError) -> StoreFailure {
    StoreFailure(e.to_string())
}

impl AuthStore for KvAuth<'_> {
    type Owner = String;

    fn access_key(&self, id: &str) -> Result<Option<AccessKey<String>>, StoreFailure> {
        Ok(auth::access_key(&self.st, id)
            .map_err(failure)?
            .map(|r| AccessKey {
                secret: r.access_key_secret,
                owner: r.org_id,
            }))
    }

    fn record_nonce(
        &self,
        access_key_id: &str,
        nonce: &str,
        keep_until_ms: Millis,
    ) -> Result<bool, StoreFailure> {
        // Hashed: the nonce's characters are checked, but its length is the caller's choice.
        let key = keys::nonce(access_key_id, &auth::sha256_hex(nonce.as_bytes()));
        let n = self.st.counter_next(&key).map_err(failure)?;
        if n == 1 {
            due::schedule_purge(&self.st, self.settings, keep_until_ms, vec![key])
                .map_err(failure)?;
        }
        Ok(n == 1)
    }
}

fn handle_inner(
    st: &Store<'_>,
    settings: &RpcSettings,
    req: &ApiRequest,
    authority: &str,
    request_id: &str,
) -> Result<envelope::RpcResponse, RpcError> {
    let method = req.method.to_ascii_uppercase();
    if method != "GET" && method != "POST" {
        return Err(RpcError::new(
            405,
            "UnsupportedHTTPMethod",
            format!("The HTTP method {method} is not supported; use POST (or GET)."),
        ));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(RpcError::new(
            413,
            "RequestEntityTooLarge",
            format!("The request body exceeds {MAX_BODY_BYTES} bytes."),
        ));
    }
    let headers: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let signed = SignedRequest {
        method: &method,
        authority,
        raw_query: &req.query,
        headers: &headers,
        body: &req.body,
    };
    let store = KvAuth {
        st: *st,
        settings: &settings.ops,
    };
    let verified = sign::verify(&signed, st.now_ms(), &store).map_err(|e| match e {
        AuthError::Store(_) => store_error(&StoreError::Transient("auth".into())),
        other => other.to_rpc_error(),
    })?;
    let params = Params::parse(&req.query, &req.body, req.header("content-type"));
    let action = resolve_action(
        req.header("x-acs-action"),
        req.header("x-acs-version"),
        &params,
    )?;
    let request = RpcRequest::parse(action, &params)?;
    let ctx = Ctx {
        st: *st,
        settings,
        org: verified.owner,
    };
    Ok(match request {
        RpcRequest::CreateImageByInstance(r) => {
            envelope::success(request_id, create_image_by_instance(&ctx, &r)?)
        }
        RpcRequest::ListImage(r) => {
            let (data, count) = list_image(&ctx, &r)?;
            envelope::success_page(request_id, data, count, r.page_number, r.page_size)
        }
        RpcRequest::DeleteImage(r) => envelope::success(request_id, delete_image(&ctx, &r)?),
        RpcRequest::StartTaskForDistributeImage(r) => {
            envelope::success(request_id, distribute_image(&ctx, &r)?)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Context
// ---------------------------------------------------------------------------------------

/// The ports, the settings and the caller's org (from its AccessKey).
pub type Ctx<'a> = crate::catalog::Ctx<'a, RpcSettings>;

impl Ctx<'_> {
    /// The org's image `id`, unless absent, foreign or being deleted.
    fn live_image(&self, id: &str) -> Result<Option<Stored<Image>>, StoreError> {
        if !valid_id(id) {
            return Ok(None);
        }
        let s = self.st.get::<Image>(&keys::image(&self.org, id))?;
        Ok(s.filter(|s| s.value.org_id == self.org && s.value.status != ImageStatus::Deleting))
    }

    /// The versions of `img`, oldest first (absent ones skipped).
    fn versions(&self, img: &Image) -> Result<Vec<Version>, StoreError> {
        crate::catalog::image_versions(&self.st, &img.org_id, img)
    }
}

/// Ids name keys: refuse anything that is not a plain id before it reaches a key.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
}

// ---------------------------------------------------------------------------------------
// CreateImageByInstance
// ---------------------------------------------------------------------------------------

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

/// Makes sure the register exists: its creation is elected with `increment` (R1).
fn ensure_register(ctx: &Ctx<'_>) -> Result<(), StoreError> {
    let key = keys::rpc_captures(&ctx.org);
    if ctx.st.get::<CaptureRegister>(&key)?.is_some() {
        return Ok(());
    }
    let n = ctx.st.counter_next(&keys::rpc_captures_claim(&ctx.org))?;
    if n == 1 {
        ctx.st.put_new(&key, &CaptureRegister::default())?;
        return Ok(());
    }
    // Another request was elected and is writing it: give it a moment.
    for _ in 0..3 {
        ctx.st.env().pause_ms(50);
        if ctx.st.get::<CaptureRegister>(&key)?.is_some() {
            return Ok(());
        }
    }
    // The elected creator died between its election and its write; without this the org
    // could never capture again. A creator that is merely very slow could still overwrite
    // an entry added meanwhile (one capture uncounted): the lesser evil.
    ctx.st.put_new(&key, &CaptureRegister::default())?;
    Ok(())
}

enum ClaimRefusal {
    TaskExist(String),
    Quota(u32),
}

impl From<ClaimRefusal> for RpcError {
    fn from(r: ClaimRefusal) -> Self {
        match r {
            ClaimRefusal::TaskExist(i) => err(
                "ImageCreateByInstance.TaskExist",
                format!("An image creation task for instance {i} is still running."),
            ),
            ClaimRefusal::Quota(q) => err(
                "ExceedBuilderQuota",
                format!("The number of concurrent image creation tasks exceeds the quota of {q}."),
            ),
        }
    }
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
fn claim_capture(ctx: &Ctx<'_>, entry: RunningCapture) -> Result<(), RpcError> {
    ensure_register(ctx)?;
    let key = keys::rpc_captures(&ctx.org);
    let current = ctx
        .st
        .get::<CaptureRegister>(&key)?
        .map(|s| s.value)
        .unwrap_or_default();
    let op_keys: Vec<String> = current
        .running
        .iter()
        .map(|e| keys::operation(&ctx.org, &e.op_id))
        .collect();
    let mut ops: Vec<(String, Option<Operation>)> = Vec::new();
    for (chunk_keys, chunk) in op_keys.chunks(100).zip(current.running.chunks(100)) {
        let got = ctx.st.get_many::<Operation>(chunk_keys)?;
        ops.extend(
            chunk
                .iter()
                .zip(got)
                .map(|(e, o)| (e.op_id.clone(), o.map(|s| s.value))),
        );
    }
    let now = ctx.st.now_ms();
    let quota = ctx.settings.builder_quota;
    ctx.st
        .update::<CaptureRegister, ClaimRefusal>(&key, |reg| {
            let mut running: Vec<RunningCapture> = reg
                .running
                .iter()
                .filter(|e| still_running(e, &ops, now))
                .cloned()
                .collect();
            if running.iter().any(|e| e.instance_id == entry.instance_id) {
                return Change::Abort(ClaimRefusal::TaskExist(entry.instance_id.clone()));
            }
            if running.len() >= usize::try_from(quota).unwrap_or(usize::MAX) {
                return Change::Abort(ClaimRefusal::Quota(quota));
            }
            running.push(entry.clone());
            Change::Write(CaptureRegister { running })
        })
        .map(|_| ())
        .map_err(|e| lift(e, || store_error(&StoreError::Transient("register".into()))))
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
    let (vs, asset_status) = ops::initial_statuses(OpKind::CaptureByInstance);
    let status = vs.unwrap_or(VersionStatus::Pending);
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
        tags: to_tags(&r.tags),
        extra,
    };
    let version = Version {
        id: version_id.clone(),
        stream_id: image_id.clone(),
        org_id: ctx.org.clone(),
        name: "1.0.0".into(),
        description: r.description.clone(),
        os: None,
        version_type: VersionType::Major,
        version_history: vec![],
        source_type: SourceType::ImportedVms,
        source_version_id: None,
        state: VersionState::NotReady,
        status,
        last_triggered_action: Some(LastTriggeredAction::Import),
        markers: vec![],
        created_at: now,
        updated_at: now,
        operation_id: Some(op_id.clone()),
        status_history: vec![StatusEntry {
            status,
            asset_status,
            at: now,
        }],
        allowed_actions: catalog::allowed_actions(status),
        asset_ids: vec![asset_id.clone()],
        regions: vec![],
        partner_image: None,
        op_seq: 0,
    };
    let mut data = Map::new();
    data.insert("instanceId".into(), json!(r.instance_id));
    let asset = Asset {
        id: asset_id,
        org_id: ctx.org.clone(),
        image_id,
        version_id,
        provider_instance_id: None,
        provider_label: None,
        asset_details: AssetDetails {
            asset_type: None,
            data,
        },
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
    let image_id = ctx.st.new_id("imgc-");
    let version_id = ctx.st.new_id("iv-");
    let op_id = ops::new_op_id(&ctx.st);
    claim_capture(
        ctx,
        RunningCapture {
            instance_id: r.instance_id.clone(),
            op_id: op_id.clone(),
            image_id: image_id.clone(),
            claimed_at: ctx.st.now_ms(),
        },
    )?;
    let c = build_capture(ctx, r, (&inst, &resolved), (image_id, version_id, op_id));
    if let Err(e) = write_capture(ctx, &c, &r.instance_id) {
        release_capture(ctx, &c.op_id);
        return Err(err(
            "CreateDesktopImageRecord.Failed",
            format!("The image record could not be written ({e}); retry."),
        ));
    }
    Ok(json!({
        "ImageId": c.image.id,
        "VersionId": c.version.id,
        "TaskId": c.op_id,
    }))
}

// ---------------------------------------------------------------------------------------
// ListImage
// ---------------------------------------------------------------------------------------

/// The org's images, through its index slots (never a key scan).
fn org_images(ctx: &Ctx<'_>) -> Result<Vec<Image>, StoreError> {
    crate::catalog::org_images(&ctx.st, &ctx.org)
}

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
    let latest = img.version_ids.last().cloned();
    let online = img
        .version_ids
        .iter()
        .rev()
        .find(|id| {
            img.version_statuses
                .get(*id)
                .is_some_and(|s| rpc_version_status(*s) == "AVAILABLE")
        })
        .cloned();
    let mut ids: Vec<String> = Vec::new();
    let distributed = img
        .distributed_version_ids
        .iter()
        .filter(|id| img.version_ids.contains(id));
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
    if crate::platform::is_shared(img) {
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

/// Returns the page's items and the count of every match.
pub fn list_image(ctx: &Ctx<'_>, q: &ListImage) -> Result<(Vec<Value>, u64), RpcError> {
    // A named image is read alone, not picked out of all of the org's.
    let candidates = match &q.image_id {
        Some(id) => match ctx.live_image(id)? {
            Some(s) => vec![s.value],
            None => crate::platform::image(&ctx.st, id)?.into_iter().collect(),
        },
        None => org_images(ctx)?,
    };
    let mut found: Vec<Image> = candidates.into_iter().filter(|i| matches(i, q)).collect();
    // Newest first, ties by id: a stable order across pages.
    found.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
    let count = u64::try_from(found.len()).unwrap_or(u64::MAX);
    let skip = usize::try_from(q.offset()).unwrap_or(usize::MAX);
    let page_size = usize::try_from(q.page_size).unwrap_or(10);
    let page: Vec<&Image> = found.iter().skip(skip).take(page_size).collect();
    // The versions the page shows, in one batched read (not every version of every image).
    let wanted: Vec<Option<Wanted>> = page.iter().map(|img| wanted(img)).collect();
    // A shared image's versions are the platform's records.
    let keys: Vec<String> = page
        .iter()
        .zip(&wanted)
        .filter_map(|(img, w)| w.as_ref().map(|w| (img, w)))
        .flat_map(|(img, w)| w.ids.iter().map(|id| keys::version(&img.org_id, id)))
        .collect();
    let mut read: Vec<Option<Version>> = Vec::new();
    for chunk in keys.chunks(100) {
        read.extend(
            ctx.st
                .get_many::<Version>(chunk)?
                .into_iter()
                .map(|s| s.map(|s| s.value)),
        );
    }
    let mut read = read.into_iter();
    let mut items = Vec::new();
    for (img, w) in page.into_iter().zip(wanted) {
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

// ---------------------------------------------------------------------------------------
// DeleteImage
// ---------------------------------------------------------------------------------------

/// The error for an image the org does not own: a platform-shared image is never deleted
/// or distributed by an org (`crate::platform`), any other is `Image.NotExist`.
fn absent_or_shared(ctx: &Ctx<'_>, id: &str) -> Result<RpcError, RpcError> {
    Ok(match crate::platform::image(&ctx.st, id)? {
        Some(_) => err(
            "ImageUpdateSharedImageFailed.NotAllow",
            format!(
                "image {id} is shared by the platform: it cannot be modified, deleted or distributed"
            ),
        ),
        None => image_not_exist(id),
    })
}

fn not_allowed(id: &str, why: &str) -> RpcError {
    err(
        "ImageUpdateFailed.NotAllow",
        format!("The image {id} cannot be deleted now: {why}."),
    )
}

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
        let Some(img) = ctx.live_image(&r.image_id)? else {
            return Err(absent_or_shared(ctx, &r.image_id)?);
        };
        let versions = ctx.versions(&img.value)?;
        if let Some(why) = busy(&versions) {
            return Err(not_allowed(&r.image_id, why));
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
                return Err(image_not_exist(&r.image_id));
            }
            Err(DeleteRefusal::MarkerInUse(m)) => {
                return Err(not_allowed(
                    &r.image_id,
                    &format!("its marker {m} is bound to desktop pools"),
                ));
            }
            Err(DeleteRefusal::Store(e)) => return Err(store_error(&e)),
            Err(DeleteRefusal::PreconditionFailed) => continue,
        }
    }
    Err(store_error(&StoreError::Transient(
        "image changed while deleting".into(),
    )))
}

// ---------------------------------------------------------------------------------------
// StartTaskForDistributeImage
// ---------------------------------------------------------------------------------------

fn distribute_not_allowed(why: String) -> RpcError {
    err("ImageRegionDistribute.NotAllow", why)
}

/// The image went away (is being deleted) while the distribution was recorded.
struct Gone(String);

impl From<Gone> for RpcError {
    fn from(g: Gone) -> Self {
        image_not_exist(&g.0)
    }
}

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

pub fn distribute_image(ctx: &Ctx<'_>, r: &StartTaskForDistributeImage) -> Result<Value, RpcError> {
    let Some(img) = ctx.live_image(&r.image_id)? else {
        return Err(absent_or_shared(ctx, &r.image_id)?);
    };
    let img = img.value;
    let version_id = match &r.version_id {
        Some(v) => v.clone(),
        None => img.version_ids.last().cloned().unwrap_or_default(),
    };
    let version = if img.version_ids.contains(&version_id) && valid_id(&version_id) {
        ctx.st
            .get::<Version>(&keys::version(&ctx.org, &version_id))?
            .map(|s| s.value)
            .filter(|v| v.stream_id == img.id)
    } else {
        None
    };
    let Some(version) = version else {
        return Err(err(
            "Image.NotExist",
            format!(
                "The version {version_id} of image {} does not exist.",
                r.image_id
            ),
        ));
    };
    let image_status = rpc_image_status(img.status);
    if image_status != "AVAILABLE" || rpc_version_status(version.status) != "AVAILABLE" {
        return Err(distribute_not_allowed(format!(
            "The image {} is {image_status}; only AVAILABLE images can be distributed.",
            r.image_id
        )));
    }
    for region in &r.destination_regions {
        let known = valid_id(region) && sim::region(&ctx.st, &ctx.org, region)?.is_some();
        if !known {
            return Err(err(
                "ParentImageRegionDistribute.NotExist",
                format!("The destination region {region} does not exist."),
            ));
        }
    }
    if let Some(why) = in_progress(&version, &r.destination_regions) {
        return Err(distribute_not_allowed(why));
    }

    // The operation first: it is the source of truth, and its projections create the region
    // entries should the writes below fail.
    let op_id = ops::new_op_id(&ctx.st);
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
    let now = ctx.now();
    let regions = r.destination_regions.clone();
    // Shown at once as INIT 0% (the advancer moves them on).
    ctx.st
        .update::<Version, Gone>(&keys::version(&ctx.org, &version.id), |v| {
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
        .map_err(|e| lift(e, || image_not_exist(&r.image_id)))?;
    // Then the image: a concurrent DeleteImage that read the image before this write fails
    // its precondition and looks again (then it sees the distribution).
    // It also lists the version as distributed, for ListImage.
    let image_id = img.id.clone();
    ctx.st
        .update::<Image, Gone>(&keys::image(&ctx.org, &img.id), |i| {
            if i.status == ImageStatus::Deleting {
                return Change::Abort(Gone(image_id.clone()));
            }
            let mut i = i.clone();
            i.updated_at = now;
            if !i.distributed_version_ids.contains(&version.id) {
                i.distributed_version_ids.push(version.id.clone());
            }
            Change::Write(i)
        })
        .map_err(|e| lift(e, || image_not_exist(&r.image_id)))?;
    Ok(json!(op_id))
}

#[cfg(test)]
mod tests;
