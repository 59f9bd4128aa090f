//! Issue 10, item 4: `assetDetails.data.mspOrgId` copies a partner-prepared gallery image's
//! metadata and app-scan data into the new version (Add Version and image creation); a
//! wrong or unknown partner is a 422 naming the field, and nothing is recorded.

use super::*;

fn partner_sig_image(w: &World, name: &str, msp: &str) -> ApiResponse {
    w.call(
        "POST",
        "/images?action=copy-existing-image",
        Some(json!({
            "streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1",
            "assetDetails": {"data": {"sourceImageVersionId": "g-1", "mspOrgId": msp}}
        })),
    )
}

fn expected() -> Value {
    json!({
        "mspOrgId": "partner", "sourceImageVersionId": "g-1",
        "metadata": {"preparedFor": "o1"}, "appScan": {"applications": ["Office"]}
    })
}

#[test]
fn add_version_with_msp_org_id_copies_the_partner_data() {
    let w = World::new();
    let (img, first) = first_version(&w.sig_image("win"));
    let add = w.add_version(&img, sig_version("MAJOR"));
    assert_eq!(add.status, 201, "{:?}", add.json_body());
    let v = add.json_body()["versionId"].as_str().unwrap().to_owned();
    let got = w.call("GET", &format!("/images/{img}/versions/{v}"), None);
    assert_eq!(got.json_body()["partnerImage"], expected());
    // A version made without mspOrgId shows none.
    let got = w.call("GET", &format!("/images/{img}/versions/{first}"), None);
    assert!(got.json_body().get("partnerImage").is_none());
    // The data survives the copy.
    assert!(w.reaches(20, &format!("/images/{img}/versions/{v}"), "AVAILABLE"));
    let got = w.call("GET", &format!("/images/{img}/versions/{v}"), None);
    assert_eq!(got.json_body()["partnerImage"], expected());
}

#[test]
fn image_creation_with_msp_org_id_copies_the_partner_data() {
    let w = World::new();
    let r = partner_sig_image(&w, "msp-win", "partner");
    assert_eq!(r.status, 201, "{:?}", r.json_body());
    let body = r.json_body();
    assert_eq!(body["versions"][0]["partnerImage"], expected());
    let (img, v) = first_version(&body);
    let got = w.call("GET", &format!("/images/{img}/versions/{v}"), None);
    assert_eq!(got.json_body()["partnerImage"], expected());
}

#[test]
fn a_wrong_partner_is_a_422_naming_msp_org_id_and_records_nothing() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    let mut body = sig_version("MAJOR");
    body["assetDetails"]["data"]["mspOrgId"] = json!("stranger");
    let r = w.add_version(&img, body);
    assert_eq!(problem(&r), (422, "MSP_ORG_NOT_PARTNER".into()));
    assert_eq!(error_fields(&r), vec!["assetDetails.data.mspOrgId"]);
    assert!(
        r.json_body()["detail"]
            .as_str()
            .unwrap()
            .contains("stranger")
    );
    assert_eq!(w.stored_image(&img).version_count, 1);

    let r = partner_sig_image(&w, "msp-win", "stranger");
    assert_eq!(problem(&r), (422, "MSP_ORG_NOT_PARTNER".into()));
    assert_eq!(error_fields(&r), vec!["assetDetails.data.mspOrgId"]);
    let list = w.call("GET", "/images", None).json_body();
    assert_eq!(list["totalElements"], json!(1));

    // A partner of the org, but the image was not prepared by it (or does not exist).
    w.st()
        .put_new(
            &keys::gallery_image("o1", "g-own"),
            &GalleryImage::granted("g-own", &["pi-1"]),
        )
        .unwrap();
    for source in ["g-own", "g-missing"] {
        let mut body = sig_version("MAJOR");
        body["assetDetails"]["data"]["sourceImageVersionId"] = json!(source);
        let r = w.add_version(&img, body);
        assert_eq!(problem(&r), (422, "MSP_IMAGE_NOT_FOUND".into()), "{source}");
        assert_eq!(error_fields(&r), vec!["assetDetails.data.mspOrgId"]);
    }
}
