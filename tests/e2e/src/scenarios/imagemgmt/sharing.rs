//! Images shared across orgs: a partner's (an MSP's) gallery image whose data a new
//! version copies, and the images the platform shares with every org.

use super::*;

/// Issue 10, item 4: a gallery image prepared by a partner org (an MSP), seeded through the
/// admin API with the org's `partners`; image creation and Add Version with
/// `assetDetails.data.mspOrgId` copy its metadata and app-scan data into the new version
/// (`partnerImage`, shown by GET version); a wrong partner is a 422 naming the field.
pub fn msp_partner_image_data_is_copied(h: &Harness) {
    let org = h.org.clone();
    let msp = format!("msp-{org}");
    h.admin(
        "PUT",
        &format!("/admin/v1/orgs/{org}"),
        json!({"name": org, "partners": [msp]}),
    );
    h.admin(
        "PUT",
        &format!("/admin/v1/orgs/{org}/gallery-images/g-msp"),
        json!({"osType": "WINDOWS", "gpuType": "NONE", "grantedTo": ["pi-1"],
               "preparedBy": msp, "metadata": {"baseline": "cis-l1"},
               "appScan": {"applications": [{"name": "Office", "version": "16"}]}}),
    );
    let expected = json!({
        "mspOrgId": msp, "sourceImageVersionId": "g-msp",
        "metadata": {"baseline": "cis-l1"},
        "appScan": {"applications": [{"name": "Office", "version": "16"}]}
    });
    let create = |msp: &str| {
        json!({
            "streamName": "msp-win", "osType": "WINDOWS", "gpuType": "NONE",
            "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-msp", "mspOrgId": msp}}
        })
    };
    let created = h.rest(
        "POST",
        "/images?action=copy-existing-image",
        Some(create(&msp)),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["versions"][0]["partnerImage"], expected);
    let (image, first) = first_version(&created);
    let got = h.rest("GET", &format!("/images/{image}/versions/{first}"), None);
    assert_eq!(got.body["partnerImage"], expected, "{}", got.body);

    let partner_data = |msp: &str, source: &str| {
        json!({"assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
            "sourceImageVersionId": source, "mspOrgId": msp}}})
    };
    let added = h.add_sig_version(&image, partner_data(&msp, "g-msp"));
    assert_eq!(added.status, 201, "{}", added.body);
    let version = added.str("versionId");
    let path = format!("/images/{image}/versions/{version}");
    let done = h.tick_until(&path, 40, |a| status_of(a) == "AVAILABLE");
    assert_eq!(done.body["partnerImage"], expected, "{}", done.body);
    // A version made without mspOrgId carries none.
    let plain = h.add_sig_version(&image, json!({}));
    assert_eq!(plain.status, 201, "{}", plain.body);
    let got = h.rest(
        "GET",
        &format!("/images/{image}/versions/{}", plain.str("versionId")),
        None,
    );
    assert!(got.body.get("partnerImage").is_none(), "{}", got.body);

    // Wrong partners: 422 naming assetDetails.data.mspOrgId, nothing recorded.
    let refused = |a: &Answer, code: &str| {
        assert_eq!(a.status, 422, "{}", a.body);
        assert_eq!(a.str("code"), code, "{}", a.body);
        assert_eq!(
            a.body["errors"][0]["field"], "assetDetails.data.mspOrgId",
            "{}",
            a.body
        );
    };
    refused(
        &h.add_sig_version(&image, partner_data("stranger", "g-msp")),
        "MSP_ORG_NOT_PARTNER",
    );
    // The partner prepared g-msp, not g-1.
    refused(
        &h.add_sig_version(&image, partner_data(&msp, "g-1")),
        "MSP_IMAGE_NOT_FOUND",
    );
    // The other org has no partner.
    let theirs = h.send(
        "POST",
        "/imagemgmt/v1/images?action=copy-existing-image",
        Some(&h.other_token),
        &[],
        Some(create(&msp)),
    );
    refused(&theirs, "MSP_ORG_NOT_PARTNER");
    let img = h.rest("GET", &format!("/images/{image}"), None);
    assert_eq!(img.body["versionCount"], 3, "{}", img.body);
}

/// Issue 10, item 3: an image the platform shares with every org (seeded through the admin
/// API) is listed and read by every org, copied with `clone-image`, and never modified,
/// deleted or published (403 `SHARED_IMAGE_READ_ONLY`).
pub fn shared_images_are_read_only_for_every_org(h: &Harness) {
    let created = h.admin(
        "PUT",
        "/admin/v1/shared-images/sys-win11",
        json!({"name": "Windows-11-system", "osType": "WINDOWS"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let version = created.body["versionIds"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let platform = created.str("orgId");
    for token in [&h.token, &h.other_token] {
        let listed = h.send("GET", "/imagemgmt/v1/images", Some(token), &[], None);
        assert_eq!(listed.status, 200, "{}", listed.body);
        let found: Vec<&Value> = listed.body["content"]
            .as_array()
            .expect("content")
            .iter()
            .filter(|i| i["id"] == "sys-win11")
            .collect();
        assert_eq!(found.len(), 1, "{}", listed.body);
        assert_eq!(found[0]["orgId"], json!(platform));
        assert_eq!(found[0]["status"], "AVAILABLE");
    }
    let path = format!("/images/sys-win11/versions/{version}");
    let got = h.rest("GET", &path, None);
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.str("status"), "AVAILABLE");
    // It advertises only what an org may do: copy from it (each other action is a 403).
    assert_eq!(got.body["allowedActions"], json!(["CLONE"]), "{}", got.body);

    let read_only = |a: Answer| {
        assert_eq!(a.status, 403, "{}", a.body);
        assert_eq!(a.str("code"), "SHARED_IMAGE_READ_ONLY", "{}", a.body);
    };
    read_only(h.rest(
        "PATCH",
        "/images/sys-win11",
        Some(json!({"description": "mine now"})),
    ));
    read_only(h.rest("DELETE", "/images/sys-win11", None));
    read_only(h.rest(
        "POST",
        &format!("{path}?action=publish"),
        Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
    ));
    read_only(h.add_sig_version("sys-win11", json!({})));

    let copy = h.rest(
        "POST",
        &format!("{path}/clone?action=clone-image"),
        Some(json!({"imageName": "my-win11"})),
    );
    assert_eq!(copy.status, 201, "{}", copy.body);
    assert_eq!(copy.str("orgId"), h.org);
    assert_eq!(copy.str("sourceStreamId"), "sys-win11");
    let (image, cloned) = first_version(&copy);
    h.tick_until(&format!("/images/{image}/versions/{cloned}"), 40, |a| {
        status_of(a) == "IMPORT_COMPLETE"
    });
    let still = h.rest("GET", "/images/sys-win11", None);
    assert_eq!(still.str("status"), "AVAILABLE");
    assert!(still.body["description"].is_null(), "{}", still.body);
}
