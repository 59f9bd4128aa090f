//! CreateImageByInstance: the records it writes and lists, the instance checks, one capture
//! per instance and the builder quota (the capture register), and a write that fails.

use super::super::create::{CLAIM_GRACE_MS, CaptureRegister, RunningCapture, claim_capture};
use super::*;

#[test]
fn a_capture_returns_ids_starts_init_and_ends_available_with_every_list_field() {
    let w = World::new();
    let (s, b) = w.call(
        "CreateImageByInstance",
        &[
            ("InstanceId", "ecd-1"),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "golden desktop"),
            ("Description", "captured"),
            ("AutoCleanUserdata", "True"),
            ("DiskType", "SYSTEM"),
            ("ProductType", "CloudDesktop"),
            ("TagList.1.Key", "team"),
            ("TagList.1.Value", "a"),
        ],
    );
    assert_eq!(
        (s, code(&b), b["Success"].clone()),
        (200, "200", json!(true))
    );
    let d = &b["Data"];
    let id = d["ImageId"].as_str().unwrap();
    let vid = d["VersionId"].as_str().unwrap();
    assert!(id.starts_with("imgc-") && vid.starts_with("iv-"));
    assert!(d["TaskId"].as_str().unwrap().starts_with("tid-"));

    let img = w.listed(id).unwrap();
    assert_eq!(img["Status"], json!("INIT"));
    assert_eq!(img["ImageName"], json!("golden desktop"));
    assert_eq!(img["Description"], json!("captured"));
    assert_eq!(img["ImageType"], json!("User"));
    assert_eq!(img["OsType"], json!("Windows"));
    assert_eq!(img["ImageCreateMode"], json!("BY_INSTANCE_ID"));
    assert_eq!(img["DiskType"], json!("SYSTEM"));
    assert_eq!(img["VersionId"], json!(vid));
    assert_eq!(img["LatestVersionId"], json!(vid));
    assert_eq!(img["VersionName"], json!("v1.0.0"));
    assert_eq!(img["OnlineVersionId"], Value::Null);
    assert_eq!(img["GmtCreate"], json!(iso8601_s(T0)));
    assert_eq!(img["TagList"], json!([{"Key": "team", "Value": "a"}]));
    assert_eq!(img["ImageRegionDistributeList"], json!([]));

    assert!(w.run_until(|w| w.listed(id).unwrap()["Status"] == json!("CREATING")));
    w.settle_available(id);
    let img = w.listed(id).unwrap();
    assert_eq!(img["OnlineVersionId"], json!(vid));
    assert!(img["GmtModified"].as_str().unwrap() > img["GmtCreate"].as_str().unwrap());
}

#[test]
fn a_capture_on_a_workstation_session() {
    let w = World::new();
    let form = |sub: &'static str| {
        [
            ("InstanceId", "ws-1"),
            ("InstanceType", "WuyingServer"),
            ("ImageName", "ws"),
            ("SubInstanceId", sub),
        ]
    };
    assert_error(
        w.call("CreateImageByInstance", &form("ps-9")),
        400,
        "Instance.NotFound",
    );
    let (s, b) = w.call("CreateImageByInstance", &form("ps-1"));
    assert_eq!(s, 200, "{b}");
}

#[test]
fn unknown_foreign_or_mistyped_instances_are_not_found() {
    let w = World::new();
    for (instance, t, expected) in [
        ("ws-nope", "WuyingServer", "Instance.NotFound"),
        ("ecd-nope", "CloudDesktop", "DesktopInstance.NotFound"),
        ("ecd-other", "CloudDesktop", "DesktopInstance.NotFound"),
        ("ws-1", "CloudDesktop", "DesktopInstance.NotFound"),
        ("ecd-1", "WuyingServer", "Instance.NotFound"),
        ("a/../b", "CloudDesktop", "DesktopInstance.NotFound"),
    ] {
        assert_error(w.capture_err(instance, t), 400, expected);
    }
}

