//! CreateImageByInstance's checks against the instance, in the order the vendor reports them,
//! and the defaults of the parameters it marks optional ("Required: No" for every one).
//!
//! Order: lengths of the given texts → the instance (`Instance.NotFound`, or
//! `DesktopInstance.NotFound` when `InstanceType=CloudDesktop` was given: an unknown instance
//! is reported whatever else is missing) → parameters that depend on the instance's type →
//! the session → the instance's own conditions.
//!
//! Defaults: no `InstanceType` takes the instance's own type; no `ImageName` a generated
//! name ([`generated_name`]) that the REST door's name rules also accept; no `ProductType`
//! the instance's type; no `DiskType` `ALL`, no `AutoCleanUserdata` `false`.

use crate::appstream::RpcError;
use crate::appstream::params::{
    CreateImageByInstance, InstanceType, auto_clean_on_a_workstation, sub_instance_on_a_desktop,
};
use crate::env::Millis;
use crate::sim;
use crate::time::iso8601_s;

/// Longest accepted `ImageName` and `Description` (characters).
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// The REST door's longest image name (docs/contract/imagemgmt-api.md "Names"): a generated name fits it.
const REST_NAME_CHARS: usize = 64;

/// A capture's parameters with every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub instance_type: InstanceType,
    pub image_name: String,
    pub product_type: String,
}

/// `<instance id>-<UTC yyyymmddhhmmss>`: says where and when the image came from, and is a
/// valid REST image name (1–64 of letters, digits, `_`, `-`), so both doors accept it as is.
/// Characters outside that set become `-`; a long instance id is cut to fit.
pub fn generated_name(instance_id: &str, now_ms: Millis) -> String {
    let stamp: String = iso8601_s(now_ms)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let room = REST_NAME_CHARS.saturating_sub(stamp.len() + 1);
    let base: String = instance_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(room)
        .collect();
    if base.is_empty() {
        format!("image-{stamp}")
    } else {
        format!("{base}-{stamp}")
    }
}

fn invalid_length(name: &str, max: usize) -> RpcError {
    RpcError::bad_request(
        "InvalidParameter",
        format!("The parameter \"{name}\" is invalid: at most {max} characters."),
    )
}

/// The given name and description fit (checked before the instance, as before).
pub fn check_lengths(r: &CreateImageByInstance) -> Result<(), RpcError> {
    if r.image_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME_CHARS)
    {
        return Err(invalid_length("ImageName", MAX_NAME_CHARS));
    }
    if r.description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(invalid_length("Description", MAX_DESCRIPTION_CHARS));
    }
    Ok(())
}

/// `DesktopInstance.NotFound` only when the caller said it is a cloud desktop; otherwise the
/// generic `Instance.NotFound` (nothing says which kind was meant).
pub fn instance_not_found(r: &CreateImageByInstance, why: &str) -> RpcError {
    match r.instance_type {
        Some(InstanceType::CloudDesktop) => RpcError::bad_request(
            "DesktopInstance.NotFound",
            format!("The cloud desktop {} is not found{why}.", r.instance_id),
        ),
        _ => RpcError::bad_request(
            "Instance.NotFound",
            format!("The instance {} is not found{why}.", r.instance_id),
        ),
    }
}

fn kind_of(inst: &sim::Instance) -> InstanceType {
    match inst.instance_type {
        sim::InstanceType::CloudDesktop => InstanceType::CloudDesktop,
        sim::InstanceType::WuyingServer => InstanceType::WuyingServer,
    }
}

/// Checks the found instance against the request and applies the defaults; each refusal
/// carries the vendor's code (an instance that is not found: [`instance_not_found`]).
pub fn resolve(
    r: &CreateImageByInstance,
    inst: &sim::Instance,
    now_ms: Millis,
) -> Result<Resolved, RpcError> {
    let own = kind_of(inst);
    let instance_type = match r.instance_type {
        Some(given) if given != own => {
            return Err(instance_not_found(
                r,
                &format!(" (it is not a {})", given.as_str()),
            ));
        }
        Some(given) => given,
        None => own,
    };
    // Explicit types were checked by the parser; these are for the instance's own type.
    if r.sub_instance_id.is_some() && instance_type == InstanceType::CloudDesktop {
        return Err(sub_instance_on_a_desktop().into());
    }
    if r.auto_clean_userdata && instance_type == InstanceType::WuyingServer {
        return Err(auto_clean_on_a_workstation().into());
    }
    if let Some(sub) = &r.sub_instance_id
        && !inst.sub_instances.iter().any(|s| s == sub)
    {
        return Err(RpcError::bad_request(
            "Instance.NotFound",
            format!(
                "The session {sub} of instance {} is not found.",
                r.instance_id
            ),
        ));
    }
    if !inst.centralized_image {
        return Err(RpcError::bad_request(
            "Instance.ImageUnsupported",
            format!(
                "The instance {} does not run on a centralized image and cannot be captured.",
                r.instance_id
            ),
        ));
    }
    if !inst.physical_node {
        return Err(RpcError::bad_request(
            "Instance.PhysicalNodeNotExist",
            format!("The instance {} has no physical node.", r.instance_id),
        ));
    }
    if !inst.base_image_configured {
        return Err(RpcError::bad_request(
            "InvalidBaseImage.NotConfigured",
            format!(
                "The base image of instance {} (VHD or container) must be configured first.",
                r.instance_id
            ),
        ));
    }
    Ok(Resolved {
        instance_type,
        image_name: r
            .image_name
            .clone()
            .unwrap_or_else(|| generated_name(&r.instance_id, now_ms)),
        product_type: r
            .product_type
            .clone()
            .unwrap_or_else(|| instance_type.as_str().to_owned()),
    })
}

#[cfg(test)]
mod tests;
