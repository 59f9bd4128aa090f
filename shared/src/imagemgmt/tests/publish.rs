//! Background work: copies and imports advancing, publish and republish, clones.

use super::*;

#[test]
fn a_sig_copy_reaches_available() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let mut seen = Vec::new();
    let reached = w.run_until(40, |w| {
        let v = w
            .call("GET", &format!("/images/{img}/versions/{v1}"), None)
            .json_body();
        seen.push(v["status"].as_str().unwrap_or("").to_owned());
        v["status"] == "AVAILABLE"
    });
    assert!(reached, "{seen:?}");
    assert!(seen.contains(&"REPLICATION_IN_PROGRESS".to_owned()));
    let v = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .json_body();
    assert_eq!(v["state"], "PUBLISHED");
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "AVAILABLE"
    );
    let c = w
        .call("GET", &format!("/images/{img}/versions/{v1}/copies"), None)
        .json_body();
    assert_eq!(c["content"][0]["status"], "AVAILABLE");
    let op = w.call(
        "GET",
        &format!("/operations/{}", v["operationId"].as_str().unwrap()),
        None,
    );
    assert_eq!(op.json_body()["status"], "SUCCEEDED");
}

#[test]
fn a_sig_copy_without_access_fails_with_an_error_code_on_the_asset() {
    let w = World::new();
    let img = w.sig_image("win");
    let (img, _) = first_version(&img);
    let mut b = sig_version("MAJOR");
    b["providerInstanceId"] = json!("pi-2");
    let v = w.add_version(&img, b).json_body();
    let vid = v["versionId"].as_str().unwrap().to_owned();
    assert!(w.reaches(60, &format!("/images/{img}/versions/{vid}"), "FAILED"));
    let c = w
        .call("GET", &format!("/images/{img}/versions/{vid}/copies"), None)
        .json_body();
    assert_eq!(c["content"][0]["errorCode"], "SOURCE_IMAGE_ACCESS_DENIED");
}

#[test]
fn a_custom_vm_import_reaches_import_complete_then_publishes_to_available() {
    let w = World::new();
    let (img, v1) = first_version(&w.vm_image("vm"));
    let vpath = format!("/images/{img}/versions/{v1}");
    // Publishing before the import completed: 412.
    let r = w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})));
    assert_eq!(problem(&r), (412, "VERSION_STATUS_PRECONDITION".into()));
    assert!(w.reaches(40, &vpath, "IMPORT_COMPLETE"));
    assert_eq!(
        w.call("GET", &vpath, None).json_body()["state"],
        "NOT_READY"
    );
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "IMPORT_COMPLETE"
    );
    let r = w.call(
        "POST",
        &format!("{vpath}?action=publish"),
        Some(
            json!({"replicas": [{"providerInstanceId": "pi-1"}, {"providerInstanceId": "pi-2"}],
                    "timeZone": "UTC", "orgId": "o1"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["status"], "PUBLISH_IN_PROGRESS");
    assert_eq!(
        w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})))
            .status,
        412
    );
    assert!(w.reaches(60, &vpath, "AVAILABLE"));
    let v = w.call("GET", &vpath, None).json_body();
    assert_eq!(v["state"], "PUBLISHED");
    let copies = w.call("GET", &format!("{vpath}/copies"), None).json_body();
    assert_eq!(copies["totalElements"], 3);
    // Republish to one more replica.
    let r = w.call(
        "POST",
        &format!("{vpath}/republish"),
        Some(json!({"additionalReplicas": [{"providerInstanceId": "pi-3"}]})),
    );
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert_eq!(
        w.call("GET", &format!("{vpath}/copies"), None).json_body()["totalElements"],
        4
    );
    assert_eq!(
        w.call("POST", &format!("{vpath}/republish"), Some(json!({})))
            .status,
        412
    );
}

