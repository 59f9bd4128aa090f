//! The admin API through [`handle`], as a client calls it.

use super::*;
use crate::env::FakeEnv;
use crate::sim::{InstanceType, Simulation};
use crate::store::MemoryKv;
use crate::vocab::{GpuType, OsType};
use serde_json::json;

mod credentials;

const TOKEN: &str = "admin-secret";

pub(super) fn call(st: &Store<'_>, method: &str, path: &str, body: &str) -> Response {
    let headers = vec![("Authorization".to_owned(), format!("Bearer {TOKEN}"))];
    handle(
        st,
        &config(Some(TOKEN)),
        method,
        path,
        &headers,
        body.as_bytes(),
    )
}

/// Two shards, so the engine view stays short.
static SETTINGS: std::sync::LazyLock<Settings> = std::sync::LazyLock::new(|| Settings {
    due_shards: 2,
    ..Settings::default()
});

static SECRETS: std::sync::LazyLock<crate::secrets::Secrets> =
    std::sync::LazyLock::new(crate::secrets::Secrets::for_tests);

fn config(admin_token: Option<&str>) -> Config<'_> {
    Config {
        admin_token,
        tick_token: None,
        settings: &SETTINGS,
        query: "",
        secrets: &SECRETS,
    }
}

pub(super) fn body(r: &Response) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

pub(super) fn setup() -> (MemoryKv, FakeEnv) {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(1_800_000_000_000));
    assert_eq!(
        call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1",
            r#"{"name":"Org 1"}"#
        )
        .status,
        201
    );
    (kv, env)
}

#[test]
fn without_a_configured_token_every_call_is_503() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    for configured in [None, Some(""), Some("  ")] {
        let r = handle(
            &Store::new(&kv, &env),
            &config(configured),
            "PUT",
            "/admin/v1/orgs/o1",
            &[],
            b"{}",
        );
        assert_eq!(r.status, 503);
        assert!(body(&r)["detail"].as_str().unwrap().contains("admin_token"));
    }
    assert!(kv.keys().is_empty());
}

#[test]
fn a_missing_or_wrong_token_is_401() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    let wrong = vec![("authorization".to_owned(), "Bearer nope".to_owned())];
    for headers in [vec![], wrong] {
        let r = handle(
            &Store::new(&kv, &env),
            &config(Some(TOKEN)),
            "PUT",
            "/admin/v1/orgs/o1",
            &headers,
            b"",
        );
        assert_eq!(r.status, 401);
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| n == "content-type" && v == "application/problem+json")
        );
    }
    assert!(kv.keys().is_empty());
}

#[test]
fn two_authorization_headers_are_refused_even_with_the_admin_token_first() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
    let bearer = |t: &str| ("authorization".to_owned(), format!("Bearer {t}"));
    let headers = vec![bearer(TOKEN), bearer("nope")];
    let r = handle(
        &Store::new(&kv, &env),
        &config(Some(TOKEN)),
        "PUT",
        "/admin/v1/orgs/o1",
        &headers,
        b"{}",
    );
    assert_eq!(r.status, 400);
    let text = body(&r).to_string();
    assert!(
        text.contains("DUPLICATE_HEADER") && text.contains("Authorization"),
        "{text}"
    );
    assert!(kv.keys().is_empty());
}

#[test]
fn orgs_are_created_then_updated() {
    let (kv, env) = setup();
    env.advance_ms(1000);
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1",
        r#"{"name":"Renamed"}"#,
    );
    assert_eq!(r.status, 200);
    let o = org(&Store::new(&kv, &env), "o1").unwrap().unwrap();
    assert_eq!(o.name.as_deref(), Some("Renamed"));
    assert!(o.updated_at > o.created_at);
    assert_eq!(
        call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o1", "").status,
        200
    );
    assert_eq!(
        call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o2", "").status,
        404
    );
}

