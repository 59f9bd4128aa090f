//! Reading admin bodies: a JSON object, and typed reads of its optional fields.

use super::AdminError;
use serde_json::{Map, Value};
use std::str::FromStr;

/// The body as a JSON object; an empty body is `{}`.
pub(super) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, AdminError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(AdminError::InvalidJson(
            "the body must be a JSON object".into(),
        )),
        Err(e) => Err(AdminError::InvalidJson(format!(
            "the body is not JSON: {e}"
        ))),
    }
}

/// Typed reads of optional body fields; the first wrong one becomes a 400 naming it.
pub(super) struct Fields<'a>(pub(super) &'a Map<String, Value>);

impl Fields<'_> {
    pub(super) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    pub(super) fn string(&self, name: &str) -> Result<Option<String>, AdminError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(AdminError::invalid(
                name,
                "INVALID_TYPE",
                "must be a string",
            )),
        }
    }

    pub(super) fn parsed<T: FromStr>(
        &self,
        name: &str,
        allowed: &str,
    ) -> Result<Option<T>, AdminError> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => s.parse::<T>().map(Some).map_err(|_| {
                AdminError::invalid(name, "INVALID_ENUM", format!("must be one of {allowed}"))
            }),
        }
    }

    pub(super) fn boolean(&self, name: &str, default: bool) -> Result<bool, AdminError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(AdminError::invalid(
                name,
                "INVALID_TYPE",
                "must be true or false",
            )),
        }
    }

    pub(super) fn string_list(&self, name: &str) -> Result<Vec<String>, AdminError> {
        let wrong = || AdminError::invalid(name, "INVALID_TYPE", "must be a list of strings");
        match self.get(name) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(wrong()),
                })
                .collect(),
            Some(_) => Err(wrong()),
        }
    }

    /// A free-form JSON object (absent: empty).
    pub(super) fn object(&self, name: &str) -> Result<Map<String, Value>, AdminError> {
        match self.get(name) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(AdminError::invalid(
                name,
                "INVALID_TYPE",
                "must be a JSON object",
            )),
        }
    }

    pub(super) fn positive(&self, name: &str) -> Result<Option<u64>, AdminError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(AdminError::invalid(
                    name,
                    "INVALID_NUMBER",
                    "must be a positive integer",
                )),
            },
        }
    }
}

/// `A, B, C`: the values an enum field takes, for its 400.
pub(super) fn enum_list<T: Copy + std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
