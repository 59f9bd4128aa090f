//! The RPC door's strictness over HTTP (issue 13, item 4; `docs/contract/appstream-rpc.md`
//! "Strictness"): correctly signed requests that could be read two ways are refused, each
//! with its vendor code, in the door's error envelope. A parameter given twice (in the body,
//! or in the query and the body), a signed header sent twice, a form body whose
//! `content-type` is not signed, an unsorted `SignedHeaders` list and an impossible
//! `x-acs-date` (second 60) are each refused; the same request sent strictly passes.

use catalog_model::appstream::sign::{
    SignedRequest, authorization, form_body, sdk_headers, signed_names,
};

use crate::{Answer, Harness, demo, seed_at, try_send};

/// One RPC request as built by a test: everything but `authorization`, which
/// [`Rpc::send`] adds over the given `SignedHeaders` list.
#[derive(Clone)]
struct Rpc {
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn encode(pairs: &[(&str, &str)]) -> String {
    form_body(pairs)
}

/// A nonce never used before in this process (at least 8 characters, as ACS3 asks).
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "strict-{:08}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

impl Rpc {
    /// A `ListImage` POST as the SDK sends it, with `query` and a form `body`, dated `date`.
    fn list(authority: &str, query: &[(&str, &str)], body: &[(&str, &str)], date: &str) -> Rpc {
        let body = encode(body).into_bytes();
        // The HTTP client writes `host` itself (the same authority, which is signed).
        let headers = sdk_headers(authority, "ListImage", &body, date, &nonce())
            .into_iter()
            .filter(|(n, _)| n != "host")
            .collect();
        Rpc {
            query: encode(query),
            headers,
            body,
        }
    }

    /// Every header name present plus `host`, lower-case, sorted, unique: what the SDK signs.
    fn names(&self) -> Vec<String> {
        signed_names(&self.headers)
    }

    /// Signs over `signed` exactly as given and sends the request.
    fn send_signed(&self, door: &Door, signed: &[String]) -> Answer {
        let pairs: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let view = SignedRequest {
            method: "POST",
            authority: &door.authority,
            raw_query: &self.query,
            headers: &pairs,
            body: &self.body,
        };
        let auth = authorization(
            &door.creds.access_key_id,
            &door.creds.access_key_secret,
            &view,
            signed,
        );
        let mut all = pairs.clone();
        all.push(("authorization", &auth));
        let path = if self.query.is_empty() {
            "/".to_owned()
        } else {
            format!("/?{}", self.query)
        };
        try_send(
            &door.http,
            &door.base,
            "POST",
            &path,
            &all,
            Some(self.body.clone()),
        )
        .unwrap_or_else(|e| panic!("no answer: {e}"))
    }

    /// Signs as the SDK does (every header present) and sends.
    fn send(&self, door: &Door) -> Answer {
        self.send_signed(door, &self.names())
    }
}

struct Door {
    base: String,
    authority: String,
    http: reqwest::blocking::Client,
    creds: demo::Credentials,
}

/// A refusal in the door's envelope: `status`, `code`, `Success: false`, a `RequestId`,
/// and a `Message` that contains `mentions`.
fn refused(what: &str, a: &Answer, status: u16, code: &str, mentions: &str) {
    assert_eq!(
        (a.status, a.str("Code").as_str()),
        (status, code),
        "{what}: {}",
        a.body
    );
    assert_eq!(a.body["Success"], false, "{what}: {}", a.body);
    assert!(!a.str("RequestId").is_empty(), "{what}: {}", a.body);
    assert!(
        a.str("Message").contains(mentions),
        "{what}: the message does not name {mentions}: {}",
        a.body
    );
}

pub fn ambiguous_rpc_requests_are_refused_with_their_codes(h: &Harness) {
    let base = h.base_url();
    let door = Door {
        authority: base.trim_start_matches("http://").to_owned(),
        creds: seed_at(&h.http, &base, &format!("{}-strict", h.org)),
        http: h.http.clone(),
        base,
    };
    let now = h.now_secs();
    let date = catalog_model::time::iso8601_s(now as i64 * 1000);
    let list = |query: &[(&str, &str)], body: &[(&str, &str)]| {
        Rpc::list(&door.authority, query, body, &date)
    };

    // Strict requests pass: parameters in the query and the body, each once.
    let ok = list(&[("TagList.1.Key", "k")], &[("PageSize", "5")]).send(&door);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["PageSize"], 5, "{}", ok.body);

    // A parameter given twice, in the body or across the query and the body.
    let a = list(&[], &[("PageSize", "5"), ("PageSize", "6")]).send(&door);
    refused(
        "PageSize twice in the body",
        &a,
        400,
        "InvalidParameter",
        "PageSize",
    );
    let a = list(&[("PageSize", "5")], &[("PageSize", "6")]).send(&door);
    refused(
        "PageSize in query and body",
        &a,
        400,
        "InvalidParameter",
        "PageSize",
    );
    let a = list(&[("ImageName", "a"), ("ImageName", "a")], &[]).send(&door);
    refused(
        "ImageName twice in the query",
        &a,
        400,
        "InvalidParameter",
        "ImageName",
    );

    // A signed header sent twice, even with the same value.
    let mut twice = list(&[], &[("PageSize", "5")]);
    twice
        .headers
        .push(("x-acs-action".into(), "ListImage".into()));
    let a = twice.send(&door);
    refused(
        "x-acs-action twice",
        &a,
        400,
        "IncompleteSignature",
        "x-acs-action",
    );

    // A form body whose content-type is not signed.
    let form = list(&[], &[("PageSize", "5")]);
    let unsigned: Vec<String> = form
        .names()
        .into_iter()
        .filter(|n| n != "content-type")
        .collect();
    let a = form.send_signed(&door, &unsigned);
    refused(
        "content-type unsigned",
        &a,
        400,
        "IncompleteSignature",
        "content-type",
    );

    // SignedHeaders out of order (the signature is right for that order).
    let form = list(&[], &[("PageSize", "5")]);
    let mut reversed = form.names();
    reversed.reverse();
    let a = form.send_signed(&door, &reversed);
    refused(
        "SignedHeaders reversed",
        &a,
        400,
        "IncompleteSignature",
        "sorted",
    );

    // Second 60 of the previous minute: a lenient reading would land inside the window.
    let minute = now / 60 * 60;
    let leap_second =
        catalog_model::time::iso8601_s((minute as i64 - 60) * 1000).replace(":00Z", ":60Z");
    let a = Rpc::list(&door.authority, &[], &[("PageSize", "5")], &leap_second).send(&door);
    refused(
        "second 60",
        &a,
        400,
        "InvalidTimeStamp.Expired",
        &leap_second,
    );

    // And the strict request still passes afterwards.
    let again = list(&[], &[("PageSize", "5")]).send(&door);
    assert_eq!(again.status, 200, "{}", again.body);
}