#[test]
fn orgs_take_partners_and_gallery_images_their_preparer() {
    let (kv, env) = setup();
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1",
        r#"{"partners":["msp-1"]}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["partners"], serde_json::json!(["msp-1"]));
    // A PUT without `partners` keeps them; `[]` clears them.
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1",
        r#"{"name":"n"}"#,
    );
    assert_eq!(body(&r)["partners"], serde_json::json!(["msp-1"]));
    assert_eq!(
        org(&Store::new(&kv, &env), "o1").unwrap().unwrap().partners,
        vec!["msp-1".to_owned()]
    );
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o2",
        r#"{"partners":[]}"#,
    );
    assert_eq!(body(&r)["partners"], serde_json::json!([]));
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1/gallery-images/g-msp",
        r#"{"grantedTo":["pi-1"],"preparedBy":"msp-1","metadata":{"k":"v"},"appScan":{"apps":["a"]}}"#,
    );
    assert_eq!(r.status, 200);
    let g = crate::sim::gallery_image(&Store::new(&kv, &env), "o1", "g-msp")
        .unwrap()
        .unwrap();
    assert_eq!(g.prepared_by.as_deref(), Some("msp-1"));
    assert_eq!(g.metadata["k"], "v");
    assert_eq!(g.app_scan["apps"], serde_json::json!(["a"]));
    for (path, b, field) in [
        ("/admin/v1/orgs/o1", r#"{"partners":"msp-1"}"#, "partners"),
        ("/admin/v1/orgs/o1", r#"{"partners":["a b"]}"#, "partners"),
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"preparedBy":"a b"}"#,
            "preparedBy",
        ),
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"metadata":[1]}"#,
            "metadata",
        ),
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"appScan":"x"}"#,
            "appScan",
        ),
    ] {
        let r = call(&Store::new(&kv, &env), "PUT", path, b);
        assert_eq!(r.status, 400, "{b}");
        assert_eq!(body(&r)["errors"][0]["field"], field, "{b}");
    }
}

#[test]
fn shared_images_are_put_and_read_by_the_platform() {
    let (kv, env) = setup();
    let path = "/admin/v1/shared-images/sys-1";
    assert_eq!(call(&Store::new(&kv, &env), "GET", path, "").status, 404);
    let r = call(&Store::new(&kv, &env), "PUT", path, "{}");
    assert_eq!(r.status, 400);
    assert_eq!(body(&r)["errors"][0]["field"], "name");
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        path,
        r#"{"osType":"DOS","name":"n"}"#,
    );
    assert_eq!(body(&r)["errors"][0]["field"], "osType");
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        path,
        r#"{"name":"Windows 11 system","osType":"WINDOWS"}"#,
    );
    assert_eq!(r.status, 201);
    assert_eq!(body(&r)["orgId"], crate::catalog::platform::ORG);
    assert_eq!(body(&r)["status"], "AVAILABLE");
    // Again: an update that keeps the name when none is given.
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        path,
        r#"{"description":"d"}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(body(&r)["name"], "Windows 11 system");
    assert_eq!(body(&r)["versionCount"], 1);
    assert_eq!(call(&Store::new(&kv, &env), "GET", path, "").status, 200);
    assert_eq!(
        call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/shared-images/a~b",
            "{}"
        )
        .status,
        400
    );
    // No admin org can be the platform.
    assert_eq!(
        call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/~platform",
            "{}"
        )
        .status,
        400
    );
}

#[test]
fn tokens_are_shown_once_and_authenticate_the_org() {
    let (kv, env) = setup();
    let r = call(
        &Store::new(&kv, &env),
        "POST",
        "/admin/v1/orgs/o1/tokens",
        "",
    );
    assert_eq!(r.status, 201);
    let token = body(&r)["token"].as_str().unwrap().to_owned();
    assert_eq!(
        auth::org_for_token(&Store::new(&kv, &env), &token)
            .unwrap()
            .as_deref(),
        Some("o1")
    );
    let r = call(
        &Store::new(&kv, &env),
        "POST",
        "/admin/v1/orgs/nobody/tokens",
        "",
    );
    assert_eq!(r.status, 404);
}

