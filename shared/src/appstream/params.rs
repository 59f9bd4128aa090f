//! Parameters of the RPC door: the query string and the `x-www-form-urlencoded` body merged
//! into one map, typed accessors (flattened lists, booleans, integers), action/version
//! dispatch, and the typed requests of the four actions.
//!
//! A parameter name may occur once per request: the door refuses a name given twice, in the
//! query, in the body, or once in each ([`Params::parse_checked`], which signature
//! verification runs, so the value read is the one value signed). The SDK never sends one name
//! twice: scalars go to the body, `TagList` to the query.
//!
//! The body is parameters only when [`body_is_parameters`] says so; signature verification
//! then requires `content-type` to be signed (it decides how the body is read).

use crate::appstream::{API_VERSION, RpcError};
use std::collections::BTreeMap;

/// The most items a flattened list may carry (`TagList.100`, `DestinationRegionList.100`).
pub const MAX_LIST_ITEMS: usize = 100;
pub const DEFAULT_PAGE_SIZE: u32 = 10;
pub const MAX_PAGE_SIZE: u32 = 100;

/// `application/x-www-form-urlencoded` decoding of one name or value: `+` is a space, `%XX`
/// a byte; a `%` not followed by two hex digits stays as it is (lenient, never fails).
pub fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = b.get(i + 1).and_then(|c| char::from(*c).to_digit(16));
                let lo = b.get(i + 2).and_then(|c| char::from(*c).to_digit(16));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    // Two hex digits are at most 0xFF.
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn decode_str(s: &str) -> String {
    String::from_utf8_lossy(&form_decode(s)).into_owned()
}

/// The decoded `name=value` pairs of a query or form body, in arrival order (empty pairs
/// between `&&` skipped; a pair without `=` has the empty value).
fn pairs(raw: &str) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_str(k), decode_str(v))
    })
}

/// Whether a body sent with this `content-type` is read as form parameters: when the header
/// is absent or its media type is `application/x-www-form-urlencoded` (any letter case,
/// parameters such as `; charset=UTF-8` allowed). The one place this is decided: parsing and
/// signature verification both ask here.
pub fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_none_or(|ct| {
        ct.split(';').next().is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    })
}

/// Whether this body carries parameters: it is not empty and [`is_form`].
pub fn body_is_parameters(body: &[u8], content_type: Option<&str>) -> bool {
    !body.is_empty() && is_form(content_type)
}

/// The refusal of a name given more than once.
pub fn repeated(name: impl Into<String>) -> ParamError {
    ParamError::invalid(
        name,
        "it is given more than once (in the query, the body, or both); send each parameter once",
    )
}

/// A parameter-level refusal (all HTTP 400 but the unknown action, 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamError {
    /// `MissingParameter`: the named parameter is required.
    Missing(String),
    /// `InvalidParameter`: the named parameter has a bad value, with why.
    Invalid { name: String, reason: String },
    /// `InvalidAction.NotFound` (404).
    UnknownAction(String),
    /// `InvalidVersion`.
    UnknownVersion(String),
}

impl ParamError {
    fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ParamError::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }

    pub fn to_rpc_error(&self) -> RpcError {
        match self {
            ParamError::Missing(name) => RpcError::bad_request(
                "MissingParameter",
                format!(
                    "The input parameter \"{name}\" that is mandatory for processing this request is not supplied."
                ),
            ),
            ParamError::Invalid { name, reason } => RpcError::bad_request(
                "InvalidParameter",
                format!("The parameter \"{name}\" is invalid: {reason}."),
            ),
            ParamError::UnknownAction(action) => RpcError::new(
                404,
                "InvalidAction.NotFound",
                format!(
                    "Specified api \"{action}\" is not found, please check your url and method."
                ),
            ),
            ParamError::UnknownVersion(version) => RpcError::bad_request(
                "InvalidVersion",
                format!(
                    "Specified parameter Version \"{version}\" is not valid; the only version is {API_VERSION}."
                ),
            ),
        }
    }
}

impl From<ParamError> for RpcError {
    fn from(e: ParamError) -> Self {
        e.to_rpc_error()
    }
}

