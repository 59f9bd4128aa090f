//! Images: creation, listing, `ETag`/`If-Match` on PATCH, deletion.

use super::*;

#[test]
fn each_create_action_makes_an_image_with_version_1_0_0_and_an_operation() {
    let w = World::new();
    let sig = w.sig_image("sig");
    let vm = w.vm_image("vm");
    let r = w.call(
        "POST",
        "/images",
        Some(json!({"streamName": "mp", "osType": "WINDOWS", "multiSession": true})),
    );
    assert_eq!(r.status, 201);
    let mp = r.json_body();
    for (img, src) in [
        (&sig, "AZURE_SIG"),
        (&vm, "AZURE_CUSTOM_VM"),
        (&mp, "AZURE_MARKET_PLACE"),
    ] {
        assert_eq!(img["sourceType"], src);
        assert_eq!(img["versions"][0]["name"], "1.0.0");
        assert_eq!(img["versions"][0]["status"], "PENDING");
        assert_eq!(img["versionCount"], 1);
        assert!(img.get("versionIds").is_none());
    }
    let loc = r.get_header("operation-location").unwrap().to_owned();
    assert!(loc.starts_with("/imagemgmt/v1/operations/tid-"));
    let op = w.call("GET", loc.strip_prefix(BASE).unwrap(), None);
    assert_eq!(op.status, 200);
    assert_eq!(op.json_body()["kind"], "import-vm");
    assert_eq!(w.call("GET", "/operations/tid-nope", None).status, 404);
}

#[test]
fn create_image_validation_names_fields() {
    let w = World::new();
    let r = w.call(
        "POST",
        "/images?action=import-custom-vm",
        Some(
            json!({"streamName": "bad name!", "osType": "DOS", "sourceStreamType": "AZURE_SIG",
                    "streamDescription": "d".repeat(1025)}),
        ),
    );
    assert_eq!(r.status, 400);
    let f = error_fields(&r);
    for want in [
        "streamName",
        "osType",
        "sourceStreamType",
        "streamDescription",
        "providerInstanceId",
    ] {
        assert!(f.contains(&want.to_owned()), "{want} in {f:?}");
    }
    assert_eq!(
        w.call("POST", "/images?action=steal", Some(json!({})))
            .status,
        400
    );
    assert!(w.kv.keys().iter().all(|k| !k.contains("/image/")));
}

// ------------------------------------------------------------------ listing

#[test]
fn image_listing_pages_sorts_and_searches() {
    let w = World::new();
    for i in 0..25 {
        w.env.advance_ms(1);
        let os = if i % 5 == 0 { "LINUX" } else { "WINDOWS" };
        let r = w.call(
            "POST",
            "/images",
            Some(json!({"streamName": format!("img-{i:02}"), "osType": os})),
        );
        assert_eq!(r.status, 201);
    }
    let p = w.call("GET", "/images?page=1&size=10", None).json_body();
    assert_eq!(p["numberOfElements"], 10);
    assert_eq!(p["totalElements"], 25);
    assert_eq!(p["totalPages"], 3);
    assert_eq!(
        (p["first"].clone(), p["last"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(p["content"][0]["name"], "img-10");
    let p = w.call("GET", "/images?page=2&size=10", None).json_body();
    assert_eq!(
        (p["numberOfElements"].clone(), p["last"].clone()),
        (json!(5), json!(true))
    );
    let p = w
        .call("GET", "/images?sort=name,desc&size=3", None)
        .json_body();
    let names: Vec<_> = p["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("img-24"), json!("img-23"), json!("img-22")]
    );
    let p = w
        .call("GET", "/images?search=osType%20%24eq%20LINUX", None)
        .json_body();
    assert_eq!(p["totalElements"], 5);
    let p = w
        .call("GET", "/images?search=name+$eq+img-07", None)
        .json_body();
    assert_eq!(p["totalElements"], 1);
    assert_eq!(
        w.call("GET", "/images?os_type=LINUX", None).json_body()["totalElements"],
        5
    );
    assert_eq!(w.call("GET", "/images", None).json_body()["size"], 20);
    assert_eq!(
        error_fields(&w.call("GET", "/images?size=101", None)),
        vec!["size"]
    );
    assert_eq!(
        error_fields(&w.call("GET", "/images?sort=secret,asc", None)),
        vec!["sort"]
    );
    assert_eq!(
        error_fields(&w.call("GET", "/images?os_type=DOS", None)),
        vec!["os_type"]
    );
}

#[test]
fn listing_reads_the_org_index_not_the_store() {
    let w = World::new();
    for i in 0..3 {
        w.call(
            "POST",
            "/images",
            Some(json!({"streamName": format!("a{i}"), "osType": "WINDOWS"})),
        );
    }
    // Noise in another org must not cost this org's listing anything.
    let noise_token = auth::mint_token(&w.st(), "o2").unwrap();
    for i in 0..30 {
        let mut r = w.req(
            "POST",
            "/images",
            Some(json!({"streamName": format!("n{i}"), "osType": "WINDOWS"})),
        );
        r.headers = vec![("authorization".into(), format!("Bearer {noise_token}"))];
        assert_eq!(w.send(&r).status, 201);
    }
    // The limiter apart (its sampled count is `ratelimit`'s to hold).
    let mut w = w;
    w.settings.rest_rate_limit = 0;
    let before = w.kv.ops();
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        3
    );
    // Token, the platform's counter (its shared images: none here), the org's counter and
    // index directory, then one read per own slot and image (MemoryKv counts batch keys
    // singly): the 30 images of the other org cost nothing.
    assert_eq!(w.kv.ops() - before, 4 + 2 * 3);
}

// ------------------------------------------------------------------ ETag, PATCH

#[test]
fn etag_and_if_match_guard_patches() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let r = w.call("GET", &format!("/images/{img}"), None);
    let etag = r.get_header("etag").unwrap().to_owned();
    let mut p = w.req(
        "PATCH",
        &format!("/images/{img}"),
        Some(json!({"name": "renamed"})),
    );
    p.headers.push(("if-match".into(), "\"stale\"".into()));
    assert_eq!(problem(&w.send(&p)), (412, "PRECONDITION_FAILED".into()));
    p.headers.pop();
    p.headers.push(("if-match".into(), etag.clone()));
    let ok = w.send(&p);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json_body()["name"], "renamed");
    assert_ne!(ok.get_header("etag").unwrap(), etag);
    // The old tag no longer matches.
    assert_eq!(w.send(&p).status, 412);
    assert_eq!(
        error_fields(&w.call(
            "PATCH",
            &format!("/images/{img}"),
            Some(json!({"name": ""}))
        )),
        vec!["name"]
    );
    // Versions too.
    let vt = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .get_header("etag")
        .unwrap()
        .to_owned();
    let mut d = w.req("DELETE", &format!("/images/{img}/versions/{v1}"), None);
    d.headers.push(("if-match".into(), "\"nope\"".into()));
    assert_eq!(w.send(&d).status, 412);
    let mut pv = w.req(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"description": "new"})),
    );
    pv.headers.push(("if-match".into(), vt));
    let r = w.send(&pv);
    assert_eq!(r.status, 202);
    assert_eq!(r.json_body()["description"], "new");
}

