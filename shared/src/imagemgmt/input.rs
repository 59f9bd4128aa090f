//! Request bodies as types: every field is parsed once into a value that cannot be invalid
//! (parse, don't validate). Parsers collect every failing field, each named by its JSON path,
//! so a 400 lists them all. Unknown fields are ignored; a wrong type or an unknown enum value
//! fails its field.

use crate::api::{FieldError, Problem};
use crate::catalog::AssetDetails;
use crate::vocab::{AssetType, GpuType, OsType, ProviderLabel, SourceType, VersionType};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Largest accepted description.
pub const MAX_DESCRIPTION: usize = 1024;
/// Largest accepted id (ours are 24 characters; admin ids are free-form but short).
pub const MAX_ID: usize = 128;

/// 1–64 characters of letters, digits, `_` and `-` (image and marker names).
fn check_name(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if n == 0 || n > 64 {
        return Err(format!("must be 1 to 64 characters, got {n}"));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err("may only contain letters, digits, '_' and '-'".into());
    }
    Ok(())
}

macro_rules! newtype {
    ($(#[$m:meta])* $name:ident, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses, refusing values outside the rule.
            pub fn parse(s: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s).map(|()| $name(s.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

newtype!(
    /// An image name: 1–64 letters, digits, `_`, `-`.
    ImageName,
    check_name
);
newtype!(
    /// A marker name: 1–64 letters, digits, `_`, `-`.
    MarkerName,
    check_name
);
newtype!(
    /// A description: at most 1024 characters.
    Description,
    |s| {
        let n = s.chars().count();
        if n > MAX_DESCRIPTION {
            Err(format!("must be at most {MAX_DESCRIPTION} characters, got {n}"))
        } else {
            Ok(())
        }
    }
);
newtype!(
    /// An id (ours or the admin API's): 1–128 characters of letters, digits, `_ - . :`.
    Id,
    |s| {
        let n = s.len();
        if n == 0 || n > MAX_ID {
            return Err(format!("must be 1 to {MAX_ID} characters"));
        }
        if !s
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':'))
        {
            return Err("may only contain letters, digits, '_', '-', '.' and ':'".into());
        }
        Ok(())
    }
);

/// A version number `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionNumber {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl FromStr for VersionNumber {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split('.').collect();
        let num = |p: &str| -> Result<u64, String> {
            if p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(format!("{s:?} is not major.minor.patch"));
            }
            p.parse().map_err(|_| format!("{s:?} is out of range"))
        };
        match parts.as_slice() {
            [a, b, c] => Ok(VersionNumber {
                major: num(a)?,
                minor: num(b)?,
                patch: num(c)?,
            }),
            _ => Err(format!("{s:?} is not major.minor.patch")),
        }
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Reads fields of one JSON object, collecting errors named by their JSON path.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    pub errors: Vec<FieldError>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Fields<'a> {
    /// The body's top-level object; a body that is JSON but not an object fails field `$`.
    pub fn of_body(v: &'a Value) -> Result<Fields<'a>, Problem> {
        match v {
            Value::Object(obj) => Ok(Fields {
                obj,
                prefix: String::new(),
                errors: Vec::new(),
            }),
            other => Err(Problem::field(
                "$",
                "INVALID_TYPE",
                format!("the body must be a JSON object, got {}", type_name(other)),
            )),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    fn fail(&mut self, name: &str, code: &str, msg: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(&field, code, msg));
    }

    /// Records an error about a field from outside (a rule spanning fields).
    pub fn reject(&mut self, name: &str, code: &str, msg: impl Into<String>) {
        self.fail(name, code, msg);
    }

    /// The raw value; `null` counts as absent.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    pub fn str(&mut self, name: &str) -> Option<&'a str> {
        match self.raw(name)? {
            Value::String(s) => Some(s.as_str()),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be a string, got {t}"));
                None
            }
        }
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.raw(name)? {
            Value::Bool(b) => Some(*b),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be a boolean, got {t}"));
                None
            }
        }
    }

    /// A string parsed by `parse` (a newtype constructor or `FromStr`).
    pub fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(name)?;
        match parse(s) {
            Ok(v) => Some(v),
            Err(m) => {
                self.fail(name, "INVALID_VALUE", m);
                None
            }
        }
    }

    /// A wire enum; an unknown value fails with `UNKNOWN_VALUE`.
    pub fn enumerated<E: FromStr>(&mut self, name: &str) -> Option<E>
    where
        E::Err: fmt::Display,
    {
        let s = self.str(name)?;
        match s.parse::<E>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(name, "UNKNOWN_VALUE", e.to_string());
                None
            }
        }
    }

    /// Marks a field as required when `got` is `None` and the field was absent.
    pub fn required<T>(&mut self, name: &str, got: Option<T>) -> Option<T> {
        if got.is_none() && !self.has(name) {
            self.fail(name, "REQUIRED", "is required");
        }
        got
    }

    pub fn array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.raw(name)? {
            Value::Array(a) => Some(a),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be an array, got {t}"));
                None
            }
        }
    }

    /// A nested object, read with the same error list (paths prefixed `name.`).
    pub fn object(&mut self, name: &str) -> Option<Fields<'a>> {
        match self.raw(name)? {
            Value::Object(obj) => Some(Fields {
                obj,
                prefix: format!("{}.", self.path(name)),
                errors: Vec::new(),
            }),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be an object, got {t}"));
                None
            }
        }
    }

    /// Element `i` of array `name` as an object.
    pub fn element(&mut self, name: &str, i: usize, v: &'a Value) -> Option<Fields<'a>> {
        match v {
            Value::Object(obj) => Some(Fields {
                obj,
                prefix: format!("{}[{i}].", self.path(name)),
                errors: Vec::new(),
            }),
            other => {
                let t = type_name(other);
                self.fail(
                    &format!("{name}[{i}]"),
                    "INVALID_TYPE",
                    format!("must be an object, got {t}"),
                );
                None
            }
        }
    }

    /// Takes the errors of a nested reader into this one.
    pub fn absorb(&mut self, nested: Fields<'a>) {
        self.errors.extend(nested.errors);
    }

    /// The raw object (for `assetDetails.data`, kept as given).
    pub fn map(&self) -> &'a Map<String, Value> {
        self.obj
    }

    /// Ends parsing: any error makes a 400 listing every failing field.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

