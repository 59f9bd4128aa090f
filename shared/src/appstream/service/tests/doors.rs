//! Across the doors: a capture is an image of the REST door, a REST image is listed and
//! distributed by this one.

use super::*;

#[test]
fn a_capture_is_an_imported_vms_image_of_the_same_org_in_the_rest_door() {
    let w = World::new();
    let d = w.capture("ecd-1", "cross");
    let id = d["ImageId"].as_str().unwrap();
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}"), None);
    assert_eq!(r.status, 200);
    let b = r.json_body();
    assert_eq!(
        (b["sourceType"].clone(), b["name"].clone()),
        (json!("IMPORTED_VMS"), json!("cross"))
    );
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}/versions"), None);
    assert_eq!(r.status, 200);
    assert!(r.body_contains(d["VersionId"].as_str().unwrap()));
    assert_eq!(
        rest_as(&w, "o2", "GET", &format!("/images/{id}"), None).status,
        404
    );
    // And the REST list has it.
    assert!(rest_as(&w, "o1", "GET", "/images", None).body_contains(id));
}

#[test]
fn a_rest_image_is_listed_and_distributable_here() {
    let w = World::new();
    let st = w.st();
    st.put_new(
        &keys::provider_instance("o1", "pi-1"),
        &sim::ProviderInstance {
            id: "pi-1".into(),
            provider_label: ProviderLabel::Azure,
            region: None,
        },
    )
    .unwrap();
    st.put_new(
        &keys::gallery_image("o1", "g-1"),
        &sim::GalleryImage {
            os_type: OsType::Linux,
            ..sim::GalleryImage::granted("g-1", &["pi-1"])
        },
    )
    .unwrap();
    let r = rest_as(
        &w,
        "o1",
        "POST",
        "/images?action=copy-existing-image",
        Some(json!({
            "streamName": "rest-img", "osType": "LINUX", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1",
            "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": false}}
        })),
    );
    assert_eq!(r.status, 201, "{:?}", r.json_body());
    let id = r.json_body()["id"].as_str().unwrap().to_owned();
    let img = w.listed(&id).unwrap();
    assert_eq!(
        (
            img["ImageName"].clone(),
            img["OsType"].clone(),
            img["ImageCreateMode"].clone()
        ),
        (json!("rest-img"), json!("Linux"), json!("BY_IMPORT"))
    );
    assert_eq!(img["VersionName"], json!("v1.0.0"));
    w.settle_available(&id);
    let (s, b) = w.call(
        "StartTaskForDistributeImage",
        &[("ImageId", &id), ("DestinationRegionList.1", "cn-shanghai")],
    );
    assert_eq!(s, 200, "{b}");
}
