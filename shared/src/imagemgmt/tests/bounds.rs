//! Issue 24, item 1: every endpoint of the door within the cost bound written in
//! docs/contract/bounds.md, measured in its worst case: an org at its image quota, an image
//! at its version quota, a version at its replica quota (the quotas lowered so the test
//! stays fast; each bound is a formula of them). A request's cost is its store calls, the
//! keys it reads and the keys it writes, each through the port as a component makes them.

use super::*;
use crate::testutil::{Call, Hooked};
use std::cell::Cell;

/// What one request cost.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    calls: usize,
    read: usize,
    written: usize,
}

fn cost(w: &World, method: &str, target: &str, body: Option<Value>) -> (Cost, u16) {
    let c = Cell::new(Cost::default());
    let kv = Hooked {
        inner: &w.kv,
        before: |call: Call, keys: &str| {
            let n = keys.split(',').count();
            let mut x = c.get();
            x.calls += 1;
            match call {
                Call::Get | Call::GetMany => x.read += n,
                _ => x.written += n,
            }
            c.set(x);
        },
    };
    let r = handle(
        &Store::new(&kv, &w.env),
        &w.settings,
        &w.req(method, target, body),
    );
    (c.get(), r.status)
}

/// A request and its bound: (method, target, body, most calls, most keys read, most keys
/// written).
type Measured = (&'static str, String, Option<Value>, usize, usize, usize);

/// The quotas of the worst case: small, so building it is fast.
const IMAGES: u32 = 120;
const VERSIONS: u32 = 300;

#[test]
fn every_endpoint_stays_within_its_bound_in_the_worst_case() {
    let mut w = World::new();
    w.settings.quotas.images = IMAGES;
    w.settings.quotas.versions = VERSIONS;
    // Building the worst case starts this many operations and runs few of them to the end.
    w.settings.quotas.operations = crate::catalog::quota::MAX_OPERATIONS;
    let (img, v1) = first_version(&w.vm_image("vm"));
    for i in 1..IMAGES {
        w.sig_image(&format!("img-{i}"));
    }
    for _ in 1..VERSIONS {
        w.env.advance_ms(10);
        w.major_version(&img);
    }
    let vpath = format!("/images/{img}/versions/{v1}");
    assert!(w.reaches(80, &vpath, "IMPORT_COMPLETE"));
    w.provider_instances("o1", 4..=16);
    let replicas: Vec<Value> = (1..=16)
        .map(|i| json!({"providerInstanceId": format!("pi-{i}")}))
        .collect();
    // Room for the writes measured below (the worst case is at the quotas' edge).
    w.settings.quotas.images = IMAGES + 10;
    w.settings.quotas.versions = VERSIONS + 10;
    // A request first in its rate window also schedules its counter's purge: warm it, and
    // the scan counter's. The limiter counts one request in `sample_unit` (drawn at
    // random; a GET of one image writes nothing else), so GET until one was counted.
    assert!(
        (0..1000).any(|_| cost(&w, "GET", "/images?size=1", None).0.written > 0),
        "no request was counted"
    );
    w.call("GET", "/images?size=1&sort=name,asc", None);
    let (r, s, q_i, q_v) = (
        16usize,
        100usize,
        IMAGES as usize + 10,
        VERSIONS as usize + 10,
    );
    let chunks = |n: usize| n.div_ceil(64);
    // (method, target, body, most calls, most keys read, most keys written): the formulas
    // of docs/contract/bounds.md with this test's quotas.
    let op = w.call("GET", &vpath, None).json_body()["operationId"]
        .as_str()
        .unwrap()
        .to_owned();
    let measured: Vec<Measured> = vec![
        ("GET", format!("/operations/{op}"), None, 3, 2, 1),
        ("GET", "/images?size=100".into(), None, 7, 4 + 2 * s, 1),
        (
            "GET",
            "/images?size=100&sort=name,desc".into(),
            None,
            6 + 2 * chunks(q_i),
            4 + 2 * q_i,
            2,
        ),
        (
            "GET",
            "/images?search=name%20%24eq%20img-7".into(),
            None,
            6 + 2 * chunks(q_i),
            4 + 2 * q_i,
            2,
        ),
        ("GET", format!("/images/{img}"), None, 4, 3, 1),
        (
            "GET",
            format!("/images/{img}/versions?size=100&page=1"),
            None,
            5,
            2 + chunks(q_v) + s,
            1,
        ),
        ("GET", vpath.clone(), None, 4, 3, 1),
        (
            "POST",
            format!("/images/{img}/versions"),
            Some(sig_version("MAJOR")),
            16,
            9,
            11,
        ),
        (
            "POST",
            "/images?action=copy-existing-image".into(),
            Some(sig_image_body("new")),
            18,
            9,
            13,
        ),
        (
            "POST",
            format!("{vpath}?action=publish"),
            Some(json!({"replicas": replicas})),
            18 + r,
            9 + r,
            9 + r,
        ),
        ("GET", format!("{vpath}/copies?size=100"), None, 4, 4 + r, 1),
        (
            "PATCH",
            format!("/images/{img}"),
            Some(json!({"description": "d"})),
            6,
            4,
            2,
        ),
        (
            "PATCH",
            vpath.clone(),
            Some(json!({"description": "d"})),
            7,
            5,
            2,
        ),
        (
            "DELETE",
            format!("/images/{img}/versions/{v1}?force=true"),
            None,
            12 + 2 * (1 + r),
            6 + (1 + r),
            5 + (1 + r),
        ),
        ("DELETE", format!("/images/{img}"), None, 16, 8, 8),
    ];
    let mut over = Vec::new();
    for (method, target, body, calls, read, written) in measured {
        let (c, status) = cost(&w, method, &target, body);
        assert!(status < 300, "{method} {target}: {status}");
        if !(c.calls <= calls && c.read <= read && c.written <= written) {
            over.push(format!(
                "{method} {target}: {c:?} over its bound ({calls} calls, {read} read, {written} written)"
            ));
        }
    }
    assert!(over.is_empty(), "{over:#?}");
}
