//! The framework-free HTTP edge shared by the REST doors: request and response values a Spin
//! component converts to and from its SDK types, RFC 9457 problem documents, and the body
//! guards (size, nesting depth, JSON) every door applies before parsing.

use crate::store::StoreError;
use serde::Serialize;
use serde_json::{Value, json};

/// Largest accepted request body (256 KiB); larger is a 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// Deepest accepted JSON nesting; deeper is a 400.
pub const MAX_JSON_DEPTH: usize = 32;
/// Seconds a client should wait after a 503 caused by a busy store.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// The code of a transient store failure's 503.
pub const STORE_BUSY_CODE: &str = "STORE_BUSY";
/// The code of a lasting store failure's 500 (the store refused, or a record is unreadable).
pub const STORE_UNAVAILABLE_CODE: &str = "STORE_UNAVAILABLE";
/// The detail of a transient store failure (R4).
pub const STORE_BUSY_MESSAGE: &str = "the store is busy; retry after the Retry-After delay";
/// The detail when the store refuses the component (no such store, access denied, a
/// refused write).
pub const STORE_UNAVAILABLE_MESSAGE: &str = "the store is unavailable";
/// The detail when a stored record does not decode.
pub const STORE_RECORD_UNREADABLE_MESSAGE: &str = "a stored record could not be read";

/// The fixed, human text a REST answer gives for a store failure, one per kind: never the
/// backend's own message nor a record's key.
pub fn store_message(e: &StoreError) -> &'static str {
    match e {
        StoreError::Transient(_) => STORE_BUSY_MESSAGE,
        StoreError::Unavailable(_) => STORE_UNAVAILABLE_MESSAGE,
        StoreError::Corrupt(_) => STORE_RECORD_UNREADABLE_MESSAGE,
    }
}

/// Writes what a store failure's answer leaves out to the component's log: one line on
/// stderr (Spin keeps it per component), `{door} {code}: {the error}`.
pub fn log_store_error(door: &str, code: &str, e: &StoreError) {
    eprintln!("{door} {code}: {}", one_line(&e.to_string()));
}

/// `s` on one line: a backend's message may carry line breaks.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

/// An HTTP request as the component received it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path as received (no query), e.g. `/imagemgmt/v1/images`.
    pub path: String,
    /// The raw query string without `?` (percent-encoded).
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The one value of a header that may be sent once (`Authorization`, RFC 9110 §11.6.2):
/// `Ok(None)` when absent, `Err(())` when sent more than once (a request whose credential is
/// ambiguous is refused, never read as its first or last copy).
#[allow(clippy::result_unit_err)]
pub fn single_header<'a>(
    headers: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, ()> {
    let mut found = headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    let first = found.next().map(|(_, v)| v.as_str());
    match found.next() {
        Some(_) => Err(()),
        None => Ok(first),
    }
}

impl ApiRequest {
    /// A request with no headers, query or body.
    pub fn new(method: &str, path: &str) -> Self {
        ApiRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            ..Default::default()
        }
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `name=value` pair of the query, percent-decoded (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(p), String::new()),
            })
            .collect()
    }

    /// The first value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept literally, invalid UTF-8 is
