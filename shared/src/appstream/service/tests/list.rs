//! ListImage: filters and paging, and reading only the versions an item shows.

use super::*;

#[test]
fn list_filters_and_paging() {
    let w = World::new();
    let mut made = Vec::new();
    for i in 0..3 {
        let inst = w.desktop(&format!("p-{i}"));
        let (s, b) = w.call(
            "CreateImageByInstance",
            &[
                ("InstanceId", &inst),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", &format!("pager-{i}")),
                (
                    "ProductType",
                    if i == 0 { "CloudApp" } else { "CloudDesktop" },
                ),
                ("TagList.1.Key", "run"),
                ("TagList.1.Value", "r1"),
            ],
        );
        assert_eq!(s, 200, "{b}");
        made.push(b["Data"]["ImageId"].as_str().unwrap().to_owned());
        w.env.advance_ms(10);
    }
    w.capture(&w.desktop("untagged"), "pager-x");
    let tag = [("TagList.1.Key", "run"), ("TagList.1.Value", "r1")];

    let p1 = w.list(&[tag[0], tag[1], ("PageSize", "2"), ("PageNumber", "1")]);
    assert_eq!(
        (p1["Count"].clone(), p1["PageSize"].clone()),
        (json!(3), json!(2))
    );
    let p2 = w.list(&[tag[0], tag[1], ("PageSize", "2"), ("PageNumber", "2")]);
    let mut all = [ids(&p1), ids(&p2)].concat();
    assert_eq!(ids(&p1).len(), 2);
    // Newest first.
    assert_eq!(all[0], made[2]);
    all.sort();
    let mut expected = made.clone();
    expected.sort();
    assert_eq!(all, expected);
    let p9 = w.list(&[tag[0], tag[1], ("PageNumber", "9")]);
    assert_eq!((p9["Count"].clone(), ids(&p9).len()), (json!(3), 0));

    assert_eq!(
        ids(&w.list(&[("ImageName", "ger-1")])),
        vec![made[1].clone()]
    );
    assert_eq!(w.list(&[])["Count"], json!(4));
    let both = w.list(&[
        tag[0],
        tag[1],
        ("TagList.2.Key", "run"),
        ("TagList.2.Value", "r2"),
    ]);
    assert_eq!(both["Count"], json!(0));
    assert_eq!(
        ids(&w.list(&[("ImageId", &made[0]), ("ImageType", "User")])),
        vec![made[0].clone()]
    );
    assert_eq!(w.list(&[("ImageType", "System")])["Count"], json!(0));
    assert_eq!(w.list(&[("Status", "INIT")])["Count"], json!(4));
    assert_eq!(w.list(&[("Status", "AVAILABLE")])["Count"], json!(0));
    assert_eq!(w.list(&[("OsType", "Windows")])["Count"], json!(4));
    assert_eq!(w.list(&[("OsType", "Linux")])["Count"], json!(0));
    assert_eq!(
        ids(&w.list(&[("ProductType", "CloudApp")])),
        vec![made[0].clone()]
    );
    assert_error(
        w.call("ListImage", &[("Status", "GONE")]),
        400,
        "InvalidParameter",
    );
    // Another org sees none of them.
    let (_, other) = w.call_as(&w.ak2, "ListImage", &[]);
    assert_eq!(other["Count"], json!(0));
}

/// newest AVAILABLE, the distributed ones), not all of them, and shows the same item.
#[test]
fn list_reads_the_versions_it_shows_not_every_version() {
    let w = World::new();
    let d = w.capture("ecd-1", "many");
    let (id, vid) = (
        d["ImageId"].as_str().unwrap().to_owned(),
        d["VersionId"].as_str().unwrap().to_owned(),
    );
    w.settle_available(&id);
    let before = w.listed(&id).unwrap();
    // 500 older, failed versions, stored and recorded on the image as the advancer does.
    let v1 = w
        .st()
        .get::<Version>(&keys::version("o1", &vid))
        .unwrap()
        .unwrap()
        .value;
    let older: Vec<String> = (0..500).map(|i| format!("ver-old-{i}")).collect();
    for o in &older {
        let mut v = v1.clone();
        v.id = o.clone();
        v.status = VersionStatus::Failed;
        w.st().put_new(&keys::version("o1", o), &v).unwrap();
    }
    w.st()
        .update::<Image, ()>(&keys::image("o1", &id), |i| {
            let mut i = i.clone();
            let mut ids = older.clone();
            ids.extend(i.version_ids.iter().cloned());
            for o in &older {
                i.version_statuses.insert(o.clone(), VersionStatus::Failed);
            }
            i.version_ids = ids;
            Change::Write(i)
        })
        .unwrap();
    // Other images of the org are not read either when one is named.
    for i in 0..5 {
        w.instance(
            "o1",
            &format!("ecd-more-{i}"),
            sim::InstanceType::CloudDesktop,
            |_| {},
        );
        w.capture(&format!("ecd-more-{i}"), &format!("more-{i}"));
    }
    w.kv.forget_reads();
    let after = w.listed(&id).unwrap();
    let reads = w.kv.read.borrow().clone();
    let versions = reads.iter().filter(|k| k.contains("/version/")).count();
    let images = reads.iter().filter(|k| k.contains("/image/")).count();
    assert!(versions <= 2, "{versions} version records read");
    assert_eq!(images, 1, "{reads:?}");
    assert_eq!(after["OnlineVersionId"], json!(vid));
    assert_eq!(after["LatestVersionId"], before["LatestVersionId"]);
    assert_eq!(after["VersionName"], before["VersionName"]);
}

/// Issue 24, item 5: a filtered ListImage reads every image of the org, so it spends the
/// org's scan budget (shared with the REST door's searches); once spent it answers the
/// vendor's `Throttling.User` with the wait, while the unfiltered page is served.
#[test]
fn filtered_listings_spend_the_orgs_scan_budget() {
    let mut w = World::new();
    w.settings.ops.scan_rate_limit = 4;
    for i in 0..2 {
        w.capture(&w.desktop(&format!("s-{i}")), &format!("scan-{i}"));
    }
    let start = w.env.now_ms();
    w.env.advance_ms(10_000 - start.rem_euclid(10_000));
    let filtered = [("ImageName", "scan-1")];
    // 2 records each: spent 0 and 2 before them, under 4.
    for _ in 0..2 {
        assert_eq!(w.list(&filtered)["Count"], json!(1));
    }
    let (status, body) = w.call("ListImage", &filtered);
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("Throttling.User"))
    );
    assert!(
        body["Message"].as_str().is_some_and(|m| m.contains("10 s")),
        "{body}"
    );
    assert_eq!(w.list(&[("PageSize", "5")])["Count"], json!(2));
    w.env.advance_ms(10_000);
    assert_eq!(w.list(&filtered)["Count"], json!(1));
}