#[test]
fn conditional_requests_follow_rfc_9110() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    for path in [
        format!("/images/{img}"),
        format!("/images/{img}/versions/{v1}"),
    ] {
        let got = w.call("GET", &path, None);
        let etag = got.get_header("etag").unwrap().to_owned();
        let weak = format!("W/{etag}");
        // If-None-Match on GET and HEAD: 304 with the tag and no body (weak comparison).
        for (method, header) in [
            ("GET", etag.as_str()),
            ("GET", weak.as_str()),
            ("GET", "*"),
            ("HEAD", etag.as_str()),
        ] {
            let mut r = w.req(method, &path, None);
            r.headers.push(("if-none-match".into(), header.into()));
            let a = w.send(&r);
            assert_eq!(a.status, 304, "{method} {path} {header}");
            assert!(a.body.is_empty());
            assert_eq!(a.get_header("etag"), Some(etag.as_str()));
        }
        let mut r = w.req("GET", &path, None);
        r.headers.push(("if-none-match".into(), "\"other\"".into()));
        assert_eq!(w.send(&r).status, 200);
        // HEAD is GET's answer (the edge drops the body).
        let head = w.call("HEAD", &path, None);
        assert_eq!(
            (head.status, head.get_header("etag")),
            (200, Some(etag.as_str()))
        );
        // If-Match compares strongly: a weak tag never matches, so nothing is written.
        let mut p = w.req("PATCH", &path, Some(json!({"description": "x"})));
        p.headers.push(("if-match".into(), weak.clone()));
        assert_eq!(problem(&w.send(&p)), (412, "PRECONDITION_FAILED".into()));
        // If-None-Match on a write: `*` (the record exists) or its own tag is a 412.
        for header in ["*", etag.as_str()] {
            let mut p = w.req("PATCH", &path, Some(json!({"description": "x"})));
            p.headers.push(("if-none-match".into(), header.into()));
            assert_eq!(w.send(&p).status, 412, "{path} {header}");
        }
        let unchanged = w.call("GET", &path, None);
        assert_eq!(unchanged.get_header("etag"), Some(etag.as_str()));
        assert!(unchanged.json_body()["description"].is_null());
    }
}

#[test]
fn delete_image_runs_in_the_background() {
    let w = World::new();
    let (img, _) = first_version(&w.vm_image("vm"));
    let r = w.call("DELETE", &format!("/images/{img}"), None);
    assert_eq!(r.status, 202);
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(
        problem(&w.call("DELETE", &format!("/images/{img}"), None)),
        (409, "IMAGE_DELETING".into())
    );
    assert!(w.gone(20, &format!("/images/{img}")));
}

