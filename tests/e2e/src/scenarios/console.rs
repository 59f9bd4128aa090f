//! The web console's files (`/console/...`, issue 14) as a browser gets them: content
//! types, the security headers, caching (`ETag`, 304, versioned files immutable), the
//! redirect of `/console`, 405 and 404, and that nothing the page loads comes from
//! another origin. The console itself is driven in a real browser by `tests/browser`.

use crate::Harness;
use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use reqwest::redirect::Policy;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// An answer's status and headers.
struct Head {
    status: u16,
    headers: HeaderMap,
}

impl Head {
    fn status(&self) -> u16 {
        self.status
    }
}

/// A request as a browser's first: no redirect followed.
fn fetch(h: &Harness, method: &str, path: &str, headers: &[(&str, &str)]) -> (Head, String) {
    let client = Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client.request(method, format!("{}{path}", h.base_url()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().expect("the app answered");
    let head = Head {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
    };
    let body = resp.text().expect("body");
    (head, body)
}

fn header<'a>(r: &'a Head, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn assert_secured(r: &Head, what: &str) {
    assert_eq!(header(r, "content-security-policy"), CSP, "{what}");
    assert_eq!(header(r, "x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header(r, "referrer-policy"), "no-referrer", "{what}");
}

/// Every `src="…"` and `href="…"` of the page.
fn references(page: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for (i, _) in page.match_indices(attr) {
            let rest = &page[i + attr.len()..];
            out.push(rest[..rest.find('"').unwrap_or(0)].to_owned());
        }
    }
    out
}

/// Text that would make a browser reach another origin: absolute or protocol-relative
/// URLs. (An SVG's `xmlns` names a namespace, it is not fetched.)
fn external_urls(body: &str) -> Vec<String> {
    let body = body.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    ["http://", "https://", "\"//", "'//", "(//", "`//"]
        .iter()
        .filter(|p| body.contains(**p))
        .map(|p| (*p).to_owned())
        .collect()
}

/// On either target: the page and its files, with the headers the console promises.
pub fn console_files_carry_their_headers_and_stay_on_the_origin(h: &Harness) {
    let (r, _) = fetch(h, "GET", "/console", &[]);
    assert_eq!(r.status(), 308);
    assert_eq!(header(&r, "location"), "/console/");

    let (page_resp, page) = fetch(h, "GET", "/console/", &[]);
    assert_eq!(page_resp.status(), 200);
    assert_eq!(
        header(&page_resp, "content-type"),
        "text/html; charset=utf-8"
    );
    assert_eq!(header(&page_resp, "cache-control"), "no-cache");
    assert_secured(&page_resp, "page");
    // No inline script or style: the CSP would refuse it.
    assert!(
        !page.contains("<style") && !page.contains(" style="),
        "{page}"
    );
    assert_eq!(
        page.matches("<script").count(),
        page.matches("<script type=\"module\" src=\"/console/")
            .count(),
        "{page}"
    );

    let refs = references(&page);
    let files: Vec<&String> = refs.iter().filter(|r| r.starts_with("/console/")).collect();
    for r in &refs {
        assert!(r.starts_with("/console/") || r.starts_with('#'), "{r}");
    }
    for (name, ct) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("app.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let url = files
            .iter()
            .find(|u| u.starts_with(&format!("/console/{name}?v=")))
            .unwrap_or_else(|| panic!("the page names {name} by its hash: {refs:?}"));
        let (r, body) = fetch(h, "GET", url, &[]);
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(header(&r, "content-type"), ct, "{url}");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable",
            "{url}"
        );
        assert_secured(&r, url);
        assert_eq!(external_urls(&body), Vec::<String>::new(), "{url}");
        // Unversioned, it is revalidated; with its ETag, a bodiless 304.
        let plain = format!("/console/{name}");
        let (r, _) = fetch(h, "GET", &plain, &[]);
        assert_eq!(header(&r, "cache-control"), "no-cache", "{plain}");
        let etag = header(&r, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
        let (r, body) = fetch(h, "GET", &plain, &[("if-none-match", &etag)]);
        assert_eq!(r.status(), 304, "{plain}");
        assert!(body.is_empty());
        // No length to tell (RFC 9110 8.6): not even `content-length: 0`.
        assert!(r.headers.get("content-length").is_none(), "{plain}");
        assert_eq!(header(&r, "etag"), etag);
        assert_secured(&r, "304");
    }
    assert_eq!(external_urls(&page), Vec::<String>::new());
    let page_etag = header(&page_resp, "etag").to_owned();
    let (r, _) = fetch(h, "GET", "/console/", &[("if-none-match", &page_etag)]);
    assert_eq!(r.status(), 304);

    let (r, _) = fetch(h, "HEAD", "/console/app.css", &[]);
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");

    for method in ["POST", "PUT", "DELETE"] {
        let (r, body) = fetch(h, method, "/console/", &[]);
        assert_eq!(r.status(), 405, "{method}");
        assert_eq!(header(&r, "allow"), "GET, HEAD");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        assert!(body.contains("METHOD_NOT_ALLOWED"), "{body}");
    }
    for path in [
        "/console/nope.js",
        "/console/app.js/x",
        "/console/sub/index.html",
    ] {
        let (r, body) = fetch(h, "GET", path, &[]);
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(header(&r, "content-type"), "application/problem+json");
        assert!(body.contains("ROUTE_NOT_FOUND"), "{body}");
        assert_secured(&r, path);
    }
}
