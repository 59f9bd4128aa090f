//! The app as a Spin app: health, the cron heartbeat, unknown routes, store failures.

use crate::Harness;

/// Scenarios that need our host: [`LOCAL_ONLY`] names them, each says why.
pub const LOCAL_ONLY: [&str; 2] = [
    "healthz_shows_the_app_and_the_last_tick",
    "a_failing_store_is_a_clean_503_and_recovers",
];

/// On either target: `/healthz` tells anyone the status and describes the app to the
/// admin token, and a tick later it shows a newer heartbeat whose times agree.
pub fn healthz_shows_a_newer_tick_after_a_tick(h: &Harness) {
    // Anyone learns the status; the engine's figures are the operator's (the admin token).
    let anonymous = h.send("GET", "/healthz", None, &[], None);
    assert_eq!(anonymous.status, 200, "{}", anonymous.body);
    assert_eq!(anonymous.body, serde_json::json!({"status": "ok"}));
    let wrong = h.send("GET", "/healthz", Some("not-the-admin-token"), &[], None);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.get("engine").is_none(), "{}", wrong.body);
    let before = h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.header("content-type"), Some("application/json"));
    assert_eq!(before.body["app"], "image-catalog");
    assert_eq!(before.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(before.body["store"]["reachable"], true);
    let count = before.body["cron"]["lastTick"]["count"]
        .as_i64()
        .unwrap_or(0);
    h.tick(2);
    let after = h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None);
    let tick = &after.body["cron"]["lastTick"];
    assert!(
        tick["count"].as_i64().unwrap_or(0) > count,
        "{} then {}",
        before.body,
        after.body
    );
    let timestamp = tick["timestamp"].as_u64().expect("timestamp");
    let ran_at_ms = tick["ranAtMs"].as_u64().expect("ranAtMs");
    // The scheduled second and the component's clock agree (within a loaded machine's lag).
    assert!(
        ran_at_ms >= timestamp * 1000 && ran_at_ms < (timestamp + 5) * 1000,
        "{}",
        after.body
    );
    assert!(timestamp <= h.now_secs(), "{}", after.body);
}

/// Local only: it asserts the exact tick timestamps of the moved clock, and that no
/// tick ran before the first (real Spin's cron ticks from the start).
pub fn healthz_shows_the_app_and_the_last_tick(h: &Harness) {
    let before = h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.header("content-type"), Some("application/json"));
    assert_eq!(before.body["app"], "image-catalog");
    assert_eq!(before.body["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(before.body["store"]["reachable"], true);
    assert!(before.body["cron"]["lastTick"].is_null(), "{}", before.body);

    h.tick(2);
    h.tick(2);
    let after = h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None);
    let tick = &after.body["cron"]["lastTick"];
    assert_eq!(tick["count"], 2, "{}", after.body);
    assert_eq!(tick["timestamp"], crate::T0_SECS + 4);
    assert_eq!(tick["ranAtMs"], (crate::T0_SECS + 4) * 1000);
}

/// The `type` every problem of the app carries for `code`.
fn problem_type(code: &str) -> String {
    format!(
        "urn:image-catalog:problem:{}",
        code.to_ascii_lowercase().replace('_', "-")
    )
}

/// Unknown paths answer a JSON 404 in the app's one problem shape: the catch-all's 404
/// and a door's 404 differ only by code, and `/healthz`'s 405 is a problem too.
pub fn unknown_paths_get_a_json_404(h: &Harness) {
    for path in ["/nope", "/imagemgmt", "/admin", "/healthz/extra"] {
        let a = h.send("GET", path, None, &[], None);
        assert_eq!(a.status, 404, "{path}");
        assert_eq!(a.header("content-type"), Some("application/problem+json"));
        assert_eq!(a.body["code"], "ROUTE_NOT_FOUND", "{path}");
        assert_eq!(a.body["type"], problem_type("ROUTE_NOT_FOUND"), "{path}");
        assert_eq!(a.body["title"], "Not Found", "{path}");
        assert_eq!(a.body["status"], 404, "{path}");
    }
    // The imagemgmt door's 404 has the same members and the same `type` form.
    let route = h.send("GET", "/nope", None, &[], None);
    let door = h.rest("GET", "/images/img-missing", None);
    assert_eq!(door.status, 404, "{}", door.body);
    assert_eq!(
        door.header("content-type"),
        Some("application/problem+json")
    );
    let code = door.body["code"].as_str().expect("code");
    assert_eq!(door.body["type"], problem_type(code), "{}", door.body);
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&route.body),
        keys(&door.body),
        "{} / {}",
        route.body,
        door.body
    );

    let post = h.send("POST", "/healthz", None, &[], None);
    assert_eq!(post.status, 405, "{}", post.body);
    assert_eq!(
        post.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(post.body["code"], "METHOD_NOT_ALLOWED");
    assert_eq!(post.body["type"], problem_type("METHOD_NOT_ALLOWED"));
}

/// Local only: it injects store faults.
pub fn a_failing_store_is_a_clean_503_and_recovers(h: &Harness) {
    h.local().faults().fail_rate(1.0, 7);
    let down = h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None);
    assert_eq!(down.status, 503, "{}", down.body);
    assert_eq!(down.body["store"]["reachable"], false);
    // A stable code, not the store's own words (those go to the component's stderr).
    assert_eq!(
        down.body["store"]["error"], "STORE_UNREACHABLE",
        "{}",
        down.body
    );
    let logs = h.local().logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("healthz: store") && l.contains("unreachable")),
        "{logs:?}"
    );
    let listed = h.rest("GET", "/images", None);
    assert_eq!(listed.status, 503, "{}", listed.body);
    assert!(listed.header("retry-after").is_some());
    // The kind's fixed text, not the store's words: those go to the door's log.
    assert_eq!(listed.body["code"], "STORE_BUSY", "{}", listed.body);
    assert_eq!(
        listed.body["detail"],
        catalog_model::api::STORE_BUSY_MESSAGE,
        "{}",
        listed.body
    );
    assert!(
        !listed
            .body
            .to_string()
            .contains(spin_local_kv::INJECTED_MESSAGE),
        "{}",
        listed.body
    );
    let logs = h.local().logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("imagemgmt STORE_BUSY:")
                && l.contains(spin_local_kv::INJECTED_MESSAGE)),
        "{logs:?}"
    );
    h.local().faults().clear();
    assert_eq!(
        h.send("GET", "/healthz", Some(crate::ADMIN_TOKEN), &[], None)
            .status,
        200
    );
    assert_eq!(h.rest("GET", "/images", None).status, 200);
}

pub fn admin_needs_the_admin_token(h: &Harness) {
    let none = h.send(
        "PUT",
        "/admin/v1/orgs/x",
        None,
        &[],
        Some(serde_json::json!({})),
    );
    assert_eq!(none.status, 401);
    let wrong = h.send(
        "PUT",
        "/admin/v1/orgs/x",
        Some("not-the-token"),
        &[],
        Some(serde_json::json!({})),
    );
    assert_eq!(wrong.status, 401);
    // A REST token is no admin token.
    let rest = h.send("PUT", "/admin/v1/orgs/x", Some(&h.token), &[], None);
    assert_eq!(rest.status, 401);
}
