//! HTTP conformance: Spin's routing and the request the guest sees.
mod common;
use common::*;

#[test]
fn routing_precedence_and_spin_headers() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let base = app.base_url();
    let route_of = |path: &str| {
        let (status, body) = get(&format!("{base}{path}"));
        assert_eq!(status, 200, "{path}");
        let body = body.expect("json");
        (
            header(&body, "spin-raw-component-route").unwrap_or_default(),
            header(&body, "spin-path-info").unwrap_or_default(),
        )
    };
    // Exact beats wildcard; longest prefix wins; the catch-all takes the rest.
    assert_eq!(route_of("/api/items"), ("/api/items".into(), "".into()));
    assert_eq!(
        route_of("/api/items/7"),
        ("/api/items/...".into(), "/7".into())
    );
    assert_eq!(route_of("/api/other"), ("/api/...".into(), "/other".into()));
    assert_eq!(route_of("/api"), ("/api/...".into(), "".into()));
    assert_eq!(route_of("/api/"), ("/api/...".into(), "/".into()));
    assert_eq!(route_of("/nowhere/x"), ("/...".into(), "/nowhere/x".into()));
    assert_eq!(route_of("/exact"), ("/exact".into(), "".into()));
}

#[test]
fn no_route_is_404() {
    let f = manifest_text(
        "spin_manifest_version = 2\n[application]\nname = \"t\"\n[[trigger.http]]\nroute = \"/only\"\ncomponent = \"p\"\n[component.p]\nsource = \"@PROBE@\"\n",
    );
    let app = spin_local_host::App::start(spin_local_host::AppOptions::new(&f.manifest)).unwrap();
    assert_eq!(get(&format!("{}/other", app.base_url())).0, 404);
    assert_eq!(get(&format!("{}/only/more", app.base_url())).0, 404);
    assert_eq!(get(&format!("{}/only", app.base_url())).0, 200);
}

#[test]
fn guest_sees_authority_in_uri_spin_headers_and_no_host() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let addr = app.local_addr();
    let (status, body) = get(&format!("{}/users/42/posts?x=1", app.base_url()));
    assert_eq!(status, 200);
    let body = body.unwrap();
    assert_eq!(body["uri"], format!("http://{addr}/users/42/posts?x=1"));
    assert_eq!(header(&body, "host"), None);
    assert_eq!(
        header(&body, "spin-full-url").unwrap(),
        format!("http://{addr}/users/42/posts?x=1")
    );
    assert_eq!(header(&body, "spin-path-info").unwrap(), "/posts");
    assert_eq!(
        header(&body, "spin-matched-route").unwrap(),
        "/users/:user_id/..."
    );
    assert_eq!(
        header(&body, "spin-component-route").unwrap(),
        "/users/:user_id"
    );
    assert_eq!(
        header(&body, "spin-raw-component-route").unwrap(),
        "/users/:user_id/..."
    );
    assert_eq!(header(&body, "spin-base-path").unwrap(), "/");
    assert_eq!(header(&body, "spin-path-match-user-id").unwrap(), "42");
    let client = header(&body, "spin-client-addr").unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
}

#[test]
fn host_header_becomes_the_uri_authority() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let body: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{}/x", app.base_url()))
        .header("host", "catalog.example:8443")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["uri"], "http://catalog.example:8443/x");
    assert_eq!(
        header(&body, "spin-full-url").unwrap(),
        "http://catalog.example:8443/x"
    );
    assert_eq!(header(&body, "host"), None);
}

#[test]
fn trapping_guest_is_500_logged_and_the_host_keeps_serving() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let (status, _) = get(&format!("{}/boom?op=trap", app.base_url()));
    assert_eq!(status, 500);
    let logs = app.logs();
    assert!(
        logs.iter()
            .any(|l| l.starts_with("[probe] ") && l.contains("probe asked to trap")),
        "{logs:?}"
    );
    assert!(
        logs.iter().any(|l| l.starts_with("[probe] error:")),
        "{logs:?}"
    );
    assert_eq!(ops(&app, "/again", &["s.set,default,k,v"]), vec!["ok"]);
}

#[test]
fn guest_output_is_prefixed_with_the_component_id() {
    let f = fixture("probe.toml");
    let app = start(&f);
    assert_eq!(ops(&app, "/api/x", &["print,hello-log"]), vec!["ok"]);
    let logs = app.logs();
    assert_eq!(
        logs.iter().filter(|l| *l == "[api] hello-log").count(),
        2,
        "{logs:?}"
    );
}

#[test]
fn keep_alive_connections_serve_many_requests() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let client = reqwest::blocking::Client::new();
    for _ in 0..5 {
        assert_eq!(
            client
                .get(format!("{}/k", app.base_url()))
                .send()
                .unwrap()
                .status(),
            200
        );
    }
}

/// R9: Spin answers a header value that is not UTF-8 with an empty 500 before any
/// component runs; valid UTF-8 beyond ASCII reaches the guest.
#[test]
fn a_header_value_that_is_not_utf8_is_an_empty_500_as_on_spin() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let client = reqwest::blocking::Client::new();
    let send = |value: &[u8]| {
        let resp = client
            .get(format!("{}/anything", app.base_url()))
            .header(
                "x-odd",
                reqwest::header::HeaderValue::from_bytes(value).expect("obs-text is allowed"),
            )
            .send()
            .expect("an answer");
        (resp.status().as_u16(), resp.text().unwrap_or_default())
    };
    assert_eq!(send(b"\xac"), (500, String::new()));
    let (status, body) = send("\u{ac}".as_bytes());
    assert_eq!(status, 200, "{body}");
}
