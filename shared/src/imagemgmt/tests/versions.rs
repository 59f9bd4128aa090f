//! Versions: Add Version (numbering, rules, refusals), listing versions and copies,
//! markers, deletion.

use super::*;

#[test]
fn numbering_major_and_minor_with_history() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let r = w.add_version(&img, sig_version("MAJOR"));
    assert_eq!(r.status, 201, "{}", r.json_body());
    let b = r.json_body();
    assert_eq!(b["versionName"], "2.0.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0"]));
    assert_eq!(b["versionStatus"], "PENDING");
    assert_eq!(b["imageId"], img.as_str());
    assert!(r.get_header("operation-location").is_some());
    let v2 = b["versionId"].as_str().unwrap().to_owned();

    let mut minor = sig_version("MINOR");
    minor["sourceVersionId"] = json!(v1);
    let b = w.add_version(&img, minor.clone()).json_body();
    assert_eq!(b["versionName"], "1.1.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0"]));
    let v11 = b["versionId"].as_str().unwrap().to_owned();
    assert_eq!(
        w.add_version(&img, minor).json_body()["versionName"],
        "1.2.0"
    );
    let mut from_11 = sig_version("MINOR");
    from_11["sourceVersionId"] = json!(v11);
    let b = w.add_version(&img, from_11).json_body();
    assert_eq!(b["versionName"], "1.3.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0", "1.1.0"]));
    let mut from_2 = sig_version("MINOR");
    from_2["sourceVersionId"] = json!(v2);
    assert_eq!(
        w.add_version(&img, from_2).json_body()["versionName"],
        "2.1.0"
    );
    // MAJOR without a source takes the newest version's history.
    let b = w.add_version(&img, sig_version("MAJOR")).json_body();
    assert_eq!(b["versionName"], "3.0.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0", "2.0.0", "2.1.0"]));
    assert_eq!(w.stored_image(&img).version_count, 7);
}

#[test]
fn add_version_rules_are_400_with_the_failing_field() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    let mut b = sig_version("PATCH");
    assert_eq!(
        error_fields(&w.add_version(&img, b.clone())),
        vec!["versionType"]
    );
    b = sig_version("MINOR");
    assert_eq!(
        error_fields(&w.add_version(&img, b)),
        vec!["sourceVersionId"]
    );
    b = sig_version("MAJOR");
    b["sourceType"] = json!("AZURE_MARKET_PLACE");
    assert!(error_fields(&w.add_version(&img, b)).contains(&"sourceType".to_owned()));
    b = sig_version("MAJOR");
    b["osType"] = json!("LINUX");
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["osType"]);
    b = sig_version("MAJOR");
    b["gpuType"] = json!("NVIDIA");
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["gpuType"]);
    b = sig_version("MAJOR");
    b["gpuType"] = json!(true);
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["gpuType"]);
    b = sig_version("MAJOR");
    b["assetDetails"]["data"] = json!({});
    let f = error_fields(&w.add_version(&img, b));
    assert!(f.contains(&"assetDetails.data.sourceImageVersionId".to_owned()));
    assert!(f.contains(&"assetDetails.data.isClientAccessLicenseApplicable".to_owned()));
    assert!(f.contains(&"assetDetails.data.multiSession".to_owned()));
    b = json!({"sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1"});
    assert_eq!(
        error_fields(&w.add_version(&img, b)),
        vec!["assetDetails.data.vmId"]
    );
    // Rule 1: a marketplace image takes no versions.
    let mp = w
        .call(
            "POST",
            "/images",
            Some(json!({"streamName": "mp", "osType": "WINDOWS"})),
        )
        .json_body();
    let r = w.add_version(mp["id"].as_str().unwrap(), sig_version("MAJOR"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json_body()["errors"][0]["code"],
        "UNSUPPORTED_IMAGE_SOURCE_TYPE"
    );
    assert_eq!(error_fields(&r), vec!["sourceType"]);
    // Nothing was numbered by refused requests.
    assert_eq!(w.stored_image(&img).version_count, 1);
}

#[test]
fn add_version_404_and_409() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    assert_eq!(
        problem(&w.add_version("img-nope", sig_version("MAJOR"))),
        (404, "IMAGE_NOT_FOUND".into())
    );
    let mut b = sig_version("MINOR");
    b["sourceVersionId"] = json!("ver-nope");
    assert_eq!(
        problem(&w.add_version(&img, b)),
        (404, "SOURCE_VERSION_NOT_FOUND".into())
    );
    let mut b = sig_version("MAJOR");
    b["markers"] = json!(["HRPro"]);
    let r = w.add_version(&img, b.clone());
    assert_eq!(r.status, 201);
    assert_eq!(r.json_body()["markers"][0]["name"], "HRPro");
    assert_eq!(
        problem(&w.add_version(&img, b)),
        (409, "MARKER_NAME_IN_USE".into())
    );
    for status in [
        crate::vocab::ImageStatus::Deleting,
        crate::vocab::ImageStatus::Disabled,
    ] {
        w.edit_image(&img, |i| i.status = status);
        assert_eq!(
            problem(&w.add_version(&img, sig_version("MAJOR"))),
            (409, "IMAGE_NOT_WRITABLE".into())
        );
    }
}

