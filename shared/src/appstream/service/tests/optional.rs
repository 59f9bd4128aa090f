//! CreateImageByInstance through the door with the parameters the vendor marks optional left
//! out, one at a time and all at once (issue 10, item 1).

use super::*;

/// Every parameter the action takes, for a cloud desktop.
const FULL: [(&str, &str); 10] = [
    ("InstanceId", "ecd-1"),
    ("InstanceType", "CloudDesktop"),
    ("ImageName", "full"),
    ("Description", "every parameter"),
    ("AutoCleanUserdata", "true"),
    ("DiskType", "SYSTEM"),
    ("BizType", "1"),
    ("ProductType", "CloudDesktop"),
    ("TagList.1.Key", "k"),
    ("TagList.1.Value", "v"),
];

/// Captures and waits until the capture has ended, so the instance is free again.
fn capture_ok(w: &World, form: &[(&str, &str)]) -> Value {
    let (s, b) = w.call("CreateImageByInstance", form);
    assert_eq!(s, 200, "{form:?}: {b}");
    let id = b["Data"]["ImageId"].as_str().unwrap_or_default().to_owned();
    w.settle_available(&id);
    w.listed(&id).unwrap_or_default()
}

#[test]
fn each_optional_parameter_may_be_left_out() {
    let w = World::new();
    for left_out in FULL.iter().skip(1) {
        let form: Vec<(&str, &str)> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| k != &left_out.0)
            .collect();
        capture_ok(&w, &form);
    }
    // And a server, with its own type-bound parameter left out.
    capture_ok(
        &w,
        &[("InstanceId", "ws-1"), ("InstanceType", "WuyingServer")],
    );
    capture_ok(&w, &[("InstanceId", "ws-1"), ("SubInstanceId", "ps-1")]);
}

#[test]
fn only_an_instance_id_captures_with_the_defaults() {
    let w = World::new();
    let img = capture_ok(&w, &[("InstanceId", "ecd-1")]);
    let name = img["ImageName"].as_str().unwrap_or_default().to_owned();
    assert_eq!(name, capture::generated_name("ecd-1", T0));
    assert_eq!(img["Description"], json!(""));
    assert_eq!(img["DiskType"], json!("ALL"));
    assert_eq!(img["ProductType"], json!("CloudDesktop"));
    assert_eq!(img["TagList"], json!([]));
    assert_eq!(img.get("BizType"), None);
    // The generated name is one the REST door serves and accepts back.
    let id = img["ImageId"].as_str().unwrap_or_default();
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}"), None);
    assert_eq!(
        (r.status, r.json_body()["name"].clone()),
        (200, json!(name))
    );
    assert!(crate::imagemgmt::input::ImageName::parse(&name).is_ok());

    // A workstation without a type is captured as one.
    let img = capture_ok(&w, &[("InstanceId", "ws-1")]);
    assert_eq!(img["ProductType"], json!("WuyingServer"));
}

#[test]
fn a_tag_without_key_or_value_is_kept_with_an_empty_one() {
    let w = World::new();
    let img = capture_ok(
        &w,
        &[
            ("InstanceId", "ecd-1"),
            ("TagList.1.Value", "only-value"),
            ("TagList.2.Key", "only-key"),
        ],
    );
    assert_eq!(
        img["TagList"],
        json!([{"Key": "", "Value": "only-value"}, {"Key": "only-key", "Value": ""}])
    );
}

#[test]
fn checks_keep_the_vendors_order() {
    let w = World::new();
    let create = |form: &[(&str, &str)]| w.call("CreateImageByInstance", form);
    // Nothing to act on: the answer names the parameter.
    let b = assert_error(create(&[]), 400, "MissingParameter");
    assert!(message(&b).contains("InstanceId"));
    // An unknown instance is not found, whatever else is missing.
    assert_error(
        create(&[("InstanceId", "ws-nope")]),
        400,
        "Instance.NotFound",
    );
    assert_error(
        create(&[("InstanceId", "ecd-nope"), ("InstanceType", "CloudDesktop")]),
        400,
        "DesktopInstance.NotFound",
    );
    assert_error(
        create(&[("InstanceId", "ecd-nope"), ("SubInstanceId", "ps-1")]),
        400,
        "Instance.NotFound",
    );
    // Type-bound parameters against the instance's own type.
    let b = assert_error(
        create(&[("InstanceId", "ecd-1"), ("SubInstanceId", "ps-1")]),
        400,
        "InvalidParameter",
    );
    assert!(message(&b).contains("SubInstanceId"));
    let b = assert_error(
        create(&[("InstanceId", "ws-1"), ("AutoCleanUserdata", "true")]),
        400,
        "InvalidParameter",
    );
    assert!(message(&b).contains("AutoCleanUserdata"));
    // Refused captures leave nothing behind.
    assert_eq!(w.list(&[])["Count"], json!(0));
}
