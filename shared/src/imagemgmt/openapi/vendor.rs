//! The document's parts about the vendor's own values and answers (issue 10, item 5): the
//! values it lists that the server refuses, and Add Version's documented 500.

use super::{names, r};
use crate::imagemgmt::submit;
use crate::vocab::VersionType;
use serde_json::{Value, json};

/// Why the document lists `PATCH` (the vendor's `VersionType` has it) yet refuses it.
pub(super) const PATCH_REFUSED: &str = "The vendor lists MAJOR, MINOR and PATCH. PATCH is refused (400, \
code UNSUPPORTED on field versionType): the server numbers versions itself, and only by \
major (N+1.0.0) or minor (a.m.0); it never assigns a patch number.";

/// Why Add Version's `sourceType` lists every source type yet takes two (rule 1).
pub(super) const ADD_VERSION_SOURCES: &str = "The vendor lists every SourceType. Only AZURE_SIG and \
AZURE_CUSTOM_VM add a version (Add Version rule 1); any other is refused (400, code \
UNSUPPORTED_SOURCE_TYPE on field sourceType).";

/// A `versionType` listing the vendor's values, `PATCH` refused.
pub(super) fn version_type_but_patch() -> Value {
    json!({
        "enum": names(VersionType::ALL),
        "anyOf": [{"const": "MAJOR"}, {"const": "MINOR"}],
        "description": PATCH_REFUSED
    })
}

/// Add Version's documented 500 (docs/contract/imagemgmt-api.md: "the request could not be recorded").
pub(super) fn submit_failed_response() -> Value {
    json!({
        "description": format!(
            "{}: the store failed, not transiently, while the version was being recorded \
             (a record it could not write or read back). The body is a Problem with code {}; \
             the elected version number is left as a gap. A transient store failure is a 503 \
             with Retry-After instead.",
            submit::SUBMIT_FAILED_DETAIL, submit::SUBMIT_FAILED_CODE
        ),
        "content": {"application/problem+json": {
            "schema": r("Problem"),
            "example": submit::example_body()
        }}
    })
}
