//! Every answer of every action carries the vendor's envelope (issue 10, item 2): a success
//! has `Code`, `Message`, `Success`, `RequestId` and `Data`; an error `Code`, `Message`,
//! `Success: false` and `RequestId`, with the vendor's status.

use super::*;

fn assert_success(r: (u16, Value)) -> Value {
    let (s, b) = r;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["Code"], json!("200"), "{b}");
    assert_eq!(b["Message"], json!(envelope::SUCCESS_MESSAGE), "{b}");
    assert_eq!(b["Success"], json!(true), "{b}");
    assert!(
        b["RequestId"].as_str().is_some_and(|r| r.len() == 36),
        "{b}"
    );
    assert!(b.get("Data").is_some_and(|d| !d.is_null()), "{b}");
    b
}

#[test]
fn every_action_answers_the_full_envelope() {
    let w = World::new();
    let b = assert_success(w.call(
        "CreateImageByInstance",
        &[("InstanceId", "ecd-1"), ("ImageName", "env")],
    ));
    let id = b["Data"]["ImageId"].as_str().unwrap_or_default().to_owned();
    let b = assert_success(w.call("ListImage", &[("ImageId", &id)]));
    assert_eq!(
        (
            b["Count"].clone(),
            b["PageNumber"].clone(),
            b["PageSize"].clone()
        ),
        (json!(1), json!(1), json!(10))
    );
    w.settle_available(&id);
    let b = assert_success(w.call(
        "StartTaskForDistributeImage",
        &[("ImageId", &id), ("DestinationRegionList.1", "cn-shanghai")],
    ));
    assert!(b["Data"].as_str().is_some_and(|t| t.starts_with("tid-")));
    assert!(w.run_until(|w| {
        w.listed(&id)
            .is_some_and(|i| i["ImageRegionDistributeList"][0]["Status"] == json!("AVAILABLE"))
    }));
    let b = assert_success(w.call("DeleteImage", &[("ImageId", &id)]));
    assert_eq!(b["Data"], json!(true));
}

#[test]
fn every_action_answers_errors_in_the_vendors_envelope_and_status() {
    let w = World::new();
    for (action, form, status, code) in [
        ("CreateImageByInstance", vec![], 400, "MissingParameter"),
        (
            "CreateImageByInstance",
            vec![("InstanceId", "nope")],
            400,
            "Instance.NotFound",
        ),
        (
            "ListImage",
            vec![("PageSize", "0")],
            400,
            "InvalidParameter",
        ),
        (
            "DeleteImage",
            vec![("ImageId", "imgc-nope")],
            400,
            "Image.NotExist",
        ),
        (
            "StartTaskForDistributeImage",
            vec![("ImageId", "imgc-nope"), ("DestinationRegionList.1", "x")],
            400,
            "Image.NotExist",
        ),
        ("NoSuchAction", vec![], 404, "InvalidAction.NotFound"),
    ] {
        let b = assert_error(w.call(action, &form), status, code);
        assert_eq!(b.get("Data"), None, "{action}: {b}");
    }
}
