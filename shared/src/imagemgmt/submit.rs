//! Add Version's documented 500, "Failed to submit add version request" (docs/contract/imagemgmt-api.md:
//! "500 the request could not be recorded"). It is the answer when the store fails, not
//! transiently, while Add Version reads or writes what it records (a backend that refuses a
//! write, a record that cannot be encoded or read back): retrying the same request cannot
//! help, so no `Retry-After`. A transient failure keeps the 503 with `Retry-After` that every
//! endpoint gives (R4). The version number elected before the failure is left as a gap.

use crate::api::{Problem, log_store_error, store_message};
use crate::store::StoreError;
use serde_json::Value;

/// The problem's stable `code`.
pub const SUBMIT_FAILED_CODE: &str = "ADD_VERSION_SUBMIT_FAILED";
/// The vendor's wording, first in the problem's `detail`.
pub const SUBMIT_FAILED_DETAIL: &str = "Failed to submit add version request";

/// Add Version's answer to a store failure. Its detail is the vendor's wording and the
/// kind's fixed text ([`store_message`]), never the backend's words or a record's key;
/// those go to the component's log.
pub fn add_version_store_failure(e: &StoreError) -> Problem {
    match e {
        StoreError::Unavailable(_) | StoreError::Corrupt(_) => {
            log_store_error("imagemgmt", SUBMIT_FAILED_CODE, e);
            submit_failed(e)
        }
        StoreError::Transient(_) => Problem::store(e),
    }
}

/// The documented 500 for a lasting failure `e`.
fn submit_failed(e: &StoreError) -> Problem {
    Problem::new(
        500,
        SUBMIT_FAILED_CODE,
        format!("{SUBMIT_FAILED_DETAIL}: {}", store_message(e)),
    )
}

/// The body of the 500, as the OpenAPI document shows it (built by the same code).
pub fn example_body() -> Value {
    let p = submit_failed(&StoreError::Unavailable(
        "the store refused the write".into(),
    ));
    crate::api::ApiResponse::from(p).json_body()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiResponse;
    use serde_json::json;

    #[test]
    fn a_lasting_store_failure_is_the_documented_500() {
        let r: ApiResponse =
            add_version_store_failure(&StoreError::Unavailable("disk full".into())).into();
        assert_eq!(r.status, 500);
        assert_eq!(r.get_header("retry-after"), None);
        let b = r.json_body();
        assert_eq!(b["code"], json!(SUBMIT_FAILED_CODE));
        assert_eq!(
            b["detail"],
            json!("Failed to submit add version request: the store is unavailable")
        );
        assert!(!b.to_string().contains("disk full"), "{b}");
        let corrupt = StoreError::Corrupt("org/o1/version/iv-1: expected value".into());
        let b = ApiResponse::from(add_version_store_failure(&corrupt)).json_body();
        assert_eq!(b["code"], json!(SUBMIT_FAILED_CODE));
        assert_eq!(
            b["detail"],
            json!("Failed to submit add version request: a stored record could not be read")
        );
        assert!(!b.to_string().contains("org/"), "{b}");
        // The documented example is the same shape.
        let ex = example_body();
        for k in ["type", "title", "status", "code"] {
            assert!(!ex[k].is_null(), "{k}");
            assert_eq!(b[k], ex[k], "{k}");
        }
    }

    #[test]
    fn a_transient_store_failure_stays_503_with_retry_after() {
        let r: ApiResponse =
            add_version_store_failure(&StoreError::Transient("database is locked".into())).into();
        assert_eq!(r.status, 503);
        assert!(r.get_header("retry-after").is_some());
        let b = r.json_body();
        assert_eq!(b["code"], json!("STORE_BUSY"));
        assert!(!b.to_string().contains("database is locked"), "{b}");
    }
}