fn description(f: &mut Fields<'_>, name: &str) -> Option<Description> {
    f.parsed(name, Description::parse)
}

fn id(f: &mut Fields<'_>, name: &str) -> Option<Id> {
    f.parsed(name, Id::parse)
}

/// `markers[]`: names, as strings or as `{ "name": … }` objects; unique within the request.
fn markers(f: &mut Fields<'_>) -> Vec<MarkerName> {
    let mut out: Vec<MarkerName> = Vec::new();
    let Some(items) = f.array("markers") else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let field = format!("markers[{i}]");
        let name = match item {
            Value::String(s) => Some((s.as_str(), field.clone())),
            Value::Object(o) => match o.get("name") {
                Some(Value::String(s)) => Some((s.as_str(), format!("{field}.name"))),
                _ => {
                    f.reject(
                        &format!("{field}.name"),
                        "REQUIRED",
                        "a marker needs a name",
                    );
                    None
                }
            },
            _ => {
                f.reject(&field, "INVALID_TYPE", "must be a marker name or object");
                None
            }
        };
        if let Some((s, path)) = name {
            match MarkerName::parse(s) {
                Ok(m) if out.contains(&m) => f.reject(&path, "DUPLICATE", "marker named twice"),
                Ok(m) => out.push(m),
                Err(e) => f.reject(&path, "INVALID_VALUE", e),
            }
        }
    }
    out
}

/// Where a new version's bits come from (Add Version rules 3 and 4).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// Copy an Azure gallery image version.
    Sig {
        source_image_version_id: Id,
        /// The partner org that prepared the image through this API.
        msp_org_id: Option<Id>,
        client_access_license: Option<bool>,
        multi_session: Option<bool>,
    },
    /// Import a customer VM.
    CustomVm { vm_id: Id },
    /// Import a marketplace image.
    MarketPlace,
}