/// A `Key`/`Value` tag of `TagList`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// Every parameter of one request, by exact (case-sensitive) name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Merges the raw query and the body (the body only when [`body_is_parameters`]; any
    /// other body is not parameters), refusing a name that occurs twice (decoded: `a%41` and
    /// `aA` are one name) with `InvalidParameter` naming it.
    pub fn parse_checked(
        raw_query: &str,
        body: &[u8],
        content_type: Option<&str>,
    ) -> Result<Self, ParamError> {
        let mut map = BTreeMap::new();
        let body_text;
        let body_pairs = if body_is_parameters(body, content_type) {
            body_text = String::from_utf8_lossy(body);
            Some(pairs(&body_text))
        } else {
            None
        };
        for (k, v) in pairs(raw_query).chain(body_pairs.into_iter().flatten()) {
            match map.entry(k) {
                std::collections::btree_map::Entry::Occupied(e) => {
                    return Err(repeated(e.key().as_str()));
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        Ok(Params { map })
    }

    /// [`Params::parse_checked`] without the refusal, for requests known to be well formed
    /// (tests, the benchmark): should a name occur twice, the body's (then the later)
    /// value is kept. Verification (`sign::verify`) reads with `parse_checked` and hands
    /// the door what it read.
    pub fn parse(raw_query: &str, body: &[u8], content_type: Option<&str>) -> Self {
        let mut map: BTreeMap<String, String> = pairs(raw_query).collect();
        if body_is_parameters(body, content_type) {
            map.extend(pairs(&String::from_utf8_lossy(body)));
        }
        Params { map }
    }

    /// Builds from explicit pairs (tests, and callers that already decoded).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Params {
            map: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The raw value, empty or not.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The value when present and non-empty (an empty value counts as not given).
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// The value, or `MissingParameter` naming it.
    pub fn required(&self, name: &str) -> Result<&str, ParamError> {
        self.optional(name)
            .ok_or_else(|| ParamError::Missing(name.to_string()))
    }

    /// `true`/`false` in any letter case (Python sends `True`/`False`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ParamError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(ParamError::invalid(name, "expected true or false")),
        }
    }

    /// A decimal integer in `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ParamError> {
        let Some(v) = self.optional(name) else {
            return Ok(None);
        };
        let n: i64 = v
            .parse()
            .map_err(|_| ParamError::invalid(name, "expected a decimal integer"))?;
        if n < min || n > max {
            return Err(ParamError::invalid(
                name,
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(Some(n))
    }

    /// The 1-based index and the remainder after `prefix.` of every name under `prefix`
    /// (`TagList.2.Key` → `(2, "Key")`, `DestinationRegionList.1` → `(1, "")`).
    fn indexed(&self, prefix: &str) -> Result<Vec<(usize, &str, &str)>, ParamError> {
        let mut out = Vec::new();
        let head = format!("{prefix}.");
        for (k, v) in self.map.range(head.clone()..) {
            let Some(rest) = k.strip_prefix(&head) else {
                break;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let n = index
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST_ITEMS).contains(n))
                .ok_or_else(|| {
                    ParamError::invalid(
                        k.as_str(),
                        format!("list indexes run from 1 to {MAX_LIST_ITEMS}"),
                    )
                })?;
            out.push((n, field, v.as_str()));
        }
        out.sort_by_key(|(n, _, _)| *n);
        Ok(out)
    }

    /// A flattened list of scalars (`Name.1=a&Name.2=b`), in index order, empty items skipped.
    pub fn list(&self, prefix: &str) -> Result<Vec<String>, ParamError> {
        let mut out = Vec::new();
        for (n, field, v) in self.indexed(prefix)? {
            if !field.is_empty() {
                return Err(ParamError::invalid(
                    format!("{prefix}.{n}.{field}"),
                    "not a field of this list",
                ));
            }
            if !v.is_empty() {
                out.push(v.to_string());
            }
        }
        Ok(out)
    }

    /// A flattened tag list (`TagList.1.Key=k&TagList.1.Value=v`) in index order. The vendor
    /// marks both `Key` and `Value` optional: an absent one is the empty string (an entry
    /// with neither carries nothing and is dropped).
    pub fn tags(&self, prefix: &str) -> Result<Vec<Tag>, ParamError> {
        let mut by_index: BTreeMap<usize, (&str, &str)> = BTreeMap::new();
        for (n, field, v) in self.indexed(prefix)? {
            let entry = by_index.entry(n).or_default();
            match field {
                "Key" => entry.0 = v,
                "Value" => entry.1 = v,
                other => {
                    return Err(ParamError::invalid(
                        format!("{prefix}.{n}.{other}"),
                        "a tag has only Key and Value",
                    ));
                }
            }
        }
        Ok(by_index
            .into_values()
            .filter(|(key, value)| !key.is_empty() || !value.is_empty())
            .map(|(key, value)| Tag {
                key: key.to_string(),
                value: value.to_string(),
            })
            .collect())
    }

    /// The optional value, required to be one of `allowed` (case-sensitive).
    fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ParamError> {
        match self.optional(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(_) => Err(ParamError::invalid(
                name,
                format!("expected one of {}", allowed.join(", ")),
            )),
        }
    }

    fn string(&self, name: &str) -> Option<String> {
        self.optional(name).map(str::to_string)
    }
}

/// The actions the door serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateImageByInstance,
    ListImage,
    DeleteImage,
    StartTaskForDistributeImage,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::CreateImageByInstance,
        Action::ListImage,
        Action::DeleteImage,
        Action::StartTaskForDistributeImage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::CreateImageByInstance => "CreateImageByInstance",
            Action::ListImage => "ListImage",
            Action::DeleteImage => "DeleteImage",
            Action::StartTaskForDistributeImage => "StartTaskForDistributeImage",
        }
    }

    /// Exact (case-sensitive) action name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Picks the action: `x-acs-action` header, else the `Action` parameter; the version:
/// `x-acs-version` header, else `Version`. A header wins over a parameter. The version is
/// checked first (the set of actions depends on it).
pub fn resolve_action(
    header_action: Option<&str>,
    header_version: Option<&str>,
    params: &Params,
) -> Result<Action, ParamError> {
    let pick = |header: Option<&str>, name: &str| {
        header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .or_else(|| params.optional(name))
            .map(str::to_string)
    };
    let version =
        pick(header_version, "Version").ok_or_else(|| ParamError::Missing("Version".into()))?;
    if version != API_VERSION {
        return Err(ParamError::UnknownVersion(version));
    }
    let action =
        pick(header_action, "Action").ok_or_else(|| ParamError::Missing("Action".into()))?;
    Action::from_name(&action).ok_or(ParamError::UnknownAction(action))
}

pub const INSTANCE_TYPES: [&str; 2] = ["CloudDesktop", "WuyingServer"];
pub const DISK_TYPES: [&str; 2] = ["SYSTEM", "ALL"];
pub const IMAGE_STATUSES: [&str; 4] = ["INIT", "CREATING", "AVAILABLE", "CREATE_FAILED"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceType {
    CloudDesktop,
    WuyingServer,
}

impl InstanceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceType::CloudDesktop => "CloudDesktop",
            InstanceType::WuyingServer => "WuyingServer",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    /// The system disk only.
    System,
    /// System and data disks (the default).
    All,
}

impl DiskType {
    pub fn as_str(self) -> &'static str {
        match self {
            DiskType::System => "SYSTEM",
            DiskType::All => "ALL",
        }
    }
}

/// CreateImageByInstance as sent. The vendor marks every parameter optional; the defaults
/// that need the instance (its type, a generated name) are applied once it is found
/// (`capture::resolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateImageByInstance {
    /// The one parameter whose absence leaves nothing to capture: `MissingParameter`.
    pub instance_id: String,
    /// `None`: the instance's own type.
    pub instance_type: Option<InstanceType>,
    /// Workstations (`WuyingServer`) only: the persistent session id.
    pub sub_instance_id: Option<String>,
    /// `None`: a generated name.
    pub image_name: Option<String>,
    pub description: Option<String>,
    /// Cloud desktops only; `false` when not given.
    pub auto_clean_userdata: bool,
    pub disk_type: DiskType,
    pub tags: Vec<Tag>,
    pub biz_type: Option<i64>,
    /// `None`: the instance's type.
    pub product_type: Option<String>,
    /// Sent by the SDK; accepted and carried, no effect in the simulator.
    pub copy_profile: Option<bool>,
}

impl CreateImageByInstance {
    /// Only `InstanceId` is needed. `SubInstanceId` with `InstanceType=CloudDesktop` and
    /// `AutoCleanUserdata=true` with `InstanceType=WuyingServer` are `InvalidParameter` (they
    /// mean nothing there; `AutoCleanUserdata=false` is harmless and accepted); without an
    /// `InstanceType` the same rules apply to the instance's own type once it is found.
    pub fn parse(p: &Params) -> Result<Self, ParamError> {
        let instance_id = p.required("InstanceId")?.to_string();
        let instance_type = match p.one_of("InstanceType", &INSTANCE_TYPES)?.as_deref() {
            None => None,
            Some("WuyingServer") => Some(InstanceType::WuyingServer),
            Some(_) => Some(InstanceType::CloudDesktop),
        };
        let sub_instance_id = p.string("SubInstanceId");
        if sub_instance_id.is_some() && instance_type == Some(InstanceType::CloudDesktop) {
            return Err(sub_instance_on_a_desktop());
        }
        let auto_clean_userdata = p.bool("AutoCleanUserdata")?.unwrap_or(false);
        if auto_clean_userdata && instance_type == Some(InstanceType::WuyingServer) {
            return Err(auto_clean_on_a_workstation());
        }
        let disk_type = match p.one_of("DiskType", &DISK_TYPES)?.as_deref() {
            Some("SYSTEM") => DiskType::System,
            _ => DiskType::All,
        };
        Ok(CreateImageByInstance {
            instance_id,
            instance_type,
            sub_instance_id,
            image_name: p.string("ImageName"),
            description: p.string("Description"),
            auto_clean_userdata,
            disk_type,
            tags: p.tags("TagList")?,
            biz_type: p.int("BizType", i64::from(i32::MIN), i64::from(i32::MAX))?,
            product_type: p.string("ProductType"),
            copy_profile: p.bool("CopyProfile")?,
        })
    }
}

