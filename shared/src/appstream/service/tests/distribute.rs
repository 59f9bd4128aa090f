//! StartTaskForDistributeImage: its refusals, and each region shown from INIT to AVAILABLE.

use super::*;

#[test]
fn distribution_errors() {
    let w = World::new();
    let one = [("DestinationRegionList.1", "cn-shanghai")];
    assert_error(w.distribute("imgc-nope", &one), 400, "Image.NotExist");
    let d = w.capture("ecd-1", "dist");
    let id = d["ImageId"].as_str().unwrap();
    assert_error(
        w.distribute(id, &one),
        400,
        "ImageRegionDistribute.NotAllow",
    );
    w.settle_available(id);
    assert_error(
        w.distribute(id, &[("DestinationRegionList.1", "xx-nowhere")]),
        400,
        "ParentImageRegionDistribute.NotExist",
    );
    assert_error(
        w.distribute(id, &[("DestinationRegionList.1", "cn-shanghai/..")]),
        400,
        "ParentImageRegionDistribute.NotExist",
    );
    assert_error(
        w.distribute(id, &[one[0], ("VersionId", "iv-nope")]),
        400,
        "Image.NotExist",
    );
    let b = assert_error(w.distribute(id, &[]), 400, "MissingParameter");
    assert!(message(&b).contains("DestinationRegionList"));
    // Another org's image does not exist for us.
    let (s, _) = w.call_as(
        &w.ak2,
        "StartTaskForDistributeImage",
        &[("ImageId", id), one[0]],
    );
    assert_eq!(s, 400);
}

#[test]
fn distribution_shows_each_region_from_init_to_available() {
    let w = World::new();
    let d = w.capture("ecd-1", "dist");
    let (id, vid) = (
        d["ImageId"].as_str().unwrap(),
        d["VersionId"].as_str().unwrap(),
    );
    w.settle_available(id);
    let (s, b) = w.distribute(
        id,
        &[
            ("DestinationRegionList.1", "cn-shanghai"),
            ("DestinationRegionList.2", "cn-beijing"),
            ("SourceRegion", "cn-hangzhou"),
        ],
    );
    assert_eq!(s, 200, "{b}");
    assert!(b["Data"].as_str().unwrap().starts_with("tid-"));
    let regions = |w: &World| w.listed(id).unwrap()["ImageRegionDistributeList"].clone();
    assert_eq!(
        regions(&w),
        json!([
            {"RegionId": "cn-shanghai", "Status": "INIT", "Progress": "0%", "ImageId": id, "VersionId": vid},
            {"RegionId": "cn-beijing", "Status": "INIT", "Progress": "0%", "ImageId": id, "VersionId": vid},
        ])
    );
    // While it runs: no second distribution to the same region, no delete.
    assert_error(
        w.distribute(id, &[("DestinationRegionList.1", "cn-beijing")]),
        400,
        "ImageRegionDistribute.NotAllow",
    );
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
    let mut saw_progress = false;
    assert!(w.run_until(|w| {
        let r = regions(w);
        let list = r.as_array().unwrap();
        saw_progress |= list
            .iter()
            .any(|e| e["Status"] == json!("DISTRIBUTING") && e["Progress"] != json!("0%"));
        list.iter().all(|e| e["Status"] == json!("AVAILABLE"))
    }));
    assert!(saw_progress);
    assert!(
        regions(&w)
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["Progress"] == json!("100%"))
    );
    // Settled: it may be distributed again, and deleted.
    assert_eq!(
        w.distribute(id, &[("DestinationRegionList.1", "cn-beijing")])
            .0,
        200
    );
}

/// Issue 24, item 4: past the org's quota of running operations (`quota_operations`, shared
/// with the REST door) a capture answers `ExceedBuilderQuota` and a distribution
/// `Throttling.Resource`, recording nothing; room comes back as operations end.
#[test]
fn the_quota_of_running_operations_refuses_captures_and_distributions() {
    let mut w = World::new();
    let d = w.capture("ecd-1", "dist");
    let id = d["ImageId"].as_str().unwrap().to_owned();
    w.settle_available(&id);
    w.settings.ops.quotas.operations = 1;
    w.capture(&w.desktop("busy"), "busy");
    let more = w.desktop("more");
    let before = w.kv.inner.keys();
    let b = assert_error(
        w.capture_err(&more, "CloudDesktop"),
        400,
        "ExceedBuilderQuota",
    );
    assert!(message(&b).contains("quota_operations"), "{b}");
    let one = [("DestinationRegionList.1", "cn-shanghai")];
    let b = assert_error(w.distribute(&id, &one), 400, "Throttling.Resource");
    assert!(message(&b).contains("quota_operations"), "{b}");
    let mut after = w.kv.inner.keys();
    // Only the refused calls' nonces and their purge entries are new.
    after.retain(|k| !before.contains(k) && !k.contains("nonce") && !k.starts_with("due/"));
    assert_eq!(
        after,
        Vec::<String>::new(),
        "a refused call records nothing"
    );
    // Another org has its own room.
    let (s, _) = w.other_org_captures("o2");
    assert_eq!(s, 200);
}