impl Source {
    /// The provider source id the simulator knows (gallery image version or VM).
    pub fn source_id(&self) -> Option<String> {
        match self {
            Source::Sig {
                source_image_version_id,
                ..
            } => Some(source_image_version_id.to_string()),
            Source::CustomVm { vm_id } => Some(vm_id.to_string()),
            Source::MarketPlace => None,
        }
    }
}

/// Reads `assetDetails { assetType, data{} }` and the source rules for `source_type`.
/// `top_multi_session` is a top-level `multiSession` (create image has one).
fn asset_details(
    f: &mut Fields<'_>,
    source_type: Option<SourceType>,
    top_multi_session: Option<bool>,
) -> (AssetDetails, Option<Source>) {
    let mut details = AssetDetails::default();
    let mut ad = f.object("assetDetails");
    if let Some(ad) = ad.as_mut() {
        details.asset_type = ad.enumerated::<AssetType>("assetType");
    }
    let mut data = ad.as_mut().and_then(|ad| ad.object("data"));
    if let Some(d) = data.as_ref() {
        details.data = d.map().clone();
    }
    let need = |f: &mut Fields<'_>, what: &str| {
        f.reject(
            &format!("assetDetails.data.{what}"),
            "REQUIRED",
            "is required",
        );
    };
    let source = match source_type {
        Some(SourceType::AzureSig) => {
            let src = data.as_mut().and_then(|d| id(d, "sourceImageVersionId"));
            let msp = data.as_mut().and_then(|d| id(d, "mspOrgId"));
            let cal = data
                .as_mut()
                .and_then(|d| d.bool("isClientAccessLicenseApplicable"));
            let ms = data
                .as_mut()
                .and_then(|d| d.bool("multiSession"))
                .or(top_multi_session);
            let has = |d: &Option<Fields<'_>>, k: &str| d.as_ref().is_some_and(|d| d.has(k));
            let mut ok = true;
            if src.is_none() && !has(&data, "sourceImageVersionId") {
                need(f, "sourceImageVersionId");
                ok = false;
            }
            // An externally prepared image (no partner org) must say how it is licensed.
            if msp.is_none() && !has(&data, "mspOrgId") {
                if cal.is_none() && !has(&data, "isClientAccessLicenseApplicable") {
                    need(f, "isClientAccessLicenseApplicable");
                    ok = false;
                }
                if ms.is_none() && !has(&data, "multiSession") {
                    need(f, "multiSession");
                    ok = false;
                }
            }
            match src {
                Some(s) if ok => Some(Source::Sig {
                    source_image_version_id: s,
                    msp_org_id: msp,
                    client_access_license: cal,
                    multi_session: ms,
                }),
                _ => None,
            }
        }
        Some(SourceType::AzureCustomVm) => {
            let vm = data.as_mut().and_then(|d| id(d, "vmId"));
            if vm.is_none() && !data.as_ref().is_some_and(|d| d.has("vmId")) {
                need(f, "vmId");
            }
            vm.map(|vm_id| Source::CustomVm { vm_id })
        }
        Some(SourceType::AzureMarketPlace) => Some(Source::MarketPlace),
        _ => None,
    };
    if let Some(d) = data {
        f.absorb(d);
    }
    if let Some(ad) = ad {
        f.absorb(ad);
    }
    (details, source)
}

/// The `action` of endpoint 1 and the source type it implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateAction {
    Import,
    CopyExistingImage,
    ImportCustomVm,
}

impl CreateAction {
    pub fn parse(s: Option<&str>) -> Result<Self, Problem> {
        match s {
            None | Some("import") => Ok(CreateAction::Import),
            Some("copy-existing-image") => Ok(CreateAction::CopyExistingImage),
            Some("import-custom-vm") => Ok(CreateAction::ImportCustomVm),
            Some(other) => Err(Problem::field(
                "action",
                "UNKNOWN_VALUE",
                format!(
                    "unknown action {other:?}: import, copy-existing-image or import-custom-vm"
                ),
            )),
        }
    }

    pub fn source_type(self) -> SourceType {
        match self {
            CreateAction::Import => SourceType::AzureMarketPlace,
            CreateAction::CopyExistingImage => SourceType::AzureSig,
            CreateAction::ImportCustomVm => SourceType::AzureCustomVm,
        }
    }
}