/// `SubInstanceId` given for a cloud desktop.
pub fn sub_instance_on_a_desktop() -> ParamError {
    ParamError::invalid("SubInstanceId", "applies to WuyingServer instances only")
}

/// `AutoCleanUserdata=true` given for a workstation.
pub fn auto_clean_on_a_workstation() -> ParamError {
    ParamError::invalid(
        "AutoCleanUserdata",
        "applies to CloudDesktop instances only",
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListImage {
    pub image_id: Option<String>,
    /// Substring match.
    pub image_name: Option<String>,
    /// One of [`IMAGE_STATUSES`].
    pub status: Option<String>,
    /// `User` for the org's own images.
    pub image_type: Option<String>,
    pub os_type: Option<String>,
    pub product_type: Option<String>,
    /// Every tag must match.
    pub tags: Vec<Tag>,
    /// From 1.
    pub page_number: u32,
    /// 1..=100.
    pub page_size: u32,
}

impl ListImage {
    pub fn parse(p: &Params) -> Result<Self, ParamError> {
        let page_number = p.int("PageNumber", 1, i64::from(u32::MAX))?.unwrap_or(1);
        let page_size = p
            .int("PageSize", 1, i64::from(MAX_PAGE_SIZE))?
            .unwrap_or(i64::from(DEFAULT_PAGE_SIZE));
        Ok(ListImage {
            image_id: p.string("ImageId"),
            image_name: p.string("ImageName"),
            status: p.one_of("Status", &IMAGE_STATUSES)?,
            image_type: p.string("ImageType"),
            os_type: p.string("OsType"),
            product_type: p.string("ProductType"),
            tags: p.tags("TagList")?,
            // Both were range-checked into u32 above.
            page_number: u32::try_from(page_number).unwrap_or(1),
            page_size: u32::try_from(page_size).unwrap_or(DEFAULT_PAGE_SIZE),
        })
    }

    /// How many items to skip for this page (saturating: huge page numbers skip everything).
    pub fn offset(&self) -> u64 {
        u64::from(self.page_number.saturating_sub(1)) * u64::from(self.page_size)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteImage {
    pub image_id: String,
}

impl DeleteImage {
    pub fn parse(p: &Params) -> Result<Self, ParamError> {
        Ok(DeleteImage {
            image_id: p.required("ImageId")?.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartTaskForDistributeImage {
    pub image_id: String,
    /// `None`: the latest version.
    pub version_id: Option<String>,
    /// At least one region, duplicates removed, in the order given.
    pub destination_regions: Vec<String>,
    pub source_region: Option<String>,
    pub product_type: Option<String>,
    pub retry_type: Option<String>,
}

impl StartTaskForDistributeImage {
    pub fn parse(p: &Params) -> Result<Self, ParamError> {
        let image_id = p.required("ImageId")?.to_string();
        let mut destination_regions: Vec<String> = Vec::new();
        for region in p.list("DestinationRegionList")? {
            if !destination_regions.contains(&region) {
                destination_regions.push(region);
            }
        }
        if destination_regions.is_empty() {
            return Err(ParamError::Missing("DestinationRegionList".into()));
        }
        Ok(StartTaskForDistributeImage {
            image_id,
            version_id: p.string("VersionId"),
            destination_regions,
            source_region: p.string("SourceRegion"),
            product_type: p.string("ProductType"),
            retry_type: p.string("RetryType"),
        })
    }
}

/// A parsed request of one of the actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RpcRequest {
    CreateImageByInstance(CreateImageByInstance),
    ListImage(ListImage),
    DeleteImage(DeleteImage),
    StartTaskForDistributeImage(StartTaskForDistributeImage),
}

impl RpcRequest {
    pub fn parse(action: Action, p: &Params) -> Result<Self, ParamError> {
        Ok(match action {
            Action::CreateImageByInstance => {
                RpcRequest::CreateImageByInstance(CreateImageByInstance::parse(p)?)
            }
            Action::ListImage => RpcRequest::ListImage(ListImage::parse(p)?),
            Action::DeleteImage => RpcRequest::DeleteImage(DeleteImage::parse(p)?),
            Action::StartTaskForDistributeImage => {
                RpcRequest::StartTaskForDistributeImage(StartTaskForDistributeImage::parse(p)?)
            }
        })
    }
}

#[cfg(test)]
mod tests;
