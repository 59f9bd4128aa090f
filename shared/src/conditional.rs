//! Conditional requests and `HEAD` (RFC 9110 §13 and §9.3.2), for every resource that has an
//! `ETag`: the REST door's images and versions, and the console's files.
//!
//! - **`If-Match`** (§13.1.1) uses the *strong* comparison: `*` matches any current
//!   record, and a listed tag matches only when neither it nor the current tag is weak. A
//!   weak tag `W/"…"` never matches, so a write guarded by one is a 412.
//! - **`If-None-Match`** (§13.1.2) uses the *weak* comparison (`W/` ignored). On `GET` and
//!   `HEAD` a match is `304 Not Modified` with the `ETag` and no body; on a write it is a 412
//!   (a `PATCH` or `DELETE` with `If-None-Match: *` never proceeds: the record exists).
//! - When both are sent, `If-Match` is evaluated first (§13.2.2), so a record whose tag does
//!   not match it is a 412 whatever `If-None-Match` says.
//! - **`HEAD`** is answered as `GET` is, without the body (§9.3.2): the route tables derive
//!   it from `GET` (`routing`), and the platform's edge drops the body ([`framing`]). The
//!   length of the body `GET` would send is not announced: WASI HTTP checks a response's
//!   `content-length` against the bytes written, and RFC 9110 §8.6 lets a `HEAD` answer omit it.
//!
//! Tags are compared as sent: quotes are not required of a client (an unquoted tag is read as
//! the same opaque tag), weakness is.

use crate::api::ApiResponse;

/// One entity-tag of a header's list: its opaque part and whether it is weak.
fn tags(header: &str) -> impl Iterator<Item = (bool, &str)> {
    header
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            let weak = t.starts_with("W/");
            (weak, t.trim_start_matches("W/").trim_matches('"'))
        })
}

/// `If-Match`'s strong comparison of `header` with the current tag `etag` (its opaque part).
pub fn strong_match(header: &str, etag: &str) -> bool {
    tags(header).any(|(weak, t)| t == "*" || (!weak && t == etag))
}

/// `If-None-Match`'s weak comparison of `header` with the current tag `etag`.
pub fn weak_match(header: &str, etag: &str) -> bool {
    let etag = etag.trim_start_matches("W/").trim_matches('"');
    tags(header).any(|(_, t)| t == "*" || t == etag)
}

/// The preconditions of a write, as sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Preconditions<'a> {
    pub if_match: Option<&'a str>,
    pub if_none_match: Option<&'a str>,
}

impl Preconditions<'_> {
    /// Whether any precondition was sent: the write must then land on the record as read.
    pub fn any(&self) -> bool {
        self.if_match.is_some() || self.if_none_match.is_some()
    }

    /// Whether a write may proceed on the record whose current tag is `etag`.
    pub fn pass(&self, etag: &str) -> bool {
        self.if_match.is_none_or(|h| strong_match(h, etag))
            && !self.if_none_match.is_some_and(|h| weak_match(h, etag))
    }
}

/// A `GET` or `HEAD` answer for a client that sent `If-None-Match`: `304` with the `ETag`
/// (and `cache-control`, which a 304 repeats) when the tag matches, else `resp` unchanged.
pub fn not_modified(method: &str, if_none_match: Option<&str>, resp: ApiResponse) -> ApiResponse {
    let Some(header) = if_none_match else {
        return resp;
    };
    if !matches!(method, "GET" | "HEAD") || resp.status != 200 {
        return resp;
    }
    let Some(etag) = resp.get_header("etag").map(str::to_owned) else {
        return resp;
    };
    if !weak_match(header, &etag) {
        return resp;
    }
    let kept: Vec<(String, String)> = resp
        .headers
        .into_iter()
        .filter(|(n, _)| !matches!(n.as_str(), "content-type" | "content-length"))
        .collect();
    ApiResponse {
        status: 304,
        headers: kept,
        body: Vec::new(),
    }
}

