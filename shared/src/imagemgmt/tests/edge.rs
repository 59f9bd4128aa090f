//! The door's edge: authentication and tenancy, body guards, `Idempotency-Key`, and
//! robustness (store errors, unknown paths, odd inputs).

use super::*;
use crate::api::MAX_BODY_BYTES;

#[test]
fn missing_or_unknown_tokens_are_401() {
    let w = World::new();
    let mut r = w.req("GET", "/images", None);
    r.headers.clear();
    assert_eq!(problem(&w.send(&r)), (401, "UNAUTHORIZED".into()));
    r.headers = vec![("authorization".into(), "Bearer ict_nope".into())];
    assert_eq!(w.send(&r).status, 401);
    r.headers = vec![("authorization".into(), "Basic abc".into())];
    assert_eq!(w.send(&r).status, 401);
}

#[test]
fn two_authorization_headers_are_refused_whichever_comes_first() {
    let w = World::new();
    let good = w.req("GET", "/images", None);
    assert_eq!(w.send(&good).status, 200);
    let (name, value) = good
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .cloned()
        .unwrap();
    for extra_first in [false, true] {
        let mut r = good.clone();
        let extra = (name.to_uppercase(), "Bearer ict_someone_else".to_owned());
        if extra_first {
            r.headers.insert(0, extra);
        } else {
            r.headers.push(extra);
        }
        assert_eq!(problem(&w.send(&r)), (400, "DUPLICATE_HEADER".into()));
        // Even two copies of the valid token: the field is a singleton.
        r.headers = vec![(name.clone(), value.clone()), (name.clone(), value.clone())];
        assert_eq!(w.send(&r).status, 400);
    }
}

#[test]
fn org_mismatch_is_403_and_another_orgs_record_is_404() {
    let w = World::new();
    let img = w.sig_image("win");
    let id = img["id"].as_str().unwrap();
    assert_eq!(w.call("GET", "/images?org_id=o1", None).status, 200);
    assert_eq!(
        problem(&w.call("GET", "/images?org_id=o2", None)),
        (403, "ORG_MISMATCH".into())
    );
    let r = w.call(
        "POST",
        "/images",
        Some(json!({"streamName": "x", "osType": "WINDOWS", "orgId": "o2"})),
    );
    assert_eq!(r.status, 403);
    // A token of another org sees nothing of o1.
    let other = auth::mint_token(&w.st(), "o2").unwrap();
    let mut r = w.req("GET", &format!("/images/{id}"), None);
    r.headers = vec![("authorization".into(), format!("Bearer {other}"))];
    assert_eq!(problem(&w.send(&r)), (404, "IMAGE_NOT_FOUND".into()));
    r.path = format!("{BASE}/images");
    assert_eq!(w.send(&r).json_body()["totalElements"], 0);
}

#[test]
fn body_guards_are_413_and_400() {
    let w = World::new();
    let mut r = w.req("POST", "/images", None);
    r.body = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(problem(&w.send(&r)), (413, "BODY_TOO_LARGE".into()));
    // Before authentication, on any method: the limit is all an anonymous client learns.
    for method in ["POST", "GET"] {
        let mut anonymous = w.req(method, "/images", None);
        anonymous
            .headers
            .retain(|(name, _)| name != "authorization");
        anonymous.body = vec![b'{'; MAX_BODY_BYTES + 1];
        assert_eq!(problem(&w.send(&anonymous)), (413, "BODY_TOO_LARGE".into()));
    }
    r.body = format!("{}{}", "[".repeat(40), "]".repeat(40)).into_bytes();
    assert_eq!(problem(&w.send(&r)), (400, "JSON_TOO_DEEP".into()));
    r.body = b"{\"streamName\":".to_vec();
    assert_eq!(problem(&w.send(&r)), (400, "MALFORMED_JSON".into()));
}

// ------------------------------------------------------------------ idempotency

#[test]
fn idempotency_key_replays_refuses_other_bodies_and_in_flight() {
    let w = World::new();
    let body = json!({"streamName": "once", "osType": "WINDOWS"});
    let mut req = w.req("POST", "/images", Some(body));
    req.headers.push(("idempotency-key".into(), "k-1".into()));
    let first = w.send(&req);
    assert_eq!(first.status, 201);
    let again = w.send(&req);
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(
        again.get_header("operation-location"),
        first.get_header("operation-location")
    );
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        1
    );

    let mut other = req.clone();
    other.body = json!({"streamName": "twice", "osType": "WINDOWS"})
        .to_string()
        .into_bytes();
    assert_eq!(
        problem(&w.send(&other)),
        (422, "IDEMPOTENCY_KEY_REUSED".into())
    );

    // After 24 hours the key is free again.
    w.env.advance_ms(idem::TTL_MS + 1);
    let later = w.send(&other);
    assert_eq!(later.status, 201);
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        2
    );

    // A first request still being recorded: 409 for the same key.
    let mut pending = w.req(
        "POST",
        "/images",
        Some(json!({"streamName": "p", "osType": "WINDOWS"})),
    );
    pending
        .headers
        .push(("idempotency-key".into(), "k-2".into()));
    let claim = idem::start(&w.st(), &w.settings, "o1", "k-2", &pending).unwrap();
    assert!(matches!(claim, idem::Begin::Proceed(_)));
    assert_eq!(
        problem(&w.send(&pending)),
        (409, "IDEMPOTENCY_KEY_IN_FLIGHT".into())
    );

    let mut long = req.clone();
    long.headers = vec![
        ("authorization".into(), format!("Bearer {}", w.token)),
        ("idempotency-key".into(), "k".repeat(256)),
    ];
    assert_eq!(error_fields(&w.send(&long)), vec!["Idempotency-Key"]);
}