/// `ImageCatalogRequest` (endpoint 1).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageCatalogRequest {
    pub stream_name: ImageName,
    pub stream_description: Option<Description>,
    pub version_description: Option<Description>,
    pub source_type: SourceType,
    pub os: Option<String>,
    pub os_type: OsType,
    pub gpu_type: GpuType,
    pub multi_session: bool,
    pub provider_label: Option<ProviderLabel>,
    pub provider_instance_id: Option<Id>,
    pub org_id: Option<String>,
    pub asset_details: AssetDetails,
    pub source: Source,
}

fn os(f: &mut Fields<'_>) -> Option<String> {
    f.parsed("os", |s| {
        if s.chars().count() > 256 {
            Err("must be at most 256 characters".into())
        } else {
            Ok(s.to_owned())
        }
    })
}

impl ImageCatalogRequest {
    pub fn parse(body: &Value, action: CreateAction) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let stream_name = f.parsed("streamName", ImageName::parse);
        let stream_name = f.required("streamName", stream_name);
        let stream_description = description(&mut f, "streamDescription");
        let version_description = description(&mut f, "versionDescription");
        // Only MAJOR makes sense for a first version; PATCH is never server-side.
        if let Some(t) = f.enumerated::<VersionType>("versionType")
            && t == VersionType::Patch
        {
            f.reject(
                "versionType",
                "UNSUPPORTED",
                "PATCH versions are not supported",
            );
        }
        let wanted = action.source_type();
        let source_type = match f.enumerated::<SourceType>("sourceStreamType") {
            Some(s) if s != wanted => {
                f.reject(
                    "sourceStreamType",
                    "ACTION_MISMATCH",
                    format!("the action needs sourceStreamType {wanted}, got {s}"),
                );
                None
            }
            _ => Some(wanted),
        };
        let os = os(&mut f);
        let os_type = f.enumerated::<OsType>("osType");
        let os_type = f.required("osType", os_type);
        let gpu_type = f.enumerated::<GpuType>("gpuType").unwrap_or(GpuType::None);
        let multi_session = f.bool("multiSession");
        let provider_label = f.enumerated::<ProviderLabel>("providerLabel");
        let provider_instance_id = id(&mut f, "providerInstanceId");
        if provider_instance_id.is_none()
            && !f.has("providerInstanceId")
            && wanted != SourceType::AzureMarketPlace
        {
            f.reject(
                "providerInstanceId",
                "REQUIRED",
                "is required for this action",
            );
        }
        let org_id = f.str("orgId").map(str::to_owned);
        let (asset_details, source) = asset_details(&mut f, source_type, multi_session);
        f.finish()?;
        match (stream_name, os_type, source_type, source) {
            (Some(stream_name), Some(os_type), Some(source_type), Some(source)) => Ok(Self {
                stream_name,
                stream_description,
                version_description,
                source_type,
                os,
                os_type,
                gpu_type,
                multi_session: multi_session.unwrap_or(false),
                provider_label,
                provider_instance_id,
                org_id,
                asset_details,
                source,
            }),
            // Every None above recorded an error, so finish() returned; keep it total anyway.
            _ => Err(Problem::field("$", "INVALID_VALUE", "incomplete request")),
        }
    }
}

/// The number a new version takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Numbering {
    /// Next free major; `source` (optional) gives the history.
    Major,
    /// Next free minor in the source's major.
    Minor,
}

/// `VersionCreateTO` (endpoint 6).
#[derive(Debug, Clone, PartialEq)]
pub struct VersionCreateTO {
    pub description: Option<Description>,
    pub gpu_type: Option<GpuType>,
    pub os_type: Option<OsType>,
    pub os: Option<String>,
    pub org_id: Option<String>,
    pub provider_instance_id: Id,
    pub provider_label: Option<ProviderLabel>,
    pub source_type: SourceType,
    pub source_version_id: Option<Id>,
    pub numbering: Numbering,
    pub markers: Vec<MarkerName>,
    pub asset_details: AssetDetails,
    pub source: Source,
}