#[test]
fn the_image_quota_refuses_one_more_image_and_records_nothing() {
    let mut w = World::new();
    w.settings.quotas.images = 2;
    w.sig_image("one");
    let (second, _) = first_version(&w.sig_image("two"));
    let before = w.kv.keys();
    let r = w.call(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_image_body("three")),
    );
    assert_eq!(problem(&r), (409, "IMAGE_QUOTA_EXCEEDED".into()));
    assert_eq!(w.kv.keys(), before, "a refused create records nothing");
    // Deleting one makes room again, once its deletion has ended.
    assert_eq!(
        w.call("DELETE", &format!("/images/{second}"), None).status,
        202
    );
    assert!(w.gone(60, &format!("/images/{second}")));
    let r = w.call(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_image_body("three")),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
}

#[test]
fn deleting_an_org_revokes_its_credentials_at_once_and_its_images_through_the_engine() {
    let w = World::new();
    let (first, _) = first_version(&w.sig_image("one"));
    let (second, _) = first_version(&w.sig_image("two"));
    let secrets = crate::secrets::Secrets::for_tests();
    let admin = |method: &str, path: &str| {
        let config = crate::admin::Config {
            admin_token: Some("adm"),
            tick_token: None,
            settings: &w.settings,
            query: "",
            secrets: &secrets,
        };
        let headers = vec![("authorization".to_owned(), "Bearer adm".to_owned())];
        let r = crate::admin::handle(&w.st(), &config, method, path, &headers, b"");
        let body = serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);
        (r.status, body)
    };
    let (_, minted) = admin("POST", "/admin/v1/orgs/o1/tokens");
    let token = minted["token"].as_str().unwrap().to_owned();
    let as_minted = |path: &str| {
        let mut r = w.req("GET", path, None);
        r.headers = vec![("authorization".into(), format!("Bearer {token}"))];
        w.send(&r).status
    };
    assert_eq!(as_minted("/images"), 200);

    let (status, body) = admin("DELETE", "/admin/v1/orgs/o1");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["imagesDeleting"], 2);
    // Refused at once, and no credential is minted for it any more.
    assert_eq!(as_minted("/images"), 401);
    let (status, body) = admin("POST", "/admin/v1/orgs/o1/tokens");
    assert_eq!((status, body["code"].clone()), (409, json!("ORG_DELETING")));
    // The engine removes the images (read here with a token no org lists: a test's own).
    for image in [&first, &second] {
        assert!(w.gone(80, &format!("/images/{image}")), "{image}");
    }
    let (status, _) = admin("DELETE", "/admin/v1/orgs/o1");
    assert_eq!(status, 204);
    assert_eq!(admin("GET", "/admin/v1/orgs/o1").0, 404);
    assert_eq!(admin("DELETE", "/admin/v1/orgs/o1").0, 404);
}

/// Issue 24, item 5: a search reads the whole org, so it spends the org's scan budget (in
/// image records, `ratelimit`, "Scans"); once spent, searches and sorts are refused with
/// 429 `SCAN_LIMIT_REACHED` until the window ends, while pages in the default order, and
/// another org's searches, are served.
#[test]
fn searches_spend_the_orgs_scan_budget_and_pages_do_not() {
    let mut w = World::new();
    w.settings.scan_rate_limit = 7;
    let ids: Vec<String> = (0..3)
        .map(|i| {
            w.sig_image(&format!("scan-{i}"))["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    // The window starts with these requests (the clock moved while the images were made).
    let start = w.env.now_ms();
    w.env.advance_ms(10_000 - start.rem_euclid(10_000));
    let search = "/images?search=name%20%24eq%20scan-1";
    // 3 records each: spent 0, 3, 6 before them, all under 7.
    for _ in 0..3 {
        let r = w.call("GET", search, None);
        assert_eq!(r.status, 200, "{:?}", r.json_body());
        assert_eq!(r.json_body()["totalElements"], 1);
    }
    let versions = format!("/images/{}/versions?sort=name,asc", ids[0]);
    for target in [search, "/images?sort=name,asc", versions.as_str()] {
        let r = w.call("GET", target, None);
        assert_eq!(r.status, 429, "{target}");
        let body = r.json_body();
        assert_eq!(body["code"], "SCAN_LIMIT_REACHED");
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("scan_rate_limit")),
            "{body}"
        );
        assert_eq!(r.get_header("retry-after"), Some("10"));
    }
    // The default order reads only its page: not limited by the scan budget.
    assert_eq!(w.call("GET", "/images?size=2", None).status, 200);
    // Another org has a budget of its own.
    let other = auth::mint_token(&w.st(), "o2").unwrap();
    let mut req = w.req("GET", search, None);
    req.headers = vec![("authorization".into(), format!("Bearer {other}"))];
    assert_eq!(w.send(&req).status, 200);
    // The next window starts afresh.
    w.env.advance_ms(10_000);
    assert_eq!(w.call("GET", search, None).status, 200);
}