// ------------------------------------------------------------------ robustness

#[test]
fn transient_store_errors_are_503_with_retry_after() {
    let w = World::new();
    w.kv.fail_next(100);
    let r = w.call("GET", "/images", None);
    assert_eq!(problem(&r), (503, "STORE_BUSY".into()));
    assert_eq!(r.get_header("retry-after"), Some("1"));
    // The kind of failure, not the backend's words (those go to the component's log).
    let b = r.json_body();
    assert_eq!(b["detail"], crate::api::STORE_BUSY_MESSAGE);
    assert!(!b.to_string().contains("database is locked"), "{b}");
}

#[test]
fn an_unreadable_record_is_a_500_that_names_no_key() {
    use crate::store::KeyValue;
    let w = World::new();
    let img = w.sig_image("win");
    let id = img["id"].as_str().unwrap();
    w.kv.set(&keys::image("o1", id), b"not json").unwrap();
    let r = w.call("GET", &format!("/images/{id}"), None);
    assert_eq!(problem(&r), (500, "STORE_UNAVAILABLE".into()));
    let b = r.json_body();
    assert_eq!(b["detail"], crate::api::STORE_RECORD_UNREADABLE_MESSAGE);
    assert!(!b.to_string().contains("org/"), "{b}");
}

#[test]
fn unknown_paths_and_methods_and_odd_inputs_never_panic() {
    let w = World::new();
    assert_eq!(w.call("GET", "/nope", None).status, 404);
    let r = w.call("PUT", "/images", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.get_header("allow"), Some("GET, HEAD, POST"));
    let mut r = w.req("GET", "/images", None);
    r.path = "/other/v1/images".into();
    assert_eq!(w.send(&r).status, 404);
    assert_eq!(w.call("GET", "/images/%2F..%2F", None).status, 404);
    let (img, v1) = first_version(&w.sig_image("win"));
    assert_eq!(
        error_fields(&w.call(
            "POST",
            &format!("/images/{img}/versions/{v1}"),
            Some(json!({}))
        )),
        vec!["action"]
    );
    let bodies: [&[u8]; 6] = [
        b"null",
        b"[]",
        b"\"s\"",
        b"\xff\xfe",
        b"{\"a\":\"\\ud800\"}",
        b"1e999",
    ];
    for target in [
        "/images".to_owned(),
        format!("/images/{img}"),
        format!("/images/{img}/versions"),
        format!("/images/{img}/versions/{v1}?action=publish"),
        format!("/images/{img}/versions/{v1}/clone?action=clone-image"),
        format!("/images/{img}/versions/{v1}/republish"),
    ] {
        for b in bodies {
            for m in ["POST", "PATCH"] {
                let mut r = w.req(m, &target, None);
                r.body = b.to_vec();
                let resp = w.send(&r);
                assert!(resp.status < 500, "{m} {target}: {}", resp.status);
                assert_eq!(
                    resp.get_header("content-length"),
                    Some(resp.body.len().to_string().as_str())
                );
            }
        }
    }
}

#[test]
fn a_version_read_with_its_image_answers_as_two_reads_would() {
    let w = World::new();
    let (image, v1) = first_version(&w.sig_image("one"));
    let (other, v2) = first_version(&w.sig_image("two"));
    let get = |i: &str, v: &str| w.call("GET", &format!("/images/{i}/versions/{v}"), None);
    assert_eq!(get(&image, &v1).json_body()["id"], v1.as_str());
    // The image decides first, then the version, which must be the image's own.
    assert_eq!(
        problem(&get("img-nope", &v1)),
        (404, "IMAGE_NOT_FOUND".into())
    );
    assert_eq!(
        problem(&get(&image, "ver-nope")),
        (404, "VERSION_NOT_FOUND".into())
    );
    assert_eq!(
        problem(&get(&image, &v2)),
        (404, "VERSION_NOT_FOUND".into())
    );
    assert_eq!(get(&other, &v2).status, 200);
    // A version record that does not decode is that version's failure, as its own read.
    w.st()
        .kv()
        .set(&keys::version("o1", &v1), b"{not json")
        .unwrap();
    let r = get(&image, &v1);
    assert_eq!(r.status, 500, "{:?}", r.json_body());
    assert_eq!(w.call("GET", &format!("/images/{image}"), None).status, 200);
}
