//! The RPC door end to end: [`handle`] takes an [`ApiRequest`] (plus the request URI's
//! authority, R7) and always answers a complete [`ApiResponse`] with the door's JSON envelope.
//!
//! Order: method → body size → ACS3 verification (AccessKeys and nonces through
//! `auth_store`) → version/action → parameters → the action.
//!
//! One file a concern: this one is the edge (settings, context, dispatch); `errors` holds
//! every error the actions answer (and the one mapping of a store failure); each action has
//! its own file: `create` (CreateImageByInstance), `list` (ListImage), `delete`
//! (DeleteImage) and `distribute` (StartTaskForDistributeImage).
//!
//! The records are the REST door's (`catalog`): a capture writes an image (`imgc-…`, source
//! type `IMPORTED_VMS`), its version `1.0.0` (`iv-…`) and an asset, starts a
//! `capture-by-instance` operation (`tid-…`) and takes a slot of the org's image index, exactly
//! as `imagemgmt::service` creates images (both through `catalog::write`); so each door lists
//! the other's images.

mod auth_store;
mod create;
mod delete;
mod distribute;
mod errors;
mod list;

pub use crate::appstream::capture::{MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
pub use create::{CLAIM_GRACE_MS, CaptureRegister, RunningCapture, create_image_by_instance};
pub use delete::delete_image;
pub use distribute::distribute_image;
pub use list::{list_image, rpc_os_type};

use crate::api::{ApiRequest, ApiResponse, MAX_BODY_BYTES, RETRY_AFTER_SECONDS};
use crate::appstream::params::{RpcRequest, resolve_action};
use crate::appstream::sign::{self, SignedRequest};
use crate::appstream::{RpcError, envelope};
use crate::catalog::{Image, Version};
use crate::keys;
use crate::ops::Settings;
use crate::ratelimit::{self, Verdict};
use crate::records::{Store, Stored};
use crate::routing::Method;
use crate::store::StoreError;
use crate::vocab::ImageStatus;
use auth_store::KvAuth;
use serde::de::DeserializeOwned;

/// Default of the Spin variable `builder_quota`: concurrent captures per org. Generous enough
/// for one org's test suite running a dozen quick captures at once (tests/sdk).
pub const DEFAULT_BUILDER_QUOTA: u32 = 20;

/// Highest `builder_quota` accepted: the org's capture register holds up to that many
/// entries (about 150 bytes each, so at most about 750 KB), a record every backend holds.
pub const MAX_BUILDER_QUOTA: u32 = 5_000;

/// The door's settings: the operations' settings plus its own.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcSettings {
    pub ops: Settings,
    /// Most captures an org may run at once (`ExceedBuilderQuota` beyond).
    pub builder_quota: u32,
    /// The keys AccessKey secrets are sealed with (`crate::secrets`).
    pub secrets: crate::secrets::Secrets,
}

impl Default for RpcSettings {
    fn default() -> Self {
        RpcSettings {
            ops: Settings::default(),
            builder_quota: DEFAULT_BUILDER_QUOTA,
            secrets: crate::secrets::Secrets::default(),
        }
    }
}

impl RpcSettings {
    /// The operation variables ([`Settings::from_vars`]) plus `builder_quota` (an integer
    /// from 1 to [`MAX_BUILDER_QUOTA`]; absent or empty: [`DEFAULT_BUILDER_QUOTA`]) and the
    /// sealing keys (`secrets_key`, `secrets_key_previous`).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<RpcSettings, String> {
        let ops = Settings::from_vars(&var)?;
        let builder_quota = match var("builder_quota") {
            None => DEFAULT_BUILDER_QUOTA,
            Some(v) if v.trim().is_empty() => DEFAULT_BUILDER_QUOTA,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=MAX_BUILDER_QUOTA).contains(&n) => n,
                _ => {
                    return Err(format!(
                        "variable builder_quota must be an integer from 1 to {MAX_BUILDER_QUOTA}, got {v:?}"
                    ));
                }
            },
        };
        let secrets = crate::secrets::Secrets::from_vars(&var)?;
        Ok(RpcSettings {
            ops,
            builder_quota,
            secrets,
        })
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
// The edge
// ---------------------------------------------------------------------------------------

/// The door's one route takes the two methods ACS3 signs (parameters in the query or in a
/// form body); the 405's `Allow` lists exactly these.
const METHODS: &[(Method, ())] = &[(Method::Get, ()), (Method::Post, ())];

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
        // Exactly the two signed methods: an RPC has no HEAD (a route table would derive it).
        let allow: Vec<&str> = METHODS.iter().map(|(m, ())| m.as_str()).collect();
        out = out.header("allow", &allow.join(", "));
    }
    out
}

fn handle_inner(
    st: &Store<'_>,
    settings: &RpcSettings,
    req: &ApiRequest,
    authority: &str,
    request_id: &str,
) -> Result<envelope::RpcResponse, RpcError> {
    let method = req.method.to_ascii_uppercase();
    if !METHODS.iter().any(|(m, ())| m.as_str() == method) {
        return Err(errors::method_not_supported(&method));
    }
    if req.body.len() > MAX_BODY_BYTES {
        return Err(errors::body_too_large(MAX_BODY_BYTES));
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
        secrets: &settings.secrets,
    };
    let verified = sign::authenticate(&signed, st.now_ms(), &store).map_err(errors::refused)?;
    // The org's request limit, before any other store work (`crate::ratelimit`).
    if let Verdict::Throttled { retry_after_s } =
        ratelimit::check(st, &settings.ops, ratelimit::Door::Rpc, &verified.owner)
    {
        return Err(errors::throttled(retry_after_s));
    }
    // The parameters as verification read them (strictly: a repeated name was refused).
    let action = resolve_action(
        req.header("x-acs-action"),
        req.header("x-acs-version"),
        &verified.params,
    )?;
    let request = RpcRequest::parse(action, &verified.params)?;
    // Admitted: only now is the nonce spent (a refused call leaves nothing in the store).
    sign::claim_nonce(&store, &verified).map_err(errors::refused)?;
    let ctx = Ctx {
        st: *st,
        settings,
        org: verified.owner.org.clone(),
        handed: Default::default(),
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

    /// The org's live image `id`, or the error for one it does not own: a platform-shared
    /// image is never deleted or distributed by an org (`crate::catalog::platform`), any other is
    /// `Image.NotExist`.
    fn own_image(&self, id: &str) -> Result<Stored<Image>, RpcError> {
        match self.live_image(id)? {
            Some(img) => Ok(img),
            None => Err(match crate::catalog::platform::image(&self.st, id)? {
                Some(_) => errors::shared_image_not_allowed(id),
                None => errors::image_not_exist(id),
            }),
        }
    }

    /// The records under `keys`, in order (absent ones `None`), read in batches.
    fn get_all<T: DeserializeOwned>(&self, keys: &[String]) -> Result<Vec<Option<T>>, StoreError> {
        let mut read = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(100) {
            read.extend(
                self.st
                    .get_many::<T>(chunk)?
                    .into_iter()
                    .map(|s| s.map(|s| s.value)),
            );
        }
        Ok(read)
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

#[cfg(test)]
mod tests;