impl VersionCreateTO {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let gpu_type = f.enumerated::<GpuType>("gpuType");
        let os_type = f.enumerated::<OsType>("osType");
        let os = os(&mut f);
        let org_id = f.str("orgId").map(str::to_owned);
        let provider_instance_id = id(&mut f, "providerInstanceId");
        let provider_instance_id = f.required("providerInstanceId", provider_instance_id);
        let provider_label = f.enumerated::<ProviderLabel>("providerLabel");
        // Rule 1: only gallery copies and VM imports add versions.
        let source_type = match f.enumerated::<SourceType>("sourceType") {
            Some(s @ (SourceType::AzureSig | SourceType::AzureCustomVm)) => Some(s),
            Some(s) => {
                f.reject(
                    "sourceType",
                    "UNSUPPORTED_SOURCE_TYPE",
                    format!("sourceType must be AZURE_SIG or AZURE_CUSTOM_VM, got {s}"),
                );
                None
            }
            None => f.required("sourceType", None),
        };
        let source_version_id = id(&mut f, "sourceVersionId");
        // Rule 2: MAJOR or MINOR; MINOR needs its source.
        let numbering = match f.enumerated::<VersionType>("versionType") {
            Some(VersionType::Major) => Some(Numbering::Major),
            Some(VersionType::Minor) => {
                if source_version_id.is_none() && !f.has("sourceVersionId") {
                    f.reject(
                        "sourceVersionId",
                        "REQUIRED",
                        "a MINOR version needs its source",
                    );
                }
                Some(Numbering::Minor)
            }
            Some(VersionType::Patch) => {
                f.reject(
                    "versionType",
                    "UNSUPPORTED",
                    "PATCH versions are not supported",
                );
                None
            }
            None => f.required("versionType", None),
        };
        let markers = markers(&mut f);
        let (asset_details, source) = asset_details(&mut f, source_type, None);
        f.finish()?;
        match (provider_instance_id, source_type, numbering, source) {
            (Some(provider_instance_id), Some(source_type), Some(numbering), Some(source)) => {
                Ok(Self {
                    description,
                    gpu_type,
                    os_type,
                    os,
                    org_id,
                    provider_instance_id,
                    provider_label,
                    source_type,
                    source_version_id,
                    numbering,
                    markers,
                    asset_details,
                    source,
                })
            }
            _ => Err(Problem::field("$", "INVALID_VALUE", "incomplete request")),
        }
    }
}

/// PATCH image body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImagePatch {
    pub name: Option<ImageName>,
    pub description: Option<Description>,
}

impl ImagePatch {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let name = f.parsed("name", ImageName::parse);
        let description = description(&mut f, "description");
        f.finish()?;
        Ok(Self { name, description })
    }
}

/// PATCH version body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionPatch {
    pub description: Option<Description>,
    pub markers: Vec<MarkerName>,
}

impl VersionPatch {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let markers = markers(&mut f);
        f.finish()?;
        Ok(Self {
            description,
            markers,
        })
    }
}

/// `replicas[]` / `additionalReplicas[]`: `[{ providerInstanceId }]`.
fn replicas(f: &mut Fields<'_>, name: &str) -> Vec<Id> {
    let mut out = Vec::new();
    let Some(items) = f.array(name) else {
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(mut e) = f.element(name, i, item) {
            let pi = id(&mut e, "providerInstanceId");
            match e.required("providerInstanceId", pi) {
                Some(p) if !out.contains(&p) => out.push(p),
                _ => {}
            }
            f.absorb(e);
        }
    }
    out
}

/// Publish body (endpoint 10).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishRequest {
    pub description: Option<Description>,
    pub time_zone: Option<String>,
    pub replicas: Vec<Id>,
    pub org_id: Option<String>,
}

impl PublishRequest {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let time_zone = f.parsed("timeZone", |s| {
            if s.is_empty() || s.chars().count() > 64 {
                Err("must be 1 to 64 characters".into())
            } else {
                Ok(s.to_owned())
            }
        });
        let replicas = replicas(&mut f, "replicas");
        let org_id = f.str("orgId").map(str::to_owned);
        f.finish()?;
        Ok(Self {
            description,
            time_zone,
            replicas,
            org_id,
        })
    }
}

/// Republish body (endpoint 11).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepublishRequest {
    pub additional_replicas: Vec<Id>,
    pub org_id: Option<String>,
}

