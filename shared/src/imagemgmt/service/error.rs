//! The REST door's one error: every operation refuses with a [`RestError`], and the one
//! `impl From<RestError> for Problem` gives each case its status, code and message. Where
//! the same logical case answers differently in different operations (a missing image,
//! version or source version; an image being deleted; a status that forbids an action), the
//! difference is a variant or a parameter, never a second mapping.

use crate::api::Problem;
use crate::catalog::deletion::DeleteRefusal;
use crate::catalog::quota::Exceeded;
use crate::imagemgmt::partner::PartnerError;
use crate::imagemgmt::submit::add_version_store_failure;
use crate::store::StoreError;
use crate::vocab::{ImageStatus, SourceType, VersionStatus};

/// Why an imagemgmt operation did not answer 2xx.
#[derive(Debug)]
pub enum RestError {
    /// The request is refused as the parser (or the partner check) words it: answered as is.
    Invalid(Problem),
    /// 404 `{WHAT}_NOT_FOUND`, "{what} not found": `"image"`, `"version"`, `"operation"`.
    NotFound(&'static str),
    /// 404: Add Version's `sourceVersionId` names no version of the image.
    SourceVersionNotFound,
    /// 412: `If-Match` does not match (or the record changed since it was read).
    PreconditionFailed,
    /// 409: PATCH of an image that is being deleted.
    ImageDeleting,
    /// 409: DELETE of an image that is already being deleted.
    ImageAlreadyDeleting,
    /// 409: the image is `DELETING`/`DISABLED`, no version can be added.
    ImageNotWritable(ImageStatus),
    /// 409: the image would hold more than `catalog::MAX_MARKERS` markers.
    TooManyMarkers,
    /// 409: the image lists as many versions as its record can (`catalog::pages`).
    TooManyVersions,
    /// 409: the org's quota (`catalog::quota`) would be exceeded.
    Quota(crate::catalog::quota::Exceeded),
    /// 429: the org's scan budget of this window is spent; the seconds to wait
    /// (`crate::ratelimit`, "Scans").
    ScanLimitReached(u32),
    /// 400, Add Version rule 1: the image's own source type does not take new versions.
    ImageSourceType(SourceType),
    /// 400: `osType`/`gpuType` differ from the image's: (field, image's value, given value).
    Mismatch(&'static str, String, String),
    /// 400: the source version is not `major.minor.patch` (a version of another door).
    SourceNotNumbered(String),
    /// 409: a marker bound to desktop pools points at what would be deleted.
    MarkerInUse(String),
    /// 409: a marker of that name is already used in the image.
    MarkerTaken(String),
    /// 409: markers cannot go onto a version in this status.
    MarkerOnStatus(VersionStatus),
    /// 422: the version's status does not allow the action; the action as the message
    /// words it (`"cloned"`, `"deleted now"`).
    StatusForbids(VersionStatus, &'static str),
    /// 412: the version is not in a status the action starts from; what the action needs.
    WrongStatus(VersionStatus, &'static str),
    /// The store failed: 503 with `Retry-After` when transient, else 500.
    Store(StoreError),
    /// The store failed while Add Version recorded the version: its documented 500
    /// ([`add_version_store_failure`]); transient failures stay 503.
    AddVersionStore(StoreError),
}

impl From<StoreError> for RestError {
    fn from(e: StoreError) -> Self {
        RestError::Store(e)
    }
}

/// The shared image deletion's refusals, as DELETE image answers them.
impl From<DeleteRefusal> for RestError {
    fn from(e: DeleteRefusal) -> Self {
        match e {
            DeleteRefusal::NotFound => RestError::NotFound("image"),
            DeleteRefusal::PreconditionFailed => RestError::PreconditionFailed,
            DeleteRefusal::AlreadyDeleting => RestError::ImageAlreadyDeleting,
            DeleteRefusal::MarkerInUse(m) => RestError::MarkerInUse(m),
            DeleteRefusal::Store(e) => RestError::Store(e),
        }
    }
}

/// A refused `mspOrgId` is answered as the partner check words it (its store failure too:
/// the plain store answer, also in Add Version).
impl From<PartnerError> for RestError {
    fn from(e: PartnerError) -> Self {
        RestError::Invalid(e.into())
    }
}

impl From<RestError> for Problem {
    fn from(e: RestError) -> Self {
        use RestError as E;
        match e {
            E::Invalid(p) => p,
            E::NotFound(what) => Problem::new(
                404,
                &format!("{}_NOT_FOUND", what.to_ascii_uppercase()),
                format!("{what} not found"),
            ),
            E::SourceVersionNotFound => Problem::new(
                404,
                "SOURCE_VERSION_NOT_FOUND",
                "source version not found in this image",
            ),
            E::PreconditionFailed => Problem::new(
                412,
                "PRECONDITION_FAILED",
                "If-Match does not match the current ETag",
            ),
            E::ImageDeleting => Problem::new(409, "IMAGE_DELETING", "the image is being deleted"),
            E::ImageAlreadyDeleting => {
                Problem::new(409, "IMAGE_DELETING", "the image is already being deleted")
            }
            E::ImageNotWritable(s) => Problem::new(
                409,
                "IMAGE_NOT_WRITABLE",
                format!("the image is {s}: no version can be added"),
            ),
            E::TooManyMarkers => Problem::new(
                409,
                "MARKER_LIMIT_REACHED",
                format!(
                    "markers: an image holds at most {} markers; delete or move some first",
                    crate::catalog::MAX_MARKERS
                ),
            ),
            E::Quota(Exceeded::Images { quota }) => Problem::new(
                409,
                "IMAGE_QUOTA_EXCEEDED",
                format!(
                    "the org holds its quota of {quota} images (quota_images); delete some first"
                ),
            ),
            E::Quota(Exceeded::Versions { quota }) => Problem::new(
                409,
                "VERSION_QUOTA_EXCEEDED",
                format!(
                    "the image holds its quota of {quota} versions (quota_versions); delete old versions first"
                ),
            ),
            E::ScanLimitReached(retry_after_s) => {
                crate::ratelimit::scan_limit_reached(retry_after_s)
            }
            E::Quota(Exceeded::Operations { quota }) => Problem::new(
                409,
                "OPERATION_QUOTA_EXCEEDED",
                format!(
                    "the org runs its quota of {quota} operations at once (quota_operations); retry once some have ended"
                ),
            ),
            E::TooManyVersions => Problem::new(
                409,
                "VERSION_LIMIT_REACHED",
                format!(
                    "the image holds its most versions (about {}); delete old versions first",
                    crate::catalog::pages::PAGE * crate::catalog::pages::MAX_PAGES
                ),
            ),
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
            E::MarkerInUse(m) => Problem::new(
                409,
                "MARKER_IN_USE",
                format!("marker {m} is bound to desktop pools; move it first"),
            ),
            E::MarkerTaken(m) => Problem::new(
                409,
                "MARKER_NAME_IN_USE",
                format!("marker {m} is already used in this image"),
            ),
            E::MarkerOnStatus(s) => Problem::new(
                409,
                "MARKER_ON_UNUSABLE_VERSION",
                format!("a marker cannot be placed on a {s} version"),
            ),
            E::StatusForbids(s, action) => Problem::new(
                422,
                "VERSION_STATUS_FORBIDS",
                format!("a {s} version cannot be {action}"),
            ),
            E::WrongStatus(s, needed) => Problem::new(
                412,
                "VERSION_STATUS_PRECONDITION",
                format!("the version is {s}; this action needs {needed}"),
            ),
            E::Store(e) => Problem::store_at("imagemgmt", &e),
            E::AddVersionStore(e) => add_version_store_failure(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(e: RestError) -> (u16, String, String) {
        let p = Problem::from(e);
        (p.status, p.code, p.detail)
    }

    #[test]
    fn a_missing_record_is_named_by_what_is_missing() {
        for (what, code) in [
            ("image", "IMAGE_NOT_FOUND"),
            ("version", "VERSION_NOT_FOUND"),
            ("operation", "OPERATION_NOT_FOUND"),
        ] {
            let (status, c, detail) = answer(RestError::NotFound(what));
            assert_eq!((status, c.as_str()), (404, code));
            assert_eq!(detail, format!("{what} not found"));
        }
        let (status, c, _) = answer(RestError::SourceVersionNotFound);
        assert_eq!((status, c.as_str()), (404, "SOURCE_VERSION_NOT_FOUND"));
    }

    #[test]
    fn the_deletion_refusals_answer_as_delete_image_did() {
        let cases = [
            (DeleteRefusal::NotFound, 404, "IMAGE_NOT_FOUND"),
            (
                DeleteRefusal::PreconditionFailed,
                412,
                "PRECONDITION_FAILED",
            ),
            (DeleteRefusal::AlreadyDeleting, 409, "IMAGE_DELETING"),
            (DeleteRefusal::MarkerInUse("m".into()), 409, "MARKER_IN_USE"),
        ];
        for (refusal, status, code) in cases {
            let (s, c, _) = answer(refusal.into());
            assert_eq!((s, c.as_str()), (status, code));
        }
        let (_, _, detail) = answer(DeleteRefusal::AlreadyDeleting.into());
        assert_eq!(detail, "the image is already being deleted");
        let (_, _, detail) = answer(RestError::ImageDeleting);
        assert_eq!(detail, "the image is being deleted");
    }

    #[test]
    fn only_add_version_answers_a_lasting_store_failure_with_its_own_500() {
        let refused = || StoreError::Unavailable("disk full".into());
        let (status, code, detail) = answer(RestError::Store(refused()));
        assert_eq!((status, code.as_str()), (500, "STORE_UNAVAILABLE"));
        assert_eq!(detail, crate::api::STORE_UNAVAILABLE_MESSAGE);
        let (status, code, detail) = answer(RestError::AddVersionStore(refused()));
        assert_eq!(
            (status, code.as_str()),
            (500, crate::imagemgmt::submit::SUBMIT_FAILED_CODE)
        );
        assert!(!detail.contains("disk full"), "{detail}");
        let busy = || StoreError::contended();
        assert_eq!(answer(RestError::AddVersionStore(busy())).0, 503);
        assert_eq!(answer(RestError::Store(busy())).0, 503);
    }

    #[test]
    fn a_store_failure_answers_the_kinds_text_not_the_backends_or_a_key() {
        let cases = [
            (
                StoreError::Transient("injected: database is locked".into()),
                crate::api::STORE_BUSY_MESSAGE,
            ),
            (
                StoreError::Corrupt("org/o1/image/img-1: expected value".into()),
                crate::api::STORE_RECORD_UNREADABLE_MESSAGE,
            ),
        ];
        for (e, message) in cases {
            let (_, _, detail) = answer(RestError::Store(e.clone()));
            assert_eq!(detail, message);
            let (_, _, detail) = answer(RestError::AddVersionStore(e));
            for internal in ["database is locked", "org/", "img-1"] {
                assert!(!detail.contains(internal), "{detail}");
            }
        }
    }

    #[test]
    fn a_forbidding_status_names_the_action() {
        let (status, code, detail) =
            answer(RestError::StatusForbids(VersionStatus::Pending, "cloned"));
        assert_eq!((status, code.as_str()), (422, "VERSION_STATUS_FORBIDS"));
        assert_eq!(detail, "a PENDING version cannot be cloned");
    }
}