#[test]
fn instance_conditions_from_the_inventory() {
    let w = World::new();
    let t = sim::InstanceType::CloudDesktop;
    w.instance("o1", "no-central", t, |i| i.centralized_image = false);
    w.instance("o1", "no-node", t, |i| i.physical_node = false);
    w.instance("o1", "no-base", t, |i| i.base_image_configured = false);
    for (inst, expected) in [
        ("no-central", "Instance.ImageUnsupported"),
        ("no-node", "Instance.PhysicalNodeNotExist"),
        ("no-base", "InvalidBaseImage.NotConfigured"),
    ] {
        assert_error(w.capture_err(inst, "CloudDesktop"), 400, expected);
    }
    // Refused captures leave nothing behind.
    assert_eq!(w.list(&[])["Count"], json!(0));
}

#[test]
fn a_second_capture_of_a_running_instance_is_refused_until_the_first_ends() {
    let w = World::new();
    let first = w.capture("ecd-1", "first");
    assert_error(
        w.capture_err("ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
    // Another instance is fine meanwhile.
    w.capture(&w.desktop("ecd-2"), "other");
    w.settle_available(first["ImageId"].as_str().unwrap());
    w.capture("ecd-1", "second");
}

#[test]
fn a_failed_capture_also_releases_the_instance() {
    let w = World::new();
    crate::sim::Simulation {
        failing_steps: vec![crate::sim::FailRule {
            source_id: "ecd-1".into(),
            step: "creating-image".into(),
            attempts: None,
            subject: None,
            code: None,
            stall: false,
        }],
        ..Default::default()
    }
    .save_for_test(&w);
    let first = w.capture("ecd-1", "doomed");
    let id = first["ImageId"].as_str().unwrap().to_owned();
    assert!(w.run_until(|w| w.listed(&id).unwrap()["Status"] == json!("CREATE_FAILED")));
    assert_eq!(w.list(&[("Status", "CREATE_FAILED")])["Count"], json!(1));
    w.capture("ecd-1", "again");
}

#[test]
fn the_builder_quota_caps_concurrent_captures_per_org() {
    let w = World::with_quota(2);
    let a = w.capture(&w.desktop("q-1"), "a");
    w.capture(&w.desktop("q-2"), "b");
    let q3 = w.desktop("q-3");
    assert_error(
        w.capture_err(&q3, "CloudDesktop"),
        400,
        "ExceedBuilderQuota",
    );
    // Another org has its own quota.
    let (s, _) = w.other_org_captures("o2");
    assert_eq!(s, 200);
    w.settle_available(a["ImageId"].as_str().unwrap());
    w.capture(&q3, "c");
}

/// Ended captures leave the register only when a claim needs their room, so the register
/// (and a claim's reads) stay bounded by the quota however many captures an org has run,
/// and the quota still counts only running captures.
#[test]
fn the_register_never_holds_more_than_the_quota() {
    let w = World::with_quota(3);
    let register = || {
        w.st()
            .get::<CaptureRegister>(&keys::rpc_captures("o1"))
            .unwrap()
            .map_or(0, |r| r.value.running.len())
    };
    for i in 0..7 {
        let img = w.capture(&w.desktop(&format!("e-{i}")), &format!("e{i}"));
        w.settle_available(img["ImageId"].as_str().unwrap());
        assert!(register() <= 3, "{} entries after {i}", register());
    }
    // Three running fill the quota even with ended entries in the register.
    for i in 0..3 {
        w.capture(&w.desktop(&format!("r-{i}")), &format!("r{i}"));
    }
    assert_eq!(register(), 3);
    assert_error(
        w.capture_err(&w.desktop("r-3"), "CloudDesktop"),
        400,
        "ExceedBuilderQuota",
    );
}

/// Below the quota a claim reads no other capture's operation, however many ended ones the
/// register still lists.
#[test]
fn a_claim_below_the_quota_reads_no_other_operation() {
    let w = World::with_quota(20);
    for i in 0..5 {
        let img = w.capture(&w.desktop(&format!("e-{i}")), &format!("e{i}"));
        w.settle_available(img["ImageId"].as_str().unwrap());
    }
    w.kv.read.borrow_mut().clear();
    w.capture(&w.desktop("next"), "next");
    let ops_read =
        w.kv.read
            .borrow()
            .iter()
            .filter(|k| k.contains("/op/"))
            .count();
    assert_eq!(ops_read, 0, "{:?}", w.kv.read.borrow());
}

#[test]
fn a_claim_whose_operation_never_appeared_expires() {
    let w = World::with_quota(1);
    let ctx = w.ctx("o1");
    claim_capture(
        &ctx,
        RunningCapture {
            instance_id: "ecd-1".into(),
            op_id: "tid-ghost".into(),
            image_id: "imgc-ghost".into(),
            claimed_at: T0,
        },
    )
    .unwrap();
    assert_error(
        w.capture_err("ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
    w.env.advance_ms(CLAIM_GRACE_MS);
    w.capture("ecd-1", "after");
}

#[test]
fn a_register_whose_elected_creator_died_is_created_by_the_next_caller() {
    let w = World::new();
    // Elected, then died before writing.
    w.st()
        .counter_next(&keys::rpc_captures_claim("o1"))
        .unwrap();
    w.capture("ecd-1", "works");
    assert_error(
        w.capture_err("ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
}

#[test]
fn a_record_that_cannot_be_written_is_create_desktop_image_record_failed() {
    let w = World::new();
    *w.kv.fail_set_containing.borrow_mut() = Some("/version/".into());
    let b = assert_error(
        w.capture_err("ecd-1", "CloudDesktop"),
        400,
        "CreateDesktopImageRecord.Failed",
    );
    // The kind of failure, not the backend's words (those go to the component's log).
    assert_eq!(
        b["Message"],
        json!("The image record could not be written (the store is busy); retry.")
    );
    assert!(!b.to_string().contains("database is locked"), "{b}");
    *w.kv.fail_set_containing.borrow_mut() = None;
    // The claim was given back: the instance can be captured at once.
    w.capture("ecd-1", "retry");
    assert_eq!(w.list(&[])["Count"], json!(1));
}

#[test]
fn the_image_quota_refuses_one_more_capture_as_ecs_does() {
    let mut w = World::new();
    w.settings.ops.quotas.images = 2;
    w.capture(&w.desktop("iq-1"), "a");
    w.capture(&w.desktop("iq-2"), "b");
    let q3 = w.desktop("iq-3");
    let b = assert_error(w.capture_err(&q3, "CloudDesktop"), 403, "QuotaExceed.Image");
    assert!(b["Message"].as_str().unwrap().contains('2'), "{b}");
    assert_eq!(w.list(&[])["Count"], json!(2));
    // Another org holds its own images.
    let (s, _) = w.other_org_captures("o2");
    assert_eq!(s, 200);
}

/// A capture reads the org's register of running captures once, then swaps it through the
/// swap's own read; only the org's first capture creates it.
#[test]
fn a_capture_reads_its_register_once_before_swapping_it() {
    use crate::testutil::{Call, Hooked};
    let w = World::with_quota(20);
    let first = w.desktop("first");
    w.capture(&first, "first");
    let inst = w.desktop("second");
    let calls = std::cell::RefCell::new(Vec::new());
    let kv = Hooked {
        inner: &w.kv,
        before: |call: Call, key: &str| {
            if key == keys::rpc_captures("o1") {
                calls.borrow_mut().push(call);
            }
        },
    };
    let req = w.signed(
        "CreateImageByInstance",
        &[
            ("InstanceId", inst.as_str()),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "second"),
        ],
    );
    let r = handle(&Store::new(&kv, &w.env), &w.settings, &req, AUTHORITY);
    assert_eq!(r.status, 200);
    // The read that picks the operations to check, then the update's read and swap.
    assert_eq!(calls.into_inner(), vec![Call::Get, Call::Get, Call::Swap]);
}