impl RepublishRequest {
    pub fn parse(body: &Value) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let additional_replicas = replicas(&mut f, "additionalReplicas");
        let org_id = f.str("orgId").map(str::to_owned);
        f.finish()?;
        Ok(Self {
            additional_replicas,
            org_id,
        })
    }
}

/// The `action` of endpoint 12.
#[derive(Debug, Clone, PartialEq)]
pub enum CloneTarget {
    /// A new version of the same image, numbered like Add Version.
    Version(Numbering),
    /// Version 1.0.0 of a new image.
    Image(ImageName),
}

/// Clone body (endpoint 12).
#[derive(Debug, Clone, PartialEq)]
pub struct CloneRequest {
    pub target: CloneTarget,
    pub description: Option<Description>,
    pub org_id: Option<String>,
}

impl CloneRequest {
    pub fn parse(body: &Value, action: Option<&str>) -> Result<Self, Problem> {
        let mut f = Fields::of_body(body)?;
        let description = description(&mut f, "description");
        let org_id = f.str("orgId").map(str::to_owned);
        let target = match action {
            None | Some("clone-version") => {
                let n = match f.enumerated::<VersionType>("versionType") {
                    None | Some(VersionType::Major) => Some(Numbering::Major),
                    Some(VersionType::Minor) => Some(Numbering::Minor),
                    Some(VersionType::Patch) => {
                        f.reject(
                            "versionType",
                            "UNSUPPORTED",
                            "PATCH versions are not supported",
                        );
                        None
                    }
                };
                n.map(CloneTarget::Version)
            }
            Some("clone-image") => {
                let name = f.parsed("imageName", ImageName::parse);
                f.required("imageName", name).map(CloneTarget::Image)
            }
            Some(other) => {
                return Err(Problem::field(
                    "action",
                    "UNKNOWN_VALUE",
                    format!("unknown action {other:?}: clone-version or clone-image"),
                ));
            }
        };
        f.finish()?;
        match target {
            Some(target) => Ok(Self {
                target,
                description,
                org_id,
            }),
            None => Err(Problem::field("$", "INVALID_VALUE", "incomplete request")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields_of(p: Problem) -> Vec<(String, String)> {
        p.errors.into_iter().map(|e| (e.field, e.code)).collect()
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(ImageName::parse("win-11_pro").is_ok());
        assert!(ImageName::parse("").is_err());
        assert!(ImageName::parse(&"a".repeat(65)).is_err());
        assert!(ImageName::parse(&"a".repeat(64)).is_ok());
        assert!(ImageName::parse("has space").is_err());
        assert!(MarkerName::parse("HRPro").is_ok());
        assert!(Description::parse(&"d".repeat(1024)).is_ok());
        assert!(Description::parse(&"d".repeat(1025)).is_err());
    }

    #[test]
    fn version_numbers_parse_and_print() {
        let v: VersionNumber = "1.20.3".parse().unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 20, 3));
        assert_eq!(v.to_string(), "1.20.3");
        for bad in ["1.2", "1.2.3.4", "a.b.c", "1..3", "-1.0.0"] {
            assert!(bad.parse::<VersionNumber>().is_err(), "{bad}");
        }
    }

    #[test]
    fn add_version_rules_name_their_fields() {
        let p = VersionCreateTO::parse(&json!({
            "sourceType": "AZURE_MARKET_PLACE", "versionType": "PATCH",
            "providerInstanceId": "pi-1", "gpuType": 3, "osType": "windows"
        }))
        .unwrap_err();
        let f = fields_of(p);
        assert!(f.contains(&("sourceType".into(), "UNSUPPORTED_SOURCE_TYPE".into())));
        assert!(f.contains(&("versionType".into(), "UNSUPPORTED".into())));
        assert!(f.contains(&("gpuType".into(), "INVALID_TYPE".into())));
        assert!(f.contains(&("osType".into(), "UNKNOWN_VALUE".into())));

        let p = VersionCreateTO::parse(&json!({
            "sourceType": "AZURE_SIG", "versionType": "MINOR", "providerInstanceId": "pi-1",
            "assetDetails": {"data": {}}
        }))
        .unwrap_err();
        let f = fields_of(p);
        assert!(f.contains(&("sourceVersionId".into(), "REQUIRED".into())));
        assert!(f.contains(&(
            "assetDetails.data.sourceImageVersionId".into(),
            "REQUIRED".into()
        )));
        assert!(f.contains(&(
            "assetDetails.data.isClientAccessLicenseApplicable".into(),
            "REQUIRED".into()
        )));
        assert!(f.contains(&("assetDetails.data.multiSession".into(), "REQUIRED".into())));

        let p = VersionCreateTO::parse(&json!({
            "sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1"
        }))
        .unwrap_err();
        assert_eq!(
            fields_of(p),
            vec![("assetDetails.data.vmId".into(), "REQUIRED".into())]
        );
    }

    #[test]
    fn a_partner_prepared_sig_image_needs_no_licence_fields() {
        let v = VersionCreateTO::parse(&json!({
            "sourceType": "AZURE_SIG", "versionType": "MAJOR", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG",
                             "data": {"sourceImageVersionId": "g-1", "mspOrgId": "partner"}},
            "unknownField": {"ignored": true},
            "markers": ["HRLite", {"name": "HRPro"}]
        }))
        .unwrap();
        assert_eq!(v.markers.len(), 2);
        assert_eq!(v.source.source_id().as_deref(), Some("g-1"));
        assert_eq!(v.asset_details.asset_type, Some(AssetType::AzureImageInSig));
    }

