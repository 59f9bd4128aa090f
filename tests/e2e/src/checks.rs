//! Checks on answers and operation records shared by the scenarios.

use serde_json::Value;

use crate::Answer;

/// The operation path (below `/imagemgmt/v1`) an accepted REST answer names.
pub fn operation_path(a: &Answer) -> Option<String> {
    a.header("operation-location")
        .map(|l| l.trim_start_matches("/imagemgmt/v1").to_owned())
}

/// An error answer must be a problem (RFC 9457) with the same status in its body: never
/// Spin's empty 500.
pub fn assert_clean_error(what: &str, a: &Answer) {
    let ctype = a.header("content-type").unwrap_or_default();
    assert!(
        a.body.is_object(),
        "{what}: {} with a body that is not a JSON object: {:?}",
        a.status,
        a.body
    );
    if ctype.contains("problem+json") {
        assert_eq!(a.body["status"], a.status, "{what}: {}", a.body);
    }
}

/// Checks one operation record: a final status and no step entered twice for the same
/// attempt; at most one terminal event. Returns the status.
pub fn check_operation(op: &Value) -> String {
    let mut seen = std::collections::HashSet::new();
    let mut terminal = 0;
    for e in op["history"].as_array().cloned().unwrap_or_default() {
        let key = (
            e["step"].to_string(),
            e["attempt"].to_string(),
            e["event"].to_string(),
        );
        assert!(seen.insert(key), "history entry twice: {e} in {op}");
        if e["event"] == "SUCCEEDED" || e["event"] == "FAILED" {
            terminal += 1;
        }
    }
    let status = op["status"].as_str().unwrap_or_default().to_owned();
    if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status.as_str()) {
        assert!(terminal <= 1, "more than one final event: {op}");
    }
    status
}