#[test]
fn access_keys_are_minted_for_an_org() {
    let (kv, env) = setup();
    let r = call(
        &Store::new(&kv, &env),
        "POST",
        "/admin/v1/orgs/o1/access-keys",
        "",
    );
    assert_eq!(r.status, 201);
    let b = body(&r);
    let id = b["accessKeyId"].as_str().unwrap();
    let rec = auth::access_key(&Store::new(&kv, &env), id)
        .unwrap()
        .unwrap();
    assert_eq!(rec.org_id, "o1");
    // Stored sealed: it opens with the app's key only.
    let secret = b["accessKeySecret"].as_str().unwrap();
    assert!(rec.access_key_secret.is_empty());
    assert_eq!(auth::secret_of(&rec, &SECRETS).unwrap(), secret);
    assert!(auth::secret_of(&rec, &crate::secrets::Secrets::default()).is_err());
    // Without a sealing key the app mints nothing (and stores nothing in clear).
    let keyless = crate::secrets::Secrets::default();
    let r = handle(
        &Store::new(&kv, &env),
        &Config {
            secrets: &keyless,
            ..config(Some(TOKEN))
        },
        "POST",
        "/admin/v1/orgs/o1/access-keys",
        &[("Authorization".to_owned(), format!("Bearer {TOKEN}"))],
        b"",
    );
    assert_eq!(r.status, 500);
    assert_eq!(body(&r)["code"], "SECRETS_KEY");
}

#[test]
fn inventory_items_take_demo_defaults() {
    let (kv, env) = setup();
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1/gallery-images/gal-1",
        r#"{"grantedTo":["pi-1"]}"#,
    );
    assert_eq!(r.status, 200);
    let g = crate::sim::gallery_image(&Store::new(&kv, &env), "o1", "gal-1")
        .unwrap()
        .unwrap();
    assert_eq!(
        (g.os_type, g.gpu_type, g.granted_to),
        (OsType::Windows, GpuType::None, vec!["pi-1".to_owned()])
    );
    assert_eq!(
        call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/instances/i-1",
            ""
        )
        .status,
        200
    );
    let i = crate::sim::instance(&Store::new(&kv, &env), "o1", "i-1")
        .unwrap()
        .unwrap();
    assert_eq!(i.instance_type, InstanceType::CloudDesktop);
    assert!(i.centralized_image && i.physical_node && i.base_image_configured);
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1/instances/i-2",
        r#"{"instanceType":"WuyingServer","physicalNode":false,"subInstances":["s-1"]}"#,
    );
    assert_eq!(r.status, 200);
    let i = crate::sim::instance(&Store::new(&kv, &env), "o1", "i-2")
        .unwrap()
        .unwrap();
    assert_eq!(i.instance_type, InstanceType::WuyingServer);
    assert!(!i.physical_node);
    assert_eq!(i.sub_instances, vec!["s-1".to_owned()]);
    for (path, b) in [
        (
            "/admin/v1/orgs/o1/provider-instances/pi-1",
            r#"{"providerLabel":"AZURE","region":"westeurope"}"#,
        ),
        (
            "/admin/v1/orgs/o1/vms/vm-1",
            r#"{"providerInstanceId":"pi-1","osType":"SERVER"}"#,
        ),
        ("/admin/v1/orgs/o1/regions/cn-hangzhou", "{}"),
    ] {
        assert_eq!(
            call(&Store::new(&kv, &env), "PUT", path, b).status,
            200,
            "{path}"
        );
        assert_eq!(
            call(&Store::new(&kv, &env), "GET", path, "").status,
            200,
            "{path}"
        );
    }
    assert_eq!(
        crate::sim::vm(&Store::new(&kv, &env), "o1", "vm-1")
            .unwrap()
            .unwrap()
            .os_type,
        OsType::Server
    );
    assert!(
        crate::sim::region(&Store::new(&kv, &env), "o1", "cn-hangzhou")
            .unwrap()
            .is_some()
    );
    assert!(
        crate::sim::provider_instance(&Store::new(&kv, &env), "o1", "pi-1")
            .unwrap()
            .is_some()
    );
}