    #[test]
    fn markers_are_validated_and_unique_in_a_request() {
        let p = VersionPatch::parse(&json!({"markers": ["a", "a", "bad name", 7]})).unwrap_err();
        let f = fields_of(p);
        assert!(f.contains(&("markers[1]".into(), "DUPLICATE".into())));
        assert!(f.contains(&("markers[2]".into(), "INVALID_VALUE".into())));
        assert!(f.contains(&("markers[3]".into(), "INVALID_TYPE".into())));
    }

    #[test]
    fn create_action_must_agree_with_source_stream_type() {
        let body = json!({"streamName": "w", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
                          "providerInstanceId": "pi"});
        let p = ImageCatalogRequest::parse(&body, CreateAction::ImportCustomVm).unwrap_err();
        assert!(fields_of(p).contains(&("sourceStreamType".into(), "ACTION_MISMATCH".into())));
        let p = ImageCatalogRequest::parse(&json!({}), CreateAction::Import).unwrap_err();
        let f = fields_of(p);
        assert!(f.contains(&("streamName".into(), "REQUIRED".into())));
        assert!(f.contains(&("osType".into(), "REQUIRED".into())));
        let ok = ImageCatalogRequest::parse(
            &json!({"streamName": "w", "osType": "WINDOWS"}),
            CreateAction::Import,
        )
        .unwrap();
        assert_eq!(ok.source_type, SourceType::AzureMarketPlace);
        assert!(CreateAction::parse(Some("nope")).is_err());
    }

    #[test]
    fn a_body_that_is_not_an_object_is_refused() {
        let p = ImagePatch::parse(&json!([1, 2])).unwrap_err();
        assert_eq!(fields_of(p), vec![("$".into(), "INVALID_TYPE".into())]);
    }

    #[test]
    fn replicas_name_their_failing_element() {
        let p = PublishRequest::parse(&json!({"replicas": [{"providerInstanceId": "a"}, {}, 3]}))
            .unwrap_err();
        let f = fields_of(p);
        assert!(f.contains(&("replicas[1].providerInstanceId".into(), "REQUIRED".into())));
        assert!(f.contains(&("replicas[2]".into(), "INVALID_TYPE".into())));
        let r = PublishRequest::parse(&json!({"replicas": [{"providerInstanceId": "a"}]})).unwrap();
        assert_eq!(r.replicas, vec![Id::parse("a").unwrap()]);
    }

    #[test]
    fn clone_image_requires_an_image_name() {
        let p = CloneRequest::parse(&json!({}), Some("clone-image")).unwrap_err();
        assert_eq!(fields_of(p), vec![("imageName".into(), "REQUIRED".into())]);
        let c = CloneRequest::parse(&json!({}), Some("clone-version")).unwrap();
        assert_eq!(c.target, CloneTarget::Version(Numbering::Major));
    }
}
