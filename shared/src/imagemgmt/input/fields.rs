//! [`Fields`], the reader of one JSON object that collects every failing field by its JSON
//! path, and the field-level checks the request bodies share (description, id, `os`).

use super::values::{Description, Id};
use crate::api::{FieldError, Problem};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// Reads fields of one JSON object, collecting errors named by their JSON path.
pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
    prefix: String,
    pub errors: Vec<FieldError>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Fields<'a> {
    /// The body's top-level object; a body that is JSON but not an object fails field `$`.
    pub fn of_body(v: &'a Value) -> Result<Fields<'a>, Problem> {
        match v {
            Value::Object(obj) => Ok(Fields {
                obj,
                prefix: String::new(),
                errors: Vec::new(),
            }),
            other => Err(Problem::field(
                "$",
                "INVALID_TYPE",
                format!("the body must be a JSON object, got {}", type_name(other)),
            )),
        }
    }

    fn path(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    fn fail(&mut self, name: &str, code: &str, msg: impl Into<String>) {
        let field = self.path(name);
        self.errors.push(FieldError::new(&field, code, msg));
    }

    /// Records an error about a field from outside (a rule spanning fields).
    pub fn reject(&mut self, name: &str, code: &str, msg: impl Into<String>) {
        self.fail(name, code, msg);
    }

    /// The raw value; `null` counts as absent.
    pub fn raw(&self, name: &str) -> Option<&'a Value> {
        self.obj.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.raw(name).is_some()
    }

    pub fn str(&mut self, name: &str) -> Option<&'a str> {
        match self.raw(name)? {
            Value::String(s) => Some(s.as_str()),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be a string, got {t}"));
                None
            }
        }
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.raw(name)? {
            Value::Bool(b) => Some(*b),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be a boolean, got {t}"));
                None
            }
        }
    }

    /// A string parsed by `parse` (a newtype constructor or `FromStr`).
    pub fn parsed<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let s = self.str(name)?;
        match parse(s) {
            Ok(v) => Some(v),
            Err(m) => {
                self.fail(name, "INVALID_VALUE", m);
                None
            }
        }
    }

    /// A wire enum; an unknown value fails with `UNKNOWN_VALUE`.
    pub fn enumerated<E: FromStr>(&mut self, name: &str) -> Option<E>
    where
        E::Err: fmt::Display,
    {
        let s = self.str(name)?;
        match s.parse::<E>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.fail(name, "UNKNOWN_VALUE", e.to_string());
                None
            }
        }
    }

    /// Marks a field as required when `got` is `None` and the field was absent.
    pub fn required<T>(&mut self, name: &str, got: Option<T>) -> Option<T> {
        if got.is_none() && !self.has(name) {
            self.fail(name, "REQUIRED", "is required");
        }
        got
    }

    pub fn array(&mut self, name: &str) -> Option<&'a Vec<Value>> {
        match self.raw(name)? {
            Value::Array(a) => Some(a),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be an array, got {t}"));
                None
            }
        }
    }

    /// A nested object, read with the same error list (paths prefixed `name.`).
    pub fn object(&mut self, name: &str) -> Option<Fields<'a>> {
        match self.raw(name)? {
            Value::Object(obj) => Some(Fields {
                obj,
                prefix: format!("{}.", self.path(name)),
                errors: Vec::new(),
            }),
            other => {
                let t = type_name(other);
                self.fail(name, "INVALID_TYPE", format!("must be an object, got {t}"));
                None
            }
        }
    }

    /// Element `i` of array `name` as an object.
    pub fn element(&mut self, name: &str, i: usize, v: &'a Value) -> Option<Fields<'a>> {
        match v {
            Value::Object(obj) => Some(Fields {
                obj,
                prefix: format!("{}[{i}].", self.path(name)),
                errors: Vec::new(),
            }),
            other => {
                let t = type_name(other);
                self.fail(
                    &format!("{name}[{i}]"),
                    "INVALID_TYPE",
                    format!("must be an object, got {t}"),
                );
                None
            }
        }
    }

    /// Takes the errors of a nested reader into this one.
    pub fn absorb(&mut self, nested: Fields<'a>) {
        self.errors.extend(nested.errors);
    }

    /// The raw object (for `assetDetails.data`, kept as given).
    pub fn map(&self) -> &'a Map<String, Value> {
        self.obj
    }

    /// Ends parsing: any error makes a 400 listing every failing field.
    pub fn finish(self) -> Result<(), Problem> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.errors))
        }
    }
}

pub(super) fn description(f: &mut Fields<'_>, name: &str) -> Option<Description> {
    f.parsed(name, Description::parse)
}

pub(super) fn id(f: &mut Fields<'_>, name: &str) -> Option<Id> {
    f.parsed(name, Id::parse)
}

pub(super) fn os(f: &mut Fields<'_>) -> Option<String> {
    f.parsed("os", |s| {
        if s.chars().count() > 256 {
            Err("must be at most 256 characters".into())
        } else {
            Ok(s.to_owned())
        }
    })
}