#[test]
fn validation_errors_name_the_field() {
    let (kv, env) = setup();
    for (path, b, field) in [
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"osType":"windows"}"#,
            "osType",
        ),
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"gpuType":1}"#,
            "gpuType",
        ),
        (
            "/admin/v1/orgs/o1/gallery-images/g",
            r#"{"grantedTo":"pi"}"#,
            "grantedTo",
        ),
        (
            "/admin/v1/orgs/o1/instances/i",
            r#"{"instanceType":"Laptop"}"#,
            "instanceType",
        ),
        (
            "/admin/v1/orgs/o1/instances/i",
            r#"{"physicalNode":"yes"}"#,
            "physicalNode",
        ),
        (
            "/admin/v1/orgs/o1/provider-instances/p",
            r#"{"providerLabel":"AWS"}"#,
            "providerLabel",
        ),
        ("/admin/v1/orgs/o1/vms/bad%2Fid", "{}", "id"),
        ("/admin/v1/orgs/o!/vms/v", "{}", "orgId"),
        (
            "/admin/v1/simulation",
            r#"{"failureRate":1.5}"#,
            "failureRate",
        ),
        ("/admin/v1/simulation", r#"{"stepMs":0}"#, "stepMs"),
        (
            "/admin/v1/simulation",
            r#"{"failingSteps":[{"step":"x"}]}"#,
            "failingSteps",
        ),
    ] {
        let r = call(&Store::new(&kv, &env), "PUT", path, b);
        assert_eq!(r.status, 400, "{path} {b}");
        assert_eq!(body(&r)["errors"][0]["field"], json!(field), "{path} {b}");
    }
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1/vms/v",
        "[1]",
    );
    assert_eq!(
        (r.status, body(&r)["code"].clone()),
        (400, json!("INVALID_JSON"))
    );
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/orgs/o1/vms/v",
        "{",
    );
    assert_eq!(r.status, 400);
}

#[test]
fn simulation_settings_are_stored_and_read_back() {
    let (kv, env) = setup();
    let r = call(
        &Store::new(&kv, &env),
        "PUT",
        "/admin/v1/simulation",
        r#"{"seed":7,"failureRate":0.25,"stepMs":100,"maxAttempts":2,
            "failingSteps":[{"sourceId":"gal-1","step":"replicating","code":"X"}]}"#,
    );
    assert_eq!(r.status, 200);
    let s = Simulation::load(&Store::new(&kv, &env)).unwrap();
    assert_eq!((s.seed, s.failure_rate, s.step_ms), (7, 0.25, Some(100)));
    assert_eq!(s.max_attempts, Some(2));
    assert_eq!(s.failing_steps[0].code.as_deref(), Some("X"));
    let got = call(&Store::new(&kv, &env), "GET", "/admin/v1/simulation", "");
    assert_eq!(body(&got)["seed"], json!(7));
}

#[test]
fn unknown_paths_and_methods_are_refused() {
    let (kv, env) = setup();
    assert_eq!(
        call(&Store::new(&kv, &env), "GET", "/admin/v1/nope", "").status,
        404
    );
    assert_eq!(
        call(
            &Store::new(&kv, &env),
            "GET",
            "/admin/v1/orgs/o1/widgets/w",
            ""
        )
        .status,
        404
    );
    let r = call(&Store::new(&kv, &env), "PATCH", "/admin/v1/orgs/o1", "");
    assert_eq!(r.status, 405);
    assert!(r.headers.iter().any(|(n, _)| n == "allow"));
    let big = "x".repeat(MAX_BODY + 1);
    assert_eq!(
        call(&Store::new(&kv, &env), "PUT", "/admin/v1/orgs/o1", &big).status,
        413
    );
}

#[test]
fn a_busy_store_is_503_with_retry_after() {
    let (kv, env) = setup();
    kv.fail_next(10);
    let r = call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o1", "");
    assert_eq!(r.status, 503);
    assert!(
        r.headers
            .iter()
            .any(|(n, v)| n == "retry-after" && v == "1")
    );
}

