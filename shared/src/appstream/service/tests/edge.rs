//! The edge: dispatch, parameters, request ids, store failures and the door's settings.

use super::*;

#[test]
fn every_response_has_a_fresh_request_id() {
    let w = World::new();
    let a = w.list(&[]);
    let b = w.list(&[]);
    assert_ne!(a["RequestId"], b["RequestId"]);
    assert_eq!(
        (a["PageNumber"].clone(), a["PageSize"].clone()),
        (json!(1), json!(10))
    );
}

#[test]
fn dispatch_and_parameter_errors() {
    let w = World::new();
    assert_error(
        w.call("DescribeNothing", &[]),
        404,
        "InvalidAction.NotFound",
    );
    let mut req = w.signed("ListImage", &[]);
    for h in req.headers.iter_mut().filter(|(n, _)| n == "x-acs-version") {
        h.1 = "2020-01-01".into();
    }
    req.headers.retain(|(n, _)| n != "authorization");
    let body = req.body.clone();
    sign_into(&mut req.headers, &w.ak, "POST", "", &body);
    assert_error(answer(&w.send(&req)), 400, "InvalidVersion");

    let b = assert_error(
        w.call(
            "CreateImageByInstance",
            &[("InstanceType", "CloudDesktop"), ("ImageName", "x")],
        ),
        400,
        "MissingParameter",
    );
    assert!(message(&b).contains("InstanceId"));
    let b = assert_error(
        w.call("ListImage", &[("PageSize", "101")]),
        400,
        "InvalidParameter",
    );
    assert!(message(&b).contains("PageSize"));
    let long = "n".repeat(MAX_NAME_CHARS + 1);
    assert_error(
        w.call(
            "CreateImageByInstance",
            &[
                ("InstanceId", "ecd-1"),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", &long),
            ],
        ),
        400,
        "InvalidParameter",
    );

    let mut put = w.signed("ListImage", &[]);
    put.method = "PUT".into();
    let r = w.send(&put);
    assert_eq!((r.status, r.get_header("allow")), (405, Some("GET, POST")));
}

#[test]
fn store_failures_are_503_service_unavailable_with_retry_after() {
    let w = World::new();
    w.kv.inner.fail_next(100);
    let r = w.send(&w.signed("ListImage", &[]));
    assert_eq!(r.get_header("retry-after"), Some("1"));
    let b = assert_error(answer(&r), 503, "ServiceUnavailable");
    // The kind of failure, not the backend's words (those go to the component's log).
    assert!(!b.to_string().contains("database is locked"), "{b}");

    let w = World::new();
    w.capture("ecd-1", "one");
    w.kv.fail_get_many.set(true);
    assert_error(w.call("ListImage", &[]), 503, "ServiceUnavailable");
}

#[test]
fn settings_read_the_builder_quota_with_a_default() {
    let s = RpcSettings::from_vars(|_| None).unwrap();
    assert_eq!(s, RpcSettings::default());
    assert_eq!(s.builder_quota, DEFAULT_BUILDER_QUOTA);
    let s = RpcSettings::from_vars(|n| (n == "builder_quota").then(|| "2".into())).unwrap();
    assert_eq!(s.builder_quota, 2);
    assert!(RpcSettings::from_vars(|n| (n == "builder_quota").then(|| "0".into())).is_err());
    // The register's bound: the most accepted, and one more refused.
    let quota =
        |v: u32| RpcSettings::from_vars(move |n| (n == "builder_quota").then(|| v.to_string()));
    assert_eq!(
        quota(MAX_BUILDER_QUOTA).unwrap().builder_quota,
        MAX_BUILDER_QUOTA
    );
    assert!(quota(MAX_BUILDER_QUOTA + 1).is_err());
    assert!(RpcSettings::from_vars(|n| (n == "step_ms").then(|| "x".into())).is_err());
}
