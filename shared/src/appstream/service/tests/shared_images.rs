//! Images the platform shares with every org (issue 10, item 3; `crate::catalog::platform`): both
//! doors list them alike; `DeleteImage` and `StartTaskForDistributeImage` answer
//! `ImageUpdateSharedImageFailed.NotAllow`; the REST door refuses every write but
//! `clone-image` with a 403.

use super::*;

fn seed(w: &World) -> Image {
    crate::catalog::platform::put(
        &w.st(),
        &crate::catalog::platform::SharedImage {
            id: "sys-win11".into(),
            name: "Windows-11-system".into(),
            description: Some("by the platform".into()),
            os_type: OsType::Windows,
            gpu_type: GpuType::None,
        },
    )
    .unwrap()
    .0
}

#[test]
fn both_doors_list_a_shared_image_for_every_org() {
    let w = World::new();
    let img = seed(&w);
    let own = w.capture("ecd-1", "mine");
    let own_id = own["ImageId"].as_str().unwrap();
    // RPC: beside the org's own, typed System; each ImageType filter picks its kind.
    let all = w.list(&[]);
    assert_eq!(all["Count"], json!(2), "{all}");
    let sys = w.listed("sys-win11").expect("listed by ImageId");
    assert_eq!(sys["ImageType"], json!("System"));
    assert_eq!(sys["Status"], json!("AVAILABLE"));
    assert_eq!(sys["OnlineVersionId"], json!(img.version_ids[0]));
    assert_eq!(ids(&w.list(&[("ImageType", "System")])), vec!["sys-win11"]);
    assert_eq!(ids(&w.list(&[("ImageType", "User")])), vec![own_id]);
    // Another org sees it too.
    let (s, b) = w.call_as(&w.ak2, "ListImage", &[("ImageType", "System")]);
    assert_eq!((s, ids(&b)), (200, vec!["sys-win11".to_owned()]));
    // REST: the same image, owned by the platform, with its version readable.
    for org in ["o1", "o2"] {
        let list = rest_as(
            &w,
            org,
            "GET",
            "/images?search=name%20%24eq%20Windows-11-system",
            None,
        );
        assert_eq!(list.status, 200);
        let found = &list.json_body()["content"][0];
        assert_eq!(found["id"], json!("sys-win11"), "{org}");
        assert_eq!(found["orgId"], json!(crate::catalog::platform::ORG));
        assert_eq!(found["status"], json!("AVAILABLE"));
    }
    let got = rest_as(&w, "o1", "GET", "/images/sys-win11", None);
    assert_eq!(got.status, 200);
    let v = &img.version_ids[0];
    let ver = rest_as(
        &w,
        "o1",
        "GET",
        &format!("/images/sys-win11/versions/{v}"),
        None,
    );
    assert_eq!(ver.status, 200);
    assert_eq!(ver.json_body()["status"], json!("AVAILABLE"));
    assert_eq!(
        rest_as(&w, "o1", "GET", "/images/sys-win11/versions", None).status,
        200
    );
}

#[test]
fn rpc_never_deletes_or_distributes_a_shared_image() {
    let w = World::new();
    seed(&w);
    assert_error(
        w.call("DeleteImage", &[("ImageId", "sys-win11")]),
        400,
        "ImageUpdateSharedImageFailed.NotAllow",
    );
    assert_error(
        w.call(
            "StartTaskForDistributeImage",
            &[
                ("ImageId", "sys-win11"),
                ("DestinationRegionList.1", "cn-shanghai"),
            ],
        ),
        400,
        "ImageUpdateSharedImageFailed.NotAllow",
    );
    // Still there, unchanged, for both doors.
    let sys = w.listed("sys-win11").unwrap();
    assert_eq!(sys["ImageRegionDistributeList"], json!([]));
    assert_eq!(sys["Status"], json!("AVAILABLE"));
}

#[test]
fn rest_refuses_every_write_but_a_copy() {
    let w = World::new();
    let img = seed(&w);
    let v = img.version_ids[0].clone();
    let refused = [
        (
            "PATCH",
            "/images/sys-win11".to_owned(),
            Some(json!({"description": "x"})),
        ),
        ("DELETE", "/images/sys-win11".to_owned(), None),
        (
            "POST",
            "/images/sys-win11/versions".to_owned(),
            Some(json!({"sourceType": "AZURE_SIG", "versionType": "MAJOR",
                        "providerInstanceId": "pi-1",
                        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                            "isClientAccessLicenseApplicable": true, "multiSession": true}}})),
        ),
        (
            "PATCH",
            format!("/images/sys-win11/versions/{v}"),
            Some(json!({"description": "x"})),
        ),
        ("DELETE", format!("/images/sys-win11/versions/{v}"), None),
        (
            "POST",
            format!("/images/sys-win11/versions/{v}?action=publish"),
            Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
        ),
        (
            "POST",
            format!("/images/sys-win11/versions/{v}/republish"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("/images/sys-win11/versions/{v}/clone"),
            Some(json!({"versionType": "MAJOR"})),
        ),
    ];
    for (method, path, body) in refused {
        let r = rest_as(&w, "o1", method, &path, body);
        assert_eq!(r.status, 403, "{method} {path}: {:?}", r.json_body());
        assert_eq!(
            r.json_body()["code"],
            json!(crate::imagemgmt::shared::READ_ONLY_CODE)
        );
    }
    // A copy is the org's own image; the shared one is untouched.
    let r = rest_as(
        &w,
        "o1",
        "POST",
        &format!("/images/sys-win11/versions/{v}/clone?action=clone-image"),
        Some(json!({"imageName": "my-win11"})),
    );
    assert_eq!(r.status, 201, "{:?}", r.json_body());
    let copy = r.json_body();
    assert_eq!(copy["orgId"], json!("o1"));
    assert_eq!(copy["sourceStreamId"], json!("sys-win11"));
    let copy_id = copy["id"].as_str().unwrap().to_owned();
    // The RPC door lists the copy as the org's own.
    assert_eq!(w.listed(&copy_id).unwrap()["ImageType"], json!("User"));
    assert_eq!(
        rest_as(&w, "o1", "DELETE", &format!("/images/{copy_id}"), None).status,
        202
    );
    let again = crate::catalog::platform::image(&w.st(), "sys-win11")
        .unwrap()
        .unwrap();
    assert_eq!(again, img);
}
