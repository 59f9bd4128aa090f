//! Every error the door's actions answer, in one place, with the one mapping of a store
//! failure (`From<StoreError> for RpcError`): a failed update goes through
//! [`UpdateError::lift`](crate::records::UpdateError::lift), which ends in that mapping too.
//!
//! The checks of a capture against its instance keep their own errors beside their rules
//! (`appstream::capture`), and the parameters theirs (`appstream::params`).

use crate::appstream::RpcError;
use crate::appstream::sign::AuthError;
use crate::store::StoreError;

fn err(code: &str, message: impl Into<String>) -> RpcError {
    RpcError::bad_request(code, message)
}

/// Any store failure: 503 (the SDK's retry policy may retry it), never half-written state.
impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
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
}

/// A passing failure with no store error of its own (`why` is for the reader): the store's
/// busy answer, which the client retries.
pub(super) fn store_busy(why: &str) -> RpcError {
    StoreError::Transient(why.into()).into()
}

/// A refused signature; a store that failed during verification is the store's answer.
pub(super) fn refused(e: AuthError) -> RpcError {
    match e {
        AuthError::Store(_) => store_busy("auth"),
        other => other.to_rpc_error(),
    }
}

pub(super) fn method_not_supported(method: &str) -> RpcError {
    RpcError::new(
        405,
        "UnsupportedHTTPMethod",
        format!("The HTTP method {method} is not supported; use POST (or GET)."),
    )
}

pub(super) fn body_too_large(max: usize) -> RpcError {
    RpcError::new(
        413,
        "RequestEntityTooLarge",
        format!("The request body exceeds {max} bytes."),
    )
}

pub(super) fn image_not_exist(id: &str) -> RpcError {
    err(
        "Image.NotExist",
        format!("The specified image {id} does not exist."),
    )
}

pub(super) fn version_not_exist(version_id: &str, image_id: &str) -> RpcError {
    err(
        "Image.NotExist",
        format!("The version {version_id} of image {image_id} does not exist."),
    )
}

/// An image the platform shares: never modified, deleted or distributed by an org.
pub(super) fn shared_image_not_allowed(id: &str) -> RpcError {
    err(
        "ImageUpdateSharedImageFailed.NotAllow",
        format!(
            "image {id} is shared by the platform: it cannot be modified, deleted or distributed"
        ),
    )
}

pub(super) fn delete_not_allowed(id: &str, why: &str) -> RpcError {
    err(
        "ImageUpdateFailed.NotAllow",
        format!("The image {id} cannot be deleted now: {why}."),
    )
}

pub(super) fn distribute_not_allowed(why: String) -> RpcError {
    err("ImageRegionDistribute.NotAllow", why)
}

pub(super) fn region_not_exist(region: &str) -> RpcError {
    err(
        "ParentImageRegionDistribute.NotExist",
        format!("The destination region {region} does not exist."),
    )
}

/// A capture of `instance_id` is still running.
pub(super) fn task_exist(instance_id: &str) -> RpcError {
    err(
        "ImageCreateByInstance.TaskExist",
        format!("An image creation task for instance {instance_id} is still running."),
    )
}

pub(super) fn exceed_builder_quota(quota: u32) -> RpcError {
    err(
        "ExceedBuilderQuota",
        format!("The number of concurrent image creation tasks exceeds the quota of {quota}."),
    )
}

/// A capture's records could not be written (its claim was given back).
pub(super) fn record_not_written(e: &StoreError) -> RpcError {
    err(
        "CreateDesktopImageRecord.Failed",
        format!("The image record could not be written ({e}); retry."),
    )
}