/// replaced (the value then fails validation with a 400 rather than a panic).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP response, always complete (one body with its length) so the component writes it in
/// a single piece (runtime fact R5).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiResponse {
    pub status: u16,
    /// Header names in lower case; includes `content-type` and `content-length` for bodies.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// `204 No Content`.
    pub fn no_content() -> Self {
        ApiResponse {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with a body of the given content type.
    pub fn with_body(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        ApiResponse {
            status,
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("content-length".into(), body.len().to_string()),
            ],
            body,
        }
    }

    /// A JSON response.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::with_body(status, "application/json", body),
            Err(e) => Problem::internal(&format!("response not serializable: {e}")).into(),
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The first value of a header.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json_body(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One entry of a problem's `errors[]`: which JSON field failed and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    /// Upper-snake machine code, e.g. `REQUIRED`, `INVALID_TYPE`, `UNKNOWN_VALUE`.
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub status: u16,
    /// Stable upper-snake machine code.
    pub code: String,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (503).
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            code: code.to_owned(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// A 400 listing the fields that failed.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        Problem {
            errors,
            ..Problem::new(400, "VALIDATION_FAILED", detail)
        }
    }

    /// A 400 about one field.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    /// A 422 about one field: well formed, but refused by what the store holds (an id the
    /// org's inventory lacks, a limit reached); `code` is also the problem's code.
    pub fn unprocessable(field: &str, code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Problem {
            errors: vec![FieldError::new(field, code, message.clone())],
            ..Problem::new(422, code, format!("{field}: {message}"))
        }
    }

    pub fn internal(detail: &str) -> Self {
        Problem::new(500, "INTERNAL_ERROR", detail)
    }

    /// A store failure, as the imagemgmt door answers it (every caller of this in the model
    /// is that door's); other doors name themselves with [`Problem::store_at`].
    pub fn store(e: &StoreError) -> Self {
        Self::store_at("imagemgmt", e)
    }

    /// A store failure answered by `door`: transient ones (R4) become 503 `STORE_BUSY` with
    /// `Retry-After`, the others 500 `STORE_UNAVAILABLE`. The detail is the kind's fixed
    /// text ([`store_message`]), never the backend's words or a record's key: those go to
    /// the component's log ([`log_store_error`]).
    pub fn store_at(door: &str, e: &StoreError) -> Self {
        let p = Self::store_answer(e);
        log_store_error(door, &p.code, e);
        p
    }

    /// The answer to a store failure, without logging it.
    fn store_answer(e: &StoreError) -> Self {
        match e {
            StoreError::Transient(_) => Problem {
                retry_after: Some(RETRY_AFTER_SECONDS),
                ..Problem::new(503, STORE_BUSY_CODE, store_message(e))
            },
            StoreError::Unavailable(_) | StoreError::Corrupt(_) => {
                Problem::new(500, STORE_UNAVAILABLE_CODE, store_message(e))
            }
        }
    }

    /// The standard reason phrase of the status, used as `title`.
    pub fn title(&self) -> &'static str {
        match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            409 => "Conflict",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            415 => "Unsupported Media Type",
            422 => "Unprocessable Content",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "Error",
        }
    }

    /// The problem document.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "type": format!("urn:image-catalog:problem:{}", self.code.to_ascii_lowercase().replace('_', "-")),
            "title": self.title(),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        });
        if !self.errors.is_empty() {
            v["errors"] = json!(self.errors);
        }
        v
    }
}

impl From<Problem> for ApiResponse {
    fn from(p: Problem) -> Self {
        let body = serde_json::to_vec(&p.to_json()).unwrap_or_default();
        let mut r = ApiResponse::with_body(p.status, "application/problem+json", body);
        if let Some(s) = p.retry_after {
            r = r.header("retry-after", &s.to_string());
        }
        if p.status == 401 {
            r = r.header("www-authenticate", "Bearer");
        }
        r
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::store(&e)
    }
}