#[test]
fn clone_version_and_clone_image() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let vpath = format!("/images/{img}/versions/{v1}");
    // A PENDING version cannot be cloned.
    let r = w.call("POST", &format!("{vpath}/clone"), Some(json!({})));
    assert_eq!(problem(&r), (422, "VERSION_STATUS_FORBIDS".into()));
    assert!(w.reaches(30, &vpath, "AVAILABLE"));
    let r = w.call(
        "POST",
        &format!("{vpath}/clone?action=clone-version"),
        Some(json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
    let c = r.json_body();
    assert_eq!(c["name"], "2.0.0");
    assert_eq!(c["sourceType"], "COPIED_FROM_VERSION");
    assert_eq!(c["sourceVersionId"], v1.as_str());
    assert_eq!(c["versionHistory"], json!(["1.0.0"]));
    assert_eq!(
        error_fields(&w.call(
            "POST",
            &format!("{vpath}/clone?action=clone-image"),
            Some(json!({}))
        )),
        vec!["imageName"]
    );
    let r = w.call(
        "POST",
        &format!("{vpath}/clone?action=clone-image"),
        Some(json!({"imageName": "copy"})),
    );
    assert_eq!(r.status, 201);
    let ni = r.json_body();
    assert_eq!(ni["name"], "copy");
    assert_eq!(ni["sourceStreamId"], img.as_str());
    assert_eq!(ni["versions"][0]["name"], "1.0.0");
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        2
    );
}

#[test]
fn replicas_are_bounded_and_must_be_in_the_orgs_inventory() {
    let w = World::new();
    w.provider_instances("o1", 4..=20);
    let (img, v1) = first_version(&w.vm_image("vm"));
    let vpath = format!("/images/{img}/versions/{v1}");
    assert!(w.reaches(40, &vpath, "IMPORT_COMPLETE"));
    let named = |ids: std::ops::RangeInclusive<usize>| {
        ids.map(|i| json!({"providerInstanceId": format!("pi-{i}")}))
            .collect::<Vec<_>>()
    };
    let copies =
        || w.call("GET", &format!("{vpath}/copies"), None).json_body()["totalElements"].clone();
    let keys_before = w.kv.keys().len();
    // Over the cap in one request: 400 before anything is read.
    let r = w.call(
        "POST",
        &format!("{vpath}?action=publish"),
        Some(json!({"replicas": named(1..=17)})),
    );
    assert_eq!(error_fields(&r), vec!["replicas"], "{}", r.json_body());
    // An id the org's inventory lacks (made up, or another org's): 422 naming it.
    let r = w.call(
        "POST",
        &format!("{vpath}?action=publish"),
        Some(json!({"replicas": [{"providerInstanceId": "pi-1"}, {"providerInstanceId": "made-up"}]})),
    );
    assert_eq!(r.status, 422, "{}", r.json_body());
    assert_eq!(r.json_body()["code"], "PROVIDER_INSTANCE_NOT_FOUND");
    assert_eq!(
        r.json_body()["errors"][0]["field"],
        "replicas[1].providerInstanceId"
    );
    // Nothing was recorded by either refusal.
    assert_eq!(w.kv.keys().len(), keys_before);
    assert_eq!(copies(), 1);
    assert_eq!(
        w.call("GET", &vpath, None).json_body()["status"],
        "IMPORT_COMPLETE"
    );
    // Up to the cap is fine; a republish past it is a 422 naming its field.
    let r = w.call(
        "POST",
        &format!("{vpath}?action=publish"),
        Some(json!({"replicas": named(1..=10)})),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
    assert!(w.reaches(80, &vpath, "AVAILABLE"));
    let r = w.call(
        "POST",
        &format!("{vpath}/republish"),
        Some(json!({"additionalReplicas": named(9..=17)})),
    );
    assert_eq!(r.status, 422, "{}", r.json_body());
    assert_eq!(r.json_body()["code"], "REPLICA_LIMIT_REACHED");
    assert_eq!(r.json_body()["errors"][0]["field"], "additionalReplicas");
    assert_eq!(copies(), 11);
    let r = w.call(
        "POST",
        &format!("{vpath}/republish"),
        Some(json!({"additionalReplicas": named(10..=16)})),
    );
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert_eq!(copies(), 17);
}