#[test]
fn the_route_table_is_sound_and_a_405_lists_the_rows_methods() {
    assert_eq!(ROUTES.conflicts(), Vec::<String>::new());
    let (kv, env) = setup();
    for (path, allow) in [
        ("/admin/v1/simulation", "GET, HEAD, PUT"),
        ("/admin/v1/shared-images/s-1", "GET, HEAD, PUT"),
        ("/admin/v1/orgs/o1", "GET, HEAD, PUT, DELETE"),
        ("/admin/v1/orgs/o1/tokens", "GET, HEAD, POST"),
        ("/admin/v1/orgs/o1/access-keys", "GET, HEAD, POST"),
        ("/admin/v1/orgs/o1/provider-instances/x", "GET, HEAD, PUT"),
        ("/admin/v1/orgs/o1/gallery-images/x", "GET, HEAD, PUT"),
        ("/admin/v1/orgs/o1/vms/x", "GET, HEAD, PUT"),
        ("/admin/v1/orgs/o1/instances/x", "GET, HEAD, PUT"),
        ("/admin/v1/orgs/o1/regions/x", "GET, HEAD, PUT"),
        ("/admin/v1/engine", "GET, HEAD"),
        ("/admin/v1/engine/tick", "POST"),
    ] {
        let r = call(&Store::new(&kv, &env), "PATCH", path, "");
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.get_header("allow"), Some(allow), "{path}");
        assert_eq!(body(&r)["code"], "METHOD_NOT_ALLOWED", "{path}");
        assert_eq!(body(&r)["detail"], format!("use {allow} on this path"));
    }
    assert_eq!(ROUTES.routes.len(), 16);
}

#[test]
fn every_inventory_row_reads_and_writes_its_own_kind() {
    let (kv, env) = setup();
    for (pattern, _) in ROUTES.routes.iter().filter(|(p, _)| p.ends_with("/{id}")) {
        let path = pattern.replace("{orgId}", "o1").replace("{id}", "x-1");
        let kind = path.split('/').nth(5).unwrap();
        let r = call(&Store::new(&kv, &env), "GET", &path, "");
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(body(&r)["detail"], format!("no {kind} item x-1 in org o1"));
        let r = call(&Store::new(&kv, &env), "PUT", &path, "{}");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(body(&r)["id"], "x-1", "{path}");
        assert_eq!(call(&Store::new(&kv, &env), "GET", &path, "").status, 200);
        // The org of the path must exist.
        let elsewhere = path.replace("/o1/", "/o2/");
        let r = call(&Store::new(&kv, &env), "GET", &elsewhere, "");
        assert_eq!(
            (r.status, body(&r)["code"].clone()),
            (404, json!("ORG_NOT_FOUND"))
        );
    }
}

#[test]
fn every_refusal_has_one_problem_shape() {
    for (e, status, code) in [
        (AdminError::Disabled, 503, "ADMIN_DISABLED"),
        (AdminError::Unauthorized, 401, "UNAUTHORIZED"),
        (AdminError::BodyTooLarge, 413, "BODY_TOO_LARGE"),
        (AdminError::NoRoute, 404, "NOT_FOUND"),
        (
            AdminError::MethodNotAllowed {
                allow: "GET".into(),
            },
            405,
            "METHOD_NOT_ALLOWED",
        ),
        (AdminError::NotFound("x".into()), 404, "NOT_FOUND"),
        (AdminError::OrgNotFound("o".into()), 404, "ORG_NOT_FOUND"),
        (AdminError::InvalidJson("x".into()), 400, "INVALID_JSON"),
        (
            AdminError::invalid("f", "INVALID_ID", "m"),
            400,
            "VALIDATION_FAILED",
        ),
        (
            AdminError::Store(crate::store::StoreError::Transient("busy".into())),
            503,
            "STORE_BUSY",
        ),
    ] {
        let r = Response::from(e);
        assert_eq!((r.status, body(&r)["code"].clone()), (status, json!(code)));
        assert_eq!(
            r.get_header("content-type"),
            Some("application/problem+json")
        );
    }
}

#[test]
fn the_engine_view_shows_each_shard_and_lane_and_needs_the_token() {
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    let r = call(&st, "GET", "/admin/v1/engine", "");
    assert_eq!(r.status, 200);
    let v = body(&r);
    assert_eq!(v["shards"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["lanes"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["shards"][1]["ring"], Value::Null);
    let r = handle(
        &st,
        &config(Some(TOKEN)),
        "GET",
        "/admin/v1/engine",
        &[],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = call(&st, "PUT", "/admin/v1/engine", "{}");
    assert_eq!(r.status, 405);
}
