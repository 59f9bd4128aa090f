//! The imagemgmt REST door: Add Version and the background work behind it, as a client
//! sees them (statuses move only when the advancer ticks).
//!
//! Every scenario runs on our host and on real Spin. Those that set the (global)
//! simulation need an app of their own there: [`NEEDS_OWN_APP`].

use std::collections::BTreeSet;

mod sharing;
pub use sharing::*;

use crate::{Answer, Harness, first_version};
use serde_json::{Value, json};

/// Scenarios that change the app-wide simulation settings (`PUT /admin/v1/simulation`):
/// on a shared app they would fail other scenarios' steps. Also the one seeding an image
/// the platform shares with every org: other scenarios' listings would show it.
pub const NEEDS_OWN_APP: [&str; 5] = [
    "publish_with_a_failing_replica_is_partially_available",
    "retry_then_success",
    "retries_exhausted_fail_the_version",
    "a_stalled_step_times_out",
    "shared_images_are_read_only_for_every_org",
];

fn status_of(a: &Answer) -> String {
    a.str("status")
}

pub fn sig_copy_reaches_available(h: &Harness) {
    let img = h.sig_image("win11-sig");
    let (image, _) = first_version(&img);
    let added = h.add_sig_version(&image, json!({"description": "second"}));
    assert_eq!(added.status, 201, "{}", added.body);
    assert_eq!(added.str("versionName"), "2.0.0");
    assert_eq!(added.str("versionStatus"), "PENDING");
    let op_path = added
        .header("operation-location")
        .expect("Operation-Location")
        .trim_start_matches("/imagemgmt/v1")
        .to_owned();
    let version = added.str("versionId");

    let done = h.tick_until(&format!("/images/{image}/versions/{version}"), 40, |a| {
        status_of(a) == "AVAILABLE"
    });
    assert_eq!(done.str("state"), "PUBLISHED");
    // The operation is the last record a transition writes: on real Spin a client can
    // read the version between the two writes (README, "Design choices").
    let op = h.tick_until(&op_path, 3, |a| a.str("status") == "SUCCEEDED");
    assert_eq!(op.status, 200);
    assert_eq!(op.body["progress"], 100);
    let steps: Vec<&str> = op.body["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert!(steps.contains(&"replicating"), "{steps:?}");
    let copies = h.rest(
        "GET",
        &format!("/images/{image}/versions/{version}/copies"),
        None,
    );
    assert_eq!(
        copies.body["content"][0]["status"], "AVAILABLE",
        "{}",
        copies.body
    );
    // Every status the version went through is on record, in order.
    let history: Vec<&str> = done.body["statusHistory"]
        .as_array()
        .expect("statusHistory")
        .iter()
        .filter_map(|e| e["status"].as_str())
        .collect();
    assert_eq!(history.first(), Some(&"PENDING"), "{history:?}");
    assert_eq!(history.last(), Some(&"AVAILABLE"), "{history:?}");
}

pub fn custom_vm_import_then_publish(h: &Harness) {
    let img = h.vm_image("win11-vm");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    let imported = h.tick_until(&path, 40, |a| status_of(a) == "IMPORT_COMPLETE");
    assert_eq!(imported.str("state"), "NOT_READY");
    // The transition that shows the version writes its image just after it: on a runtime
    // whose cron ticks in real time a GET may fall between the two writes, so there the
    // image is polled; our host gets no tick more (0): it must show it at once.
    let image_path = format!("/images/{image}");
    h.tick_until(&image_path, 0, |a| a.str("status") == "IMPORT_COMPLETE");

    let published = h.rest(
        "POST",
        &format!("{path}?action=publish"),
        Some(
            json!({"description": "go", "replicas": [{"providerInstanceId": "pi-1"},
                                                       {"providerInstanceId": "pi-2"}]}),
        ),
    );
    assert_eq!(published.status, 201, "{}", published.body);
    assert!(published.header("operation-location").is_some());
    let done = h.tick_until(&path, 60, |a| status_of(a) == "AVAILABLE");
    assert_eq!(done.str("state"), "PUBLISHED");
    h.tick_until(&image_path, 0, |a| a.str("status") == "AVAILABLE");
}

pub fn publish_with_a_failing_replica_is_partially_available(h: &Harness) {
    let img = h.vm_image("win11-partial");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    h.tick_until(&path, 40, |a| status_of(a) == "IMPORT_COMPLETE");
    let published = h.rest(
        "POST",
        &format!("{path}?action=publish"),
        Some(json!({"replicas": [{"providerInstanceId": "pi-1"}, {"providerInstanceId": "pi-2"}]})),
    );
    assert_eq!(published.status, 201, "{}", published.body);
    // The replica in pi-2 fails every attempt of its replication.
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    let replica = copies.body["content"]
        .as_array()
        .expect("copies")
        .iter()
        .find(|c| {
            c["providerInstanceId"] == "pi-2" && c["assetType"] == "AZURE_IMAGE_REPLICA_IN_SIG"
        })
        .or_else(|| {
            copies.body["content"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["providerInstanceId"] == "pi-2"))
        })
        .unwrap_or_else(|| panic!("no pi-2 replica in {}", copies.body))["id"]
        .as_str()
        .expect("asset id")
        .to_owned();
    h.admin(
        "PUT",
        "/admin/v1/simulation",
        json!({"failingSteps": [{"sourceId": "vm-1", "step": "replicating", "subject": replica,
                                 "code": "REPLICA_QUOTA"}]}),
    );
    let done = h.tick_until(&path, 80, |a| {
        ["PARTIALLY_AVAILABLE", "AVAILABLE", "FAILED"].contains(&status_of(a).as_str())
    });
    assert_eq!(status_of(&done), "PARTIALLY_AVAILABLE", "{}", done.body);
    assert_eq!(done.str("state"), "PARTIALLY_PUBLISHED");
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    let failed = copies.body["content"]
        .as_array()
        .expect("copies")
        .iter()
        .find(|c| c["id"] == replica.as_str())
        .cloned()
        .expect("the failing replica");
    assert_eq!(failed["status"], "REPLICATION_FAILED", "{failed}");
    assert_eq!(failed["errorCode"], "REPLICA_QUOTA");
    assert!(
        !failed["errorsHistory"]
            .as_array()
            .expect("errorsHistory")
            .is_empty()
    );
}