/// How the edge sends an answer to a request of `method`: whether the body goes out, and
/// the `content-length` to announce (none for `HEAD`, 204 and 304; see the module docs).
pub fn framing(method: &str, status: u16, body_len: usize) -> (bool, Option<usize>) {
    if method.eq_ignore_ascii_case("HEAD") || matches!(status, 204 | 304) {
        (false, None)
    } else {
        (true, Some(body_len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_strong_and_if_none_match_is_weak() {
        assert!(strong_match("\"t1\"", "t1"));
        assert!(strong_match("\"x\", \"t1\"", "t1"));
        assert!(strong_match("*", "t1"));
        assert!(strong_match("t1", "t1"));
        assert!(!strong_match("W/\"t1\"", "t1"));
        assert!(!strong_match("\"t2\"", "t1"));
        assert!(!strong_match("", "t1"));
        assert!(weak_match("W/\"t1\"", "\"t1\""));
        assert!(weak_match("\"t1\"", "W/\"t1\""));
        assert!(weak_match("\"a\" , *", "\"t1\""));
        assert!(!weak_match("\"t2\"", "\"t1\""));
    }

    #[test]
    fn a_write_passes_only_when_every_precondition_holds() {
        let none = Preconditions::default();
        assert!(none.pass("t") && !none.any());
        let if_match = |h| Preconditions {
            if_match: Some(h),
            if_none_match: None,
        };
        assert!(if_match("\"t\"").pass("t"));
        assert!(!if_match("W/\"t\"").pass("t"));
        let not_star = Preconditions {
            if_match: None,
            if_none_match: Some("*"),
        };
        assert!(not_star.any() && !not_star.pass("t"));
        let other = Preconditions {
            if_match: None,
            if_none_match: Some("\"u\""),
        };
        assert!(other.pass("t"));
        let both = Preconditions {
            if_match: Some("\"t\""),
            if_none_match: Some("W/\"t\""),
        };
        assert!(!both.pass("t"));
    }

    fn ok_with_tag() -> ApiResponse {
        ApiResponse::with_body(200, "application/json", b"{}".to_vec())
            .header("etag", "\"t1\"")
            .header("cache-control", "no-cache")
    }

    #[test]
    fn a_matching_if_none_match_on_get_or_head_is_a_304_without_a_body() {
        for method in ["GET", "HEAD"] {
            for header in ["\"t1\"", "W/\"t1\"", "*", "\"x\", \"t1\""] {
                let r = not_modified(method, Some(header), ok_with_tag());
                assert_eq!(r.status, 304, "{method} {header}");
                assert!(r.body.is_empty());
                assert_eq!(r.get_header("etag"), Some("\"t1\""));
                assert_eq!(r.get_header("cache-control"), Some("no-cache"));
                assert_eq!(r.get_header("content-type"), None);
            }
        }
        assert_eq!(
            not_modified("GET", Some("\"t2\""), ok_with_tag()).status,
            200
        );
        assert_eq!(not_modified("GET", None, ok_with_tag()).status, 200);
        assert_eq!(not_modified("POST", Some("*"), ok_with_tag()).status, 200);
        let untagged = ApiResponse::with_body(200, "application/json", b"[]".to_vec());
        assert_eq!(not_modified("GET", Some("*"), untagged).status, 200);
        let missing = ApiResponse::with_body(404, "application/json", b"{}".to_vec());
        assert_eq!(not_modified("GET", Some("*"), missing).status, 404);
    }

    #[test]
    fn head_sends_no_body_and_no_length() {
        assert_eq!(framing("GET", 200, 12), (true, Some(12)));
        assert_eq!(framing("HEAD", 200, 12), (false, None));
        assert_eq!(framing("head", 404, 12), (false, None));
        assert_eq!(framing("GET", 304, 0), (false, None));
        assert_eq!(framing("DELETE", 204, 0), (false, None));
    }
}
