use super::*;

const PAGE: &str = r#"<!doctype html><link rel="stylesheet" href="/console/app.css"><script type="module" src="/console/app.js"></script>"#;

fn console() -> Console {
    Console::new(
        PAGE,
        &[
            ("app.js", b"console.log(1)".as_slice()),
            ("app.css", b"body{}".as_slice()),
            ("icon.svg", b"<svg/>".as_slice()),
        ],
    )
}

fn get(path: &str) -> ApiRequest {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    ApiRequest {
        query: query.to_owned(),
        ..ApiRequest::new("GET", path)
    }
}

fn with_header(mut req: ApiRequest, name: &str, value: &str) -> ApiRequest {
    req.headers.push((name.to_owned(), value.to_owned()));
    req
}

fn assert_secured(r: &ApiResponse) {
    assert_eq!(r.get_header("content-security-policy"), Some(CSP));
    assert_eq!(r.get_header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.get_header("referrer-policy"), Some("no-referrer"));
}

#[test]
fn the_page_is_served_at_the_root_and_as_index_html_revalidated() {
    let c = console();
    for path in ["/console/", "/console/index.html"] {
        let r = c.answer(&get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(
            r.get_header("content-type"),
            Some("text/html; charset=utf-8")
        );
        assert_eq!(r.get_header("cache-control"), Some(REVALIDATE));
        assert!(r.get_header("etag").is_some());
        assert_eq!(r.body, c.index_html());
        assert_secured(&r);
    }
}

#[test]
fn the_page_names_each_file_by_its_content_hash() {
    let c = console();
    let page = String::from_utf8(c.index_html().to_vec()).unwrap();
    for name in ["app.js", "app.css"] {
        let url = c.url_of(name).unwrap();
        assert!(url.starts_with(&format!("/console/{name}?v=")), "{url}");
        assert!(page.contains(&format!("\"{url}\"")), "{page}");
    }
    assert!(!page.contains("\"/console/app.js\""), "{page}");
    // Another script, another hash, another page ETag.
    let other = Console::new(PAGE, &[("app.js", b"console.log(2)".as_slice())]);
    assert_ne!(other.url_of("app.js"), c.url_of("app.js"));
    let etag = |c: &Console| {
        c.answer(&get("/console/"))
            .get_header("etag")
            .map(str::to_owned)
    };
    assert_ne!(etag(&other), etag(&c));
}

#[test]
fn files_have_their_content_types() {
    let c = console();
    for (path, ct) in [
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        ("/console/icon.svg", "image/svg+xml"),
    ] {
        let r = c.answer(&get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.get_header("content-type"), Some(ct), "{path}");
        assert_secured(&r);
    }
    assert_eq!(content_type("x.png"), "image/png");
    assert_eq!(content_type("x"), "application/octet-stream");
}

#[test]
fn a_versioned_url_is_immutable_an_unversioned_or_stale_one_revalidates() {
    let c = console();
    let url = c.url_of("app.js").unwrap();
    let r = c.answer(&get(&url));
    assert_eq!(r.get_header("cache-control"), Some(IMMUTABLE));
    for stale in ["/console/app.js", "/console/app.js?v=0000000000000000"] {
        let r = c.answer(&get(stale));
        assert_eq!(r.status, 200);
        assert_eq!(r.get_header("cache-control"), Some(REVALIDATE), "{stale}");
    }
    // The page is never immutable, whatever its query says.
    let etag = c
        .answer(&get("/console/"))
        .get_header("etag")
        .unwrap()
        .to_owned();
    let v = etag.trim_matches('"');
    let r = c.answer(&get(&format!("/console/?v={v}")));
    assert_eq!(r.get_header("cache-control"), Some(REVALIDATE));
}

#[test]
fn a_matching_if_none_match_is_a_bodiless_304_with_the_same_headers() {
    let c = console();
    let first = c.answer(&get("/console/app.css"));
    let etag = first.get_header("etag").unwrap().to_owned();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
        "*".to_owned(),
    ] {
        let r = c.answer(&with_header(get("/console/app.css"), "if-none-match", &inm));
        assert_eq!(r.status, 304, "{inm}");
        assert!(r.body.is_empty());
        assert_eq!(r.get_header("etag"), Some(etag.as_str()));
        assert_eq!(r.get_header("cache-control"), Some(REVALIDATE));
        assert_eq!(r.get_header("content-type"), None);
        assert_secured(&r);
    }
    let r = c.answer(&with_header(
        get("/console/app.css"),
        "if-none-match",
        "\"other\"",
    ));
    assert_eq!(r.status, 200);
}

#[test]
fn head_is_answered_like_get() {
    let c = console();
    let r = c.answer(&ApiRequest::new("HEAD", "/console/app.js"));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.get_header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
}

#[test]
fn other_methods_are_405_with_allow() {
    let c = console();
    for m in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = c.answer(&ApiRequest::new(m, "/console/"));
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.get_header("allow"), Some(ALLOW));
        assert_eq!(
            r.get_header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(r.json_body()["code"], "METHOD_NOT_ALLOWED");
        assert_secured(&r);
    }
}

#[test]
fn unknown_paths_are_a_404_problem() {
    let c = console();
    for path in [
        "/console/nope.js",
        "/console/app.js/",
        "/console/../spin.toml",
        "/console//app.js",
        "/console/sub/index.html",
        "/consoleapp.js",
    ] {
        let r = c.answer(&get(path));
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.get_header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(r.json_body()["code"], "ROUTE_NOT_FOUND");
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
        assert_secured(&r);
    }
    // An unknown path is a 404 whatever the method.
    assert_eq!(
        c.answer(&ApiRequest::new("POST", "/console/nope")).status,
        404
    );
}

#[test]
fn the_bare_base_redirects_to_the_page() {
    let r = console().answer(&get("/console"));
    assert_eq!(r.status, 308);
    assert_eq!(r.get_header("location"), Some("/console/"));
    assert!(r.body.is_empty());
    assert_secured(&r);
}