pub fn version_numbering_major_and_minor(h: &Harness) {
    let img = h.sig_image("numbers");
    let (image, v100) = first_version(&img);
    let major = h.add_sig_version(&image, json!({}));
    assert_eq!(major.str("versionName"), "2.0.0", "{}", major.body);
    let minor = h.add_sig_version(
        &image,
        json!({"versionType": "MINOR", "sourceVersionId": v100}),
    );
    assert_eq!(minor.str("versionName"), "1.1.0", "{}", minor.body);
    let history: Vec<Value> = minor.body["versionHistory"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(history, vec![json!("1.0.0")]);
    let again = h.add_sig_version(
        &image,
        json!({"versionType": "MINOR", "sourceVersionId": v100}),
    );
    assert_eq!(again.str("versionName"), "1.2.0");
    let patch = h.add_sig_version(&image, json!({"versionType": "PATCH"}));
    assert_eq!(patch.status, 400);
    let listed = h.rest(
        "GET",
        &format!("/images/{image}/versions?sort=name,asc"),
        None,
    );
    let names: Vec<&str> = listed.body["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]);
    assert_eq!(listed.body["totalElements"], 4);
}

pub fn retry_then_success(h: &Harness) {
    h.admin(
        "PUT",
        "/admin/v1/simulation",
        json!({"failingSteps": [{"sourceId": "g-1", "step": "replicating", "attempts": 1}]}),
    );
    let img = h.sig_image("retry");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    h.until(60, || status_of(&h.rest("GET", &path, None)) == "AVAILABLE");
    let settled = h.rest("GET", &path, None);
    assert_eq!(status_of(&settled), "AVAILABLE");
    // The retry's wait is the version's record, not a moment a poll must catch: on real
    // Spin it lasts from the failed attempt to the tick that retries (the backoff here is
    // 300 ms), which a poll every 200 ms can miss on a loaded machine.
    let history = settled.body["statusHistory"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        history
            .iter()
            .any(|e| e["assetStatus"] == "IMPORT_RETRY_PENDING"),
        "the version's history never showed its copy in IMPORT_RETRY_PENDING: {history:?}"
    );
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    assert_eq!(
        copies.body["content"][0]["errorsHistory"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

pub fn retries_exhausted_fail_the_version(h: &Harness) {
    h.admin(
        "PUT",
        "/admin/v1/simulation",
        json!({"failingSteps": [{"sourceId": "g-1", "step": "replicating"}], "maxAttempts": 2}),
    );
    let img = h.sig_image("doomed");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    let op_path = format!(
        "/operations/{}",
        h.rest("GET", &path, None).str("operationId")
    );
    // The operation is the record a transition writes last: once it reads FAILED, its
    // version, image and copies must already show it, on every runtime.
    let op = h.tick_until(&op_path, 60, |a| a.str("status") == "FAILED");
    assert_eq!(op.body["attempt"], 2);
    assert_eq!(status_of(&h.rest("GET", &path, None)), "FAILED");
    assert_eq!(
        h.rest("GET", &format!("/images/{image}"), None)
            .str("status"),
        "FAILED"
    );
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    assert_eq!(copies.body["content"][0]["status"], "REPLICATION_FAILED");
}

pub fn a_stalled_step_times_out(h: &Harness) {
    h.admin(
        "PUT",
        "/admin/v1/simulation",
        json!({"failingSteps": [{"sourceId": "g-1", "step": "replicating", "stall": true}],
               "stepTimeoutMs": 20000, "maxAttempts": 1}),
    );
    let img = h.sig_image("slow");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    h.tick_until(&path, 60, |a| status_of(a) == "FAILED");
    let copies = h.rest("GET", &format!("{path}/copies"), None);
    assert_eq!(
        copies.body["content"][0]["status"], "REPLICATION_FAILED_TIMEOUT",
        "{}",
        copies.body
    );
}

pub fn deleting_the_last_version_removes_the_image(h: &Harness) {
    let img = h.sig_image("short-lived");
    let (image, version) = first_version(&img);
    let path = format!("/images/{image}/versions/{version}");
    h.tick_until(&path, 40, |a| status_of(a) == "AVAILABLE");
    let deleted = h.rest("DELETE", &path, None);
    assert_eq!(deleted.status, 202, "{}", deleted.body);
    assert!(deleted.header("operation-location").is_some());
    h.tick_until(&format!("/images/{image}"), 40, |a| a.status == 404);
    assert_eq!(h.rest("GET", &path, None).status, 404);
    let listed = h.rest("GET", "/images", None);
    assert_eq!(listed.body["totalElements"], 0, "{}", listed.body);
}

pub fn concurrent_add_version_gives_distinct_numbers(h: &Harness) {
    let img = h.sig_image("busy");
    let (image, _) = first_version(&img);
    let names: Vec<String> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..50)
            .map(|_| s.spawn(|| h.add_sig_version(&image, json!({}))))
            .collect();
        calls
            .into_iter()
            .map(|c| {
                let a = c.join().expect("caller thread");
                assert_eq!(a.status, 201, "{}", a.body);
                a.str("versionName")
            })
            .collect()
    });
    let distinct: BTreeSet<&String> = names.iter().collect();
    assert_eq!(distinct.len(), 50, "{names:?}");
    let listed = h.rest("GET", &format!("/images/{image}/versions?size=100"), None);
    assert_eq!(
        listed.body["totalElements"], 51,
        "every version is listed once"
    );
}

pub fn idempotency_key_replays_the_first_answer(h: &Harness) {
    let img = h.sig_image("idem");
    let (image, _) = first_version(&img);
    let body = json!({"osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}});
    let path = format!("/imagemgmt/v1/images/{image}/versions");
    let key = [("idempotency-key", "add-2-0-0")];
    let first = h.send("POST", &path, Some(&h.token), &key, Some(body.clone()));
    let second = h.send("POST", &path, Some(&h.token), &key, Some(body.clone()));
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 201);
    assert_eq!(first.body, second.body);
    assert_eq!(
        first.header("operation-location"),
        second.header("operation-location")
    );
    let mut other = body;
    other["description"] = json!("different");
    let clash = h.send("POST", &path, Some(&h.token), &key, Some(other));
    assert_eq!(clash.status, 422, "{}", clash.body);
    let listed = h.rest("GET", &format!("/images/{image}/versions"), None);
    assert_eq!(
        listed.body["totalElements"], 2,
        "one version created, not two"
    );
}

pub fn errors_are_precise_problems(h: &Harness) {
    let img = h.sig_image("errors");
    let (image, version) = first_version(&img);
    let problem = |a: &Answer, status: u16, field: Option<&str>| {
        assert_eq!(a.status, status, "{}", a.body);
        assert_eq!(a.header("content-type"), Some("application/problem+json"));
        assert!(a.body["code"].is_string(), "{}", a.body);
        if let Some(f) = field {
            let fields: Vec<&str> = a.body["errors"]
                .as_array()
                .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
                .unwrap_or_default();
            assert!(fields.contains(&f), "{f} not named in {}", a.body);
        }
    };
    // 400s, each naming its field.
    problem(
        &h.add_sig_version(&image, json!({"versionType": "PATCH"})),
        400,
        Some("versionType"),
    );
    problem(
        &h.add_sig_version(&image, json!({"versionType": "MINOR"})),
        400,
        Some("sourceVersionId"),
    );
    problem(
        &h.add_sig_version(&image, json!({"osType": "LINUX"})),
        400,
        Some("osType"),
    );
    problem(
        &h.add_sig_version(&image, json!({"gpuType": "PURPLE"})),
        400,
        Some("gpuType"),
    );
    let raw = h
        .http
        .post(format!(
            "{}/imagemgmt/v1/images/{image}/versions",
            h.base_url()
        ))
        .bearer_auth(&h.token)
        .body("{not json")
        .send()
        .expect("sent");
    assert_eq!(raw.status().as_u16(), 400);
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    let deep = h
        .http
        .post(format!(
            "{}/imagemgmt/v1/images/{image}/versions",
            h.base_url()
        ))
        .bearer_auth(&h.token)
        .body(deep)
        .send()
        .expect("sent");
    assert_eq!(deep.status().as_u16(), 400);
    let big = h
        .http
        .post(format!(
            "{}/imagemgmt/v1/images/{image}/versions",
            h.base_url()
        ))
        .bearer_auth(&h.token)
        .body(vec![b' '; 300 * 1024])
        .send()
        .expect("sent");
    assert_eq!(big.status().as_u16(), 413);
    // 401, 403, 404.
    problem(
        &h.send("GET", "/imagemgmt/v1/images", None, &[], None),
        401,
        None,
    );
    problem(
        &h.send("GET", "/imagemgmt/v1/images", Some("bogus"), &[], None),
        401,
        None,
    );
    problem(
        &h.rest("GET", "/images?org_id=someone-else", None),
        403,
        None,
    );
    problem(&h.add_sig_version("img-missing", json!({})), 404, None);
    problem(
        &h.add_sig_version(
            &image,
            json!({"versionType": "MINOR", "sourceVersionId": "ver-missing"}),
        ),
        404,
        None,
    );
    // 409: a marker name used twice in one image.
    let marked = h.add_sig_version(&image, json!({"markers": [{"name": "HRLite"}]}));
    assert_eq!(marked.status, 201, "{}", marked.body);
    problem(
        &h.add_sig_version(&image, json!({"markers": [{"name": "HRLite"}]})),
        409,
        None,
    );
    // 412: a stale If-Match, and publishing what is not IMPORT_COMPLETE.
    let path = format!("/imagemgmt/v1/images/{image}");
    problem(
        &h.send(
            "PATCH",
            &path,
            Some(&h.token),
            &[("if-match", "\"stale\"")],
            Some(json!({"description": "x"})),
        ),
        412,
        None,
    );
    problem(
        &h.rest(
            "POST",
            &format!("/images/{image}/versions/{version}?action=publish"),
            Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
        ),
        412,
        None,
    );
    // 422: a version whose status forbids deletion (already being deleted).
    let v2 = marked.str("versionId");
    let _ = h.tick_until(&format!("/images/{image}/versions/{v2}"), 40, |a| {
        status_of(a) == "AVAILABLE"
    });
    let first_delete = h.rest(
        "DELETE",
        &format!("/images/{image}/versions/{version}?force=true"),
        None,
    );
    assert_eq!(first_delete.status, 202, "{}", first_delete.body);
    problem(
        &h.rest(
            "DELETE",
            &format!("/images/{image}/versions/{version}"),
            None,
        ),
        422,
        None,
    );
}

pub fn orgs_are_isolated(h: &Harness) {
    let img = h.sig_image("mine");
    let (image, version) = first_version(&img);
    let theirs = |path: &str| {
        h.send(
            "GET",
            &format!("/imagemgmt/v1{path}"),
            Some(&h.other_token),
            &[],
            None,
        )
    };
    assert_eq!(theirs(&format!("/images/{image}")).status, 404);
    assert_eq!(
        theirs(&format!("/images/{image}/versions/{version}")).status,
        404
    );
    assert_eq!(theirs("/images").body["totalElements"], 0);
    let op = img
        .header("operation-location")
        .unwrap_or_default()
        .trim_start_matches("/imagemgmt/v1")
        .to_owned();
    assert_eq!(theirs(&op).status, 404);
}

/// Issue 24, item 8 (RFC 9110 §13, §9.3.2) over HTTP: a matching `If-None-Match` on GET or
/// HEAD is a bodiless 304 with the `ETag`; HEAD is GET without the body; `If-Match` with a
/// weak tag never matches (412, nothing written), nor may a write go on under
/// `If-None-Match: *`.
pub fn conditional_requests_and_head_follow_rfc_9110(h: &Harness) {
    let img = h.sig_image("conditional");
    let (image, version) = first_version(&img);
    for path in [
        format!("/imagemgmt/v1/images/{image}"),
        format!("/imagemgmt/v1/images/{image}/versions/{version}"),
    ] {
        let got = h.send("GET", &path, Some(&h.token), &[], None);
        assert_eq!(got.status, 200, "{}", got.body);
        let etag = got.header("etag").expect("ETag").to_owned();
        let weak = format!("W/{etag}");
        for (method, tag) in [
            ("GET", etag.as_str()),
            ("GET", "*"),
            ("HEAD", weak.as_str()),
        ] {
            let a = h.send(
                method,
                &path,
                Some(&h.token),
                &[("if-none-match", tag)],
                None,
            );
            assert_eq!(a.status, 304, "{method} {path} {tag}: {}", a.body);
            assert!(a.body.is_null(), "{}", a.body);
            assert_eq!(a.header("etag"), Some(etag.as_str()));
        }
        let head = h.send("HEAD", &path, Some(&h.token), &[], None);
        assert_eq!(head.status, 200);
        assert!(head.body.is_null(), "{}", head.body);
        assert_eq!(head.header("etag"), Some(etag.as_str()));
        assert_eq!(head.header("content-type"), Some("application/json"));
        for (name, tag) in [("if-match", weak.as_str()), ("if-none-match", "*")] {
            let a = h.send(
                "PATCH",
                &path,
                Some(&h.token),
                &[(name, tag)],
                Some(json!({"description": "changed"})),
            );
            assert_eq!(a.status, 412, "{name}: {tag}: {}", a.body);
        }
        let after = h.send("GET", &path, Some(&h.token), &[], None);
        assert_eq!(
            after.header("etag"),
            Some(etag.as_str()),
            "nothing was written"
        );
    }
    // HEAD on a missing resource: the 404's status, no body; a route with GET allows HEAD.
    let missing = h.rest("HEAD", "/images/img-nope", None);
    assert_eq!(missing.status, 404);
    assert!(missing.body.is_null());
    let put = h.rest("PUT", "/images", None);
    assert_eq!(put.header("allow"), Some("GET, HEAD, POST"));
}
