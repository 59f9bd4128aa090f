//! The simulator's inventory of an org: `/admin/v1/orgs/{orgId}/{kind}/{id}` for the five
//! kinds of [`Kind`]. A `PUT` replaces the whole item, with demo defaults for what it omits.

use super::body::{Fields, enum_list, parse_object};
use super::{AdminError, Answer, Response, orgs, to_json, valid_id, vocab};
use crate::keys;
use crate::records::Store;
use crate::routing::Params;
use crate::sim::{GalleryImage, Instance, InstanceType, ProviderInstance, Region, Vm};
use crate::vocab::{GpuType, OsType, ProviderLabel};
use serde_json::{Map, Value};

/// A kind of inventory item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    ProviderInstance,
    GalleryImage,
    Vm,
    Instance,
    Region,
}

impl Kind {
    /// The kind's path segment, which the route table spells too (the admin tests walk
    /// every row and check the two agree).
    pub(super) fn segment(self) -> &'static str {
        match self {
            Kind::ProviderInstance => "provider-instances",
            Kind::GalleryImage => "gallery-images",
            Kind::Vm => "vms",
            Kind::Instance => "instances",
            Kind::Region => "regions",
        }
    }

    fn key(self, org_id: &str, id: &str) -> String {
        let key: fn(&str, &str) -> String = match self {
            Kind::ProviderInstance => keys::provider_instance,
            Kind::GalleryImage => keys::gallery_image,
            Kind::Vm => keys::vm,
            Kind::Instance => keys::instance,
            Kind::Region => keys::region,
        };
        key(org_id, id)
    }
}

/// `GET /admin/v1/orgs/{orgId}/{kind}/{id}`.
pub(super) fn get(st: &Store<'_>, p: &Params<'_>, kind: Kind) -> Answer {
    let (org_id, id) = (p.get("orgId"), p.get("id"));
    orgs::require(st, org_id)?;
    match st.get::<Value>(&kind.key(org_id, id))? {
        Some(v) => Ok(Response::json(200, &v.value)),
        None => Err(AdminError::NotFound(format!(
            "no {} item {id} in org {org_id}",
            kind.segment()
        ))),
    }
}

/// `PUT /admin/v1/orgs/{orgId}/{kind}/{id}`: a blind set (the admin is the only writer).
pub(super) fn put(st: &Store<'_>, p: &Params<'_>, body: &[u8], kind: Kind) -> Answer {
    let (org_id, id) = (p.get("orgId"), p.get("id"));
    orgs::require(st, org_id)?;
    let item = build_item(kind, id, &parse_object(body)?)?;
    st.put_new(&kind.key(org_id, id), &item)?;
    Ok(Response::json(200, &item))
}

fn build_item(kind: Kind, id: &str, obj: &Map<String, Value>) -> Result<Value, AdminError> {
    let f = Fields(obj);
    let os_list = enum_list(OsType::ALL);
    let gpu_list = enum_list(GpuType::ALL);
    let os = |f: &Fields| -> Result<OsType, AdminError> {
        Ok(f.parsed::<OsType>("osType", &os_list)?
            .unwrap_or(OsType::Windows))
    };
    let gpu = |f: &Fields| -> Result<GpuType, AdminError> {
        Ok(f.parsed::<GpuType>("gpuType", &gpu_list)?
            .unwrap_or(GpuType::None))
    };
    let value = match kind {
        Kind::ProviderInstance => to_json(&ProviderInstance {
            id: id.to_owned(),
            provider_label: f
                .parsed::<ProviderLabel>("providerLabel", &enum_list(ProviderLabel::ALL))?
                .unwrap_or(ProviderLabel::Azure),
            region: f.string("region")?,
        }),
        Kind::GalleryImage => {
            let granted_to = f.string_list("grantedTo")?;
            if let Some(bad) = granted_to.iter().find(|g| !valid_id(g)) {
                return Err(AdminError::invalid(
                    "grantedTo",
                    "INVALID_ID",
                    format!("{bad:?} is not a valid provider instance id"),
                ));
            }
            let prepared_by = f.string("preparedBy")?;
            if prepared_by.as_deref().is_some_and(|p| !valid_id(p)) {
                return Err(AdminError::invalid(
                    "preparedBy",
                    "INVALID_ID",
                    "must be the id of the partner org that prepared the image",
                ));
            }
            to_json(&GalleryImage {
                id: id.to_owned(),
                os_type: os(&f)?,
                gpu_type: gpu(&f)?,
                granted_to,
                prepared_by,
                metadata: f.object("metadata")?,
                app_scan: f.object("appScan")?,
            })
        }
        Kind::Vm => to_json(&Vm {
            id: id.to_owned(),
            provider_instance_id: f.string("providerInstanceId")?,
            os_type: os(&f)?,
            gpu_type: gpu(&f)?,
        }),
        Kind::Instance => {
            let instance_type = match f.string("instanceType")?.as_deref() {
                None | Some("CloudDesktop") => InstanceType::CloudDesktop,
                Some("WuyingServer") => InstanceType::WuyingServer,
                Some(_) => {
                    return Err(AdminError::invalid(
                        "instanceType",
                        "INVALID_ENUM",
                        "must be one of CloudDesktop, WuyingServer",
                    ));
                }
            };
            let os_type = match f.string("osType")? {
                None => OsType::Windows,
                Some(s) => vocab::instance_os_type(&s).ok_or_else(|| {
                    AdminError::invalid(
                        "osType",
                        "INVALID_ENUM",
                        format!("must be one of {}", vocab::INSTANCE_OS_TYPES),
                    )
                })?,
            };
            to_json(&Instance {
                id: id.to_owned(),
                instance_type,
                os_type,
                centralized_image: f.boolean("centralizedImage", true)?,
                physical_node: f.boolean("physicalNode", true)?,
                base_image_configured: f.boolean("baseImageConfigured", true)?,
                sub_instances: f.string_list("subInstances")?,
            })
        }
        Kind::Region => to_json(&Region { id: id.to_owned() }),
    };
    Ok(value)
}