/// Whether `body` nests arrays/objects deeper than `max`, by a byte scan that skips strings:
/// runs before any parser so a hostile body cannot exhaust the parser's stack or time.
pub fn nesting_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &c in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Applies the body guards and parses JSON: over [`MAX_BODY_BYTES`] → 413; nested deeper
/// than [`MAX_JSON_DEPTH`] or not JSON → 400. An empty body reads as `{}`.
pub fn json_body(body: &[u8]) -> Result<Value, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "BODY_TOO_LARGE",
            format!("the body exceeds {MAX_BODY_BYTES} bytes"),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    if nesting_exceeds(body, MAX_JSON_DEPTH) {
        return Err(Problem::new(
            400,
            "JSON_TOO_DEEP",
            format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::new(400, "MALFORMED_JSON", format!("the body is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_scan_counts_brackets_outside_strings_only() {
        let deep = format!("{}{}", "[".repeat(33), "]".repeat(33));
        assert!(nesting_exceeds(deep.as_bytes(), 32));
        let ok = format!("{}{}", "[".repeat(32), "]".repeat(32));
        assert!(!nesting_exceeds(ok.as_bytes(), 32));
        let in_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(40), "{".repeat(40));
        assert!(!nesting_exceeds(in_string.as_bytes(), 32));
    }

    #[test]
    fn body_guards_answer_413_and_400() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(json_body(&big).unwrap_err().status, 413);
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let p = json_body(deep.as_bytes()).unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (400, "JSON_TOO_DEEP"));
        let p = json_body(b"{not json").unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (400, "MALFORMED_JSON"));
        assert_eq!(json_body(b"").unwrap(), json!({}));
        assert_eq!(json_body(br#"{"a":1}"#).unwrap(), json!({"a":1}));
    }

    #[test]
    fn problem_documents_carry_rfc9457_members_and_field_errors() {
        let r: ApiResponse = Problem::field("streamName", "REQUIRED", "is required").into();
        assert_eq!(r.status, 400);
        assert_eq!(
            r.get_header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(
            r.get_header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        let v = r.json_body();
        for f in ["type", "title", "status", "detail", "code"] {
            assert!(v.get(f).is_some(), "{f}");
        }
        assert_eq!(v["errors"][0]["field"], "streamName");
        assert_eq!(v["errors"][0]["code"], "REQUIRED");
    }

    #[test]
    fn transient_store_errors_are_503_with_retry_after() {
        let r: ApiResponse = Problem::store(&StoreError::Transient("locked".into())).into();
        assert_eq!(r.status, 503);
        assert_eq!(r.get_header("retry-after"), Some("1"));
        let r: ApiResponse = Problem::store(&StoreError::Unavailable("gone".into())).into();
        assert_eq!(r.status, 500);
        assert_eq!(r.get_header("retry-after"), None);
    }

    #[test]
    fn store_failures_answer_fixed_texts_never_the_backends_words_or_a_key() {
        let cases = [
            (
                StoreError::Transient("injected: database is locked".into()),
                503,
                "STORE_BUSY",
                STORE_BUSY_MESSAGE,
            ),
            (
                StoreError::Unavailable("access denied to /var/lib/spin/kv.db".into()),
                500,
                "STORE_UNAVAILABLE",
                STORE_UNAVAILABLE_MESSAGE,
            ),
            (
                StoreError::Corrupt("org/o1/image/img-1: expected value at line 1".into()),
                500,
                "STORE_UNAVAILABLE",
                STORE_RECORD_UNREADABLE_MESSAGE,
            ),
        ];
        for (e, status, code, message) in cases {
            for p in [
                Problem::store(&e),
                Problem::store_at("admin", &e),
                e.clone().into(),
            ] {
                assert_eq!((p.status, p.code.as_str()), (status, code));
                assert_eq!(p.detail, message);
                let body = String::from_utf8(ApiResponse::from(p).body).unwrap();
                for internal in ["database is locked", "/var/lib", "org/", "line 1"] {
                    assert!(!body.contains(internal), "{internal} in {body}");
                }
            }
        }
        assert_eq!(one_line("a\nb\r\nc"), "a b  c");
    }

    mod refusals {
        use super::*;
        use proptest::prelude::*;

        fn body() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..200),
                "[\\[\\]{}\" :,0-9a-z\\\\]{0,200}".prop_map(String::into_bytes),
                (0usize..80, 0usize..80).prop_map(|(open, close)| format!(
                    "{}{}",
                    "[".repeat(open),
                    "]".repeat(close)
                )
                .into_bytes()),
            ]
        }

        proptest! {
            /// Any body: the guards and the JSON parser refuse with a 4xx and a code.
            #[test]
            fn every_body_refusal_is_a_4xx_with_a_code(body in body()) {
                if let Err(p) = json_body(&body) {
                    prop_assert!((400..500).contains(&p.status), "{p:?}");
                    prop_assert!(!p.code.is_empty(), "{p:?}");
                }
            }
        }
    }

    #[test]
    fn query_is_percent_decoded() {
        let mut req = ApiRequest::new("GET", "/x");
        req.query = "search=name%20%24eq%20a+b&page=2&flag&bad=%zz%".into();
        assert_eq!(req.query_param("search").as_deref(), Some("name $eq a b"));
        assert_eq!(req.query_param("page").as_deref(), Some("2"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("bad").as_deref(), Some("%zz%"));
    }
}