#[test]
fn versions_and_copies_are_listed_paged() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    for _ in 0..3 {
        w.add_version(&img, sig_version("MAJOR"));
    }
    let p = w
        .call(
            "GET",
            &format!("/images/{img}/versions?sort=name,desc&size=2"),
            None,
        )
        .json_body();
    assert_eq!(p["totalElements"], 4);
    assert_eq!(p["content"][0]["name"], "4.0.0");
    let p = w
        .call(
            "GET",
            &format!("/images/{img}/versions?search=name%20$eq%202.0.0"),
            None,
        )
        .json_body();
    assert_eq!(p["totalElements"], 1);
    let c = w
        .call("GET", &format!("/images/{img}/versions/{v1}/copies"), None)
        .json_body();
    assert_eq!(c["totalElements"], 1);
    assert_eq!(c["content"][0]["providerInstanceId"], "pi-1");
    assert_eq!(c["content"][0]["status"], "COPYING_IMAGE");
    assert_eq!(
        w.call(
            "GET",
            &format!("/images/{img}/versions/ver-nope/copies"),
            None
        )
        .status,
        404
    );
}

#[test]
fn markers_are_placed_moved_and_refused_on_disabled_versions() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let v2 = w.major_version(&img);
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": ["HRLite"]})),
    );
    assert_eq!(r.status, 202);
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["markers"][0]["name"], "HRLite");
    // Moving it: it leaves v1, lands on v2; still one marker of that name.
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v2}"),
        Some(json!({"markers": [{"name": "HRLite"}]})),
    );
    assert_eq!(r.json_body()["markers"][0]["name"], "HRLite");
    let v1_now = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .json_body();
    assert_eq!(v1_now["markers"], json!([]));
    assert_eq!(w.stored_image(&img).markers.len(), 1);
    w.edit_version(&v1, |v| v.status = crate::vocab::VersionStatus::Disabled);
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": ["HRPro"]})),
    );
    assert_eq!(problem(&r), (409, "MARKER_ON_UNUSABLE_VERSION".into()));
}

// ------------------------------------------------------------------ delete

#[test]
fn delete_version_refusals_and_force() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let v2 = w.major_version(&img);
    // PENDING: the status forbids deleting it…
    let r = w.call("DELETE", &format!("/images/{img}/versions/{v2}"), None);
    assert_eq!(problem(&r), (422, "VERSION_STATUS_FORBIDS".into()));
    assert_eq!(
        error_fields(&w.call(
            "DELETE",
            &format!("/images/{img}/versions/{v2}?force=maybe"),
            None
        )),
        vec!["force"]
    );
    // …a marker bound to pools forbids it even with force.
    w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v2}"),
        Some(json!({"markers": ["HRPro"]})),
    );
    w.edit_image(&img, |i| i.markers[0].template_count = 2);
    let r = w.call(
        "DELETE",
        &format!("/images/{img}/versions/{v2}?force=true"),
        None,
    );
    assert_eq!(problem(&r), (409, "MARKER_IN_USE".into()));
    w.edit_image(&img, |i| i.markers[0].template_count = 0);
    let r = w.call(
        "DELETE",
        &format!("/images/{img}/versions/{v2}?force=true"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["status"], "DELETING");
    assert!(w.stored_image(&img).markers.is_empty());
    assert_eq!(
        problem(&w.call(
            "DELETE",
            &format!("/images/{img}/versions/{v2}?force=true"),
            None
        )),
        (422, "VERSION_STATUS_FORBIDS".into())
    );
    // The delete runs in the background: the version disappears.
    assert!(w.gone(20, &format!("/images/{img}/versions/{v2}")));
    assert_eq!(w.call("GET", &format!("/images/{img}"), None).status, 200);
    let _ = v1;
}

#[test]
fn deleting_the_last_version_takes_the_image() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    assert!(w.reaches(30, &format!("/images/{img}/versions/{v1}"), "AVAILABLE"));
    let r = w.call("DELETE", &format!("/images/{img}/versions/{v1}"), None);
    assert_eq!(r.status, 202);
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "DELETING"
    );
    assert!(w.gone(20, &format!("/images/{img}")));
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        0
    );
}
