//! Action bodies on a version: publish (endpoint 10), republish (endpoint 11) and clone
//! (endpoint 12).

use super::fields::{Fields, description, id};
use super::values::{Description, Id, ImageName};
use super::version::Numbering;
use crate::api::Problem;
use crate::vocab::VersionType;
use serde_json::Value;

/// `replicas[]` / `additionalReplicas[]`: `[{ providerInstanceId }]`, at most
/// [`crate::catalog::MAX_REPLICAS`] (refused before anything is read), duplicates dropped.
fn replicas(f: &mut Fields<'_>, name: &str) -> Vec<Id> {
    let mut out = Vec::new();
    let Some(items) = f.array(name) else {
        return out;
    };
    if items.len() > crate::catalog::MAX_REPLICAS {
        let max = crate::catalog::MAX_REPLICAS;
        f.reject(
            name,
            "TOO_MANY",
            format!("at most {max} replicas a version"),
        );
        return out;
    }
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
