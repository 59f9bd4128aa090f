//! Every error the door's actions answer, in one place, with the one mapping of a store
//! failure (`From<StoreError> for RpcError`): a failed update goes through
//! [`UpdateError::lift`](crate::records::UpdateError::lift), which ends in that mapping too.
//!
//! The checks of a capture against its instance keep their own errors beside their rules
//! (`appstream::capture`), and the parameters theirs (`appstream::params`).

use crate::api::log_store_error;
use crate::appstream::RpcError;
use crate::appstream::sign::AuthError;
use crate::store::StoreError;

fn err(code: &str, message: impl Into<String>) -> RpcError {
    RpcError::bad_request(code, message)
}

/// The door's name in the component's log.
const DOOR: &str = "appstream";
/// The code of every store failure's answer.
const SERVICE_UNAVAILABLE: &str = "ServiceUnavailable";

/// What an answer says of a store failure, one fixed text per kind: never the backend's
/// own words nor a record's key (those go to the component's log).
fn store_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::Transient(_) => "the store is busy",
        StoreError::Unavailable(_) => "the store is unavailable",
        StoreError::Corrupt(_) => "a stored record could not be read",
    }
}

/// Any store failure: 503 (the SDK's retry policy may retry it), never half-written state.
/// The message names the kind only; the error goes to the component's log.
impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
        log_store_error(DOOR, SERVICE_UNAVAILABLE, &e);
        service_unavailable(store_kind(&e))
    }
}

/// The store failure's answer, naming its kind.
fn service_unavailable(kind: &str) -> RpcError {
    RpcError::new(
        503,
        SERVICE_UNAVAILABLE,
        format!(
            "The request has failed due to a temporary failure of the server ({kind}); retry later."
        ),
    )
}

/// A passing failure with no store error of its own (`why` is for the log): the store's
/// busy answer, which the client retries.
pub(super) fn store_busy(why: &str) -> RpcError {
    StoreError::Transient(why.into()).into()
}

/// A refused signature; a store that failed during verification is the store's answer
/// (what the store said goes to the log).
pub(super) fn refused(e: AuthError) -> RpcError {
    match e {
        AuthError::Store(f) => {
            eprintln!(
                "{DOOR} {SERVICE_UNAVAILABLE}: verifying the signature: {}",
                f.0.replace(['\n', '\r'], " ")
            );
            service_unavailable("the store is busy")
        }
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

/// ECS's answer to an image beyond the account's image quota (HTTP 403).
pub(super) fn image_quota_exceeded(quota: u32) -> RpcError {
    RpcError::new(
        403,
        "QuotaExceed.Image",
        format!("The number of images exceeds the quota of {quota} (quota_images)."),
    )
}

/// The org runs its quota of operations at once (`quota_operations`, both doors): a
/// capture is refused as the vendor refuses one past its builder quota.
pub(super) fn exceed_builder_quota_of_operations(q: &crate::catalog::quota::Quotas) -> RpcError {
    err(
        "ExceedBuilderQuota",
        format!(
            "The number of concurrent tasks exceeds the quota of {} (quota_operations).",
            q.operations
        ),
    )
}

/// The org runs its quota of operations at once (`quota_operations`): a distribution is
/// refused with Alibaba Cloud's resource flow-control code.
pub(super) fn operation_quota_exceeded(q: &crate::catalog::quota::Quotas) -> RpcError {
    err(
        "Throttling.Resource",
        format!(
            "Request was denied due to resource flow control: the number of concurrent tasks exceeds the quota of {} (quota_operations).",
            q.operations
        ),
    )
}

pub(super) fn exceed_builder_quota(quota: u32) -> RpcError {
    err(
        "ExceedBuilderQuota",
        format!("The number of concurrent image creation tasks exceeds the quota of {quota}."),
    )
}

/// A capture's records could not be written (its claim was given back). The message names
/// the store failure's kind only; the error goes to the component's log.
pub(super) fn record_not_written(e: &StoreError) -> RpcError {
    const CODE: &str = "CreateDesktopImageRecord.Failed";
    log_store_error(DOOR, CODE, e);
    err(
        CODE,
        format!(
            "The image record could not be written ({}); retry.",
            store_kind(e)
        ),
    )
}

/// The org sent more requests than its limit in this window (`crate::ratelimit`): the
/// vendor's flow-control refusal, HTTP 400 as the vendor answers it, with the wait in the
/// message (the vendor's own sentence first).
pub(super) fn throttled(retry_after_s: u32) -> RpcError {
    err(
        "Throttling.User",
        format!("Request was denied due to user flow control. Retry in {retry_after_s} s."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appstream::sign::StoreFailure;

    /// Backend words and record keys that must never reach an answer.
    const INTERNAL: [&str; 3] = ["database is locked", "org/", "img-1"];

    fn failures() -> [(StoreError, &'static str); 3] {
        [
            (
                StoreError::Transient("injected: database is locked".into()),
                "the store is busy",
            ),
            (
                StoreError::Unavailable("access denied: org/o1".into()),
                "the store is unavailable",
            ),
            (
                StoreError::Corrupt("org/o1/image/img-1: expected value".into()),
                "a stored record could not be read",
            ),
        ]
    }

    fn assert_clean(r: &RpcError) {
        for internal in INTERNAL {
            assert!(!r.message.contains(internal), "{internal} in {r}");
        }
    }

    #[test]
    fn a_store_failure_is_a_503_naming_its_kind_only() {
        for (e, kind) in failures() {
            let r = RpcError::from(e);
            assert_eq!((r.status, r.code.as_str()), (503, "ServiceUnavailable"));
            assert_eq!(
                r.message,
                format!(
                    "The request has failed due to a temporary failure of the server ({kind}); retry later."
                )
            );
            assert_clean(&r);
        }
        let r = refused(AuthError::Store(StoreFailure(
            "store error (transient): database is locked".into(),
        )));
        assert_eq!((r.status, r.code.as_str()), (503, "ServiceUnavailable"));
        assert_clean(&r);
        let r = store_busy("image changed while deleting org/o1/image/img-1");
        assert_eq!(r.status, 503);
        assert_clean(&r);
    }

    #[test]
    fn a_record_not_written_names_the_kind_only() {
        for (e, kind) in failures() {
            let r = record_not_written(&e);
            assert_eq!(
                (r.status, r.code.as_str()),
                (400, "CreateDesktopImageRecord.Failed")
            );
            assert_eq!(
                r.message,
                format!("The image record could not be written ({kind}); retry.")
            );
            assert_clean(&r);
        }
    }
}
