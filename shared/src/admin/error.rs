//! Every refusal of the admin API, and its one conversion into a problem document.

use crate::api::{ApiResponse, Problem};
use crate::routing::RouteMiss;
use crate::store::StoreError;

/// Why an admin call did not succeed. `From<AdminError> for ApiResponse` is the only place
/// an admin refusal becomes an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AdminError {
    /// No admin token is configured: the API is closed (503).
    Disabled,
    /// The bearer token is missing or is not the admin token (401).
    Unauthorized,
    /// The body is over [`super::MAX_BODY`] (413).
    BodyTooLarge,
    /// No admin endpoint has this path (404).
    NoRoute,
    /// The path is known, the method is not (405 with `Allow`).
    MethodNotAllowed { allow: String },
    /// The record the path names is absent (404); the detail names it.
    NotFound(String),
    /// The org of the path does not exist (404).
    OrgNotFound(String),
    /// The body is not a JSON object (400); the detail says why.
    InvalidJson(String),
    /// A body field or path segment is wrong (400 naming it).
    Invalid {
        field: String,
        code: &'static str,
        message: String,
    },
    /// A secret could not be sealed or opened: `secrets_key` is missing, or a sealed secret
    /// names a key this app does not hold (500; the detail says which).
    Secret(crate::secrets::SecretError),
    /// The request conflicts with the record's state (409): a stable code and why.
    Conflict { code: &'static str, message: String },
    /// The store failed: 503 with `Retry-After` when transient (R4), else 500; answered
    /// with the kind's fixed text, the error itself goes to the component's log.
    Store(StoreError),
}

impl AdminError {
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        AdminError::Invalid {
            field: field.to_owned(),
            code,
            message: message.into(),
        }
    }

    fn problem(&self) -> Problem {
        match self {
            AdminError::Disabled => Problem::new(
                503,
                "ADMIN_DISABLED",
                "the admin API is disabled: no admin token is configured (set the Spin variable admin_token)",
            ),
            AdminError::Unauthorized => Problem::new(
                401,
                "UNAUTHORIZED",
                "admin calls need Authorization: Bearer <admin token>",
            ),
            AdminError::BodyTooLarge => {
                Problem::new(413, "BODY_TOO_LARGE", "admin bodies are at most 256 KiB")
            }
            AdminError::NoRoute => Problem::new(404, "NOT_FOUND", "no such admin endpoint"),
            AdminError::MethodNotAllowed { allow } => Problem::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("use {allow} on this path"),
            ),
            AdminError::NotFound(detail) => Problem::new(404, "NOT_FOUND", detail.clone()),
            AdminError::OrgNotFound(org_id) => Problem::new(
                404,
                "ORG_NOT_FOUND",
                format!("org {org_id} does not exist (create it with PUT /admin/v1/orgs/{org_id})"),
            ),
            AdminError::InvalidJson(detail) => Problem::new(400, "INVALID_JSON", detail.clone()),
            AdminError::Invalid {
                field,
                code,
                message,
            } => Problem::field(field, code, message.clone()),
            AdminError::Conflict { code, message } => Problem::new(409, code, message.clone()),
            AdminError::Secret(e) => Problem::new(500, "SECRETS_KEY", e.to_string()),
            AdminError::Store(e) => Problem::store_at("admin", e),
        }
    }
}

impl From<AdminError> for ApiResponse {
    fn from(e: AdminError) -> Self {
        let answer = ApiResponse::from(e.problem());
        match e {
            AdminError::MethodNotAllowed { allow } => answer.header("allow", &allow),
            _ => answer,
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        AdminError::Store(e)
    }
}

impl From<RouteMiss<AdminError>> for AdminError {
    fn from(miss: RouteMiss<AdminError>) -> Self {
        match miss {
            RouteMiss::NotFound => AdminError::NoRoute,
            RouteMiss::BadParam(e) => e,
            RouteMiss::MethodNotAllowed { allow } => AdminError::MethodNotAllowed { allow },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::admin::tests::{body, call, setup};
    use crate::api::{STORE_BUSY_MESSAGE, STORE_RECORD_UNREADABLE_MESSAGE};
    use crate::keys;
    use crate::records::Store;
    use crate::store::KeyValue;
    use serde_json::json;

    #[test]
    fn a_store_failure_answers_the_kinds_text_never_the_backends_or_a_key() {
        let (kv, env) = setup();
        let st = Store::new(&kv, &env);
        kv.fail_next(100);
        let r = call(&st, "GET", "/admin/v1/orgs/o1", "");
        kv.fail_next(0);
        let b = body(&r);
        assert_eq!((r.status, &b["code"]), (503, &json!("STORE_BUSY")), "{b}");
        assert_eq!(b["detail"], json!(STORE_BUSY_MESSAGE));
        assert!(!b.to_string().contains("database is locked"), "{b}");

        kv.set(&keys::org("o1"), b"not json").unwrap();
        let r = call(&st, "GET", "/admin/v1/orgs/o1", "");
        let b = body(&r);
        assert_eq!(
            (r.status, &b["code"]),
            (500, &json!("STORE_UNAVAILABLE")),
            "{b}"
        );
        assert_eq!(b["detail"], json!(STORE_RECORD_UNREADABLE_MESSAGE));
        assert!(!b.to_string().contains("org/"), "{b}");
    }
}
