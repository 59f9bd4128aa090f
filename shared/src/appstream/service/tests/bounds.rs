//! Issue 24, item 1: every action of the RPC door within its bound of
//! docs/contract/bounds.md, in the worst case of an org at its image quota (lowered so the
//! test stays fast): store calls, keys read and keys written through the port.

use super::*;
use crate::testutil::{Call, Hooked};
use std::cell::Cell;

const IMAGES: usize = 150;

/// (action, form, most calls, most keys read, most keys written).
type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, usize, usize, usize);

#[test]
fn every_action_stays_within_its_bound_in_the_worst_case() {
    let mut w = World::with_quota(MAX_BUILDER_QUOTA);
    w.settings.ops.quotas.images = IMAGES as u32 + 5;
    let mut ids = Vec::new();
    for i in 0..IMAGES {
        let made = w.capture(&w.desktop(&format!("b-{i}")), &format!("bound-{i}"));
        ids.push(made["ImageId"].as_str().unwrap().to_owned());
    }
    let (id, doomed) = (ids[IMAGES - 1].clone(), ids[0].clone());
    w.settle_available(&id);
    w.settle_available(&doomed);
    let cost = |action: &str, form: &[(&str, &str)]| {
        let c = Cell::new((0usize, 0usize, 0usize));
        let kv = Hooked {
            inner: &w.kv,
            before: |call: Call, keys: &str| {
                let n = keys.split(',').count();
                let (calls, read, written) = c.get();
                c.set(match call {
                    Call::Get | Call::GetMany => (calls + 1, read + n, written),
                    _ => (calls + 1, read, written + n),
                });
            },
        };
        let r = handle(
            &Store::new(&kv, &w.env),
            &w.settings,
            &w.signed(action, form),
            AUTHORITY,
        );
        assert_eq!(
            r.status,
            200,
            "{action}: {}",
            String::from_utf8_lossy(&r.body)
        );
        c.get()
    };
    let chunks = (IMAGES + 5).div_ceil(64);
    // The first scan of a window also schedules its counter's purge (as the first request
    // does the rate counter's): warm it.
    cost("ListImage", &[("PageSize", "1"), ("ImageName", "bound-1")]);
    let fresh = w.desktop("b-new");
    // (action, form, most calls, most keys read, most keys written), the formulas of
    // docs/contract/bounds.md with this test's quota (page size p = 100).
    let rows: Vec<Row> = vec![
        ("ListImage", vec![("PageSize", "100")], 12, 5 + 3 * 100, 4),
        (
            "ListImage",
            vec![("PageSize", "100"), ("ImageName", "bound-7")],
            11 + 2 * chunks,
            16 + 2 * (IMAGES + 5),
            5,
        ),
        ("ListImage", vec![("ImageId", id.as_str())], 8, 8, 4),
        (
            "CreateImageByInstance",
            vec![
                ("InstanceId", fresh.as_str()),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", "bound-new"),
            ],
            30,
            13,
            19,
        ),
        (
            "StartTaskForDistributeImage",
            vec![
                ("ImageId", id.as_str()),
                ("DestinationRegionList.1", "cn-shanghai"),
            ],
            20,
            11,
            11,
        ),
        (
            "DeleteImage",
            vec![("ImageId", doomed.as_str())],
            22,
            10,
            12,
        ),
    ];
    let mut over = Vec::new();
    for (action, form, calls, read, written) in rows {
        let (c, r, wr) = cost(action, &form);
        if !(c <= calls && r <= read && wr <= written) {
            over.push(format!(
                "{action} {form:?}: {c} calls, {r} read, {wr} written; bound {calls}, {read}, {written}"
            ));
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}
