//! Issue 24, item 6: an org's tokens and AccessKeys are listed by id, deleted (and
//! AccessKeys disabled), and a revoked credential is refused on the next request.

use super::*;
use crate::api::ApiRequest;
use crate::appstream::{RpcSettings, sign};

fn rest_status(st: &Store<'_>, token: &str) -> u16 {
    let mut req = ApiRequest::new("GET", "/imagemgmt/v1/images");
    req.headers = vec![("authorization".into(), format!("Bearer {token}"))];
    crate::imagemgmt::handle(st, &Settings::default(), &req).status
}

/// The status and `Code` of a signed `ListImage` by (id, secret), verified with `secrets`
/// (`Code` "200" when it succeeded).
fn rpc_with(
    st: &Store<'_>,
    secrets: &crate::secrets::Secrets,
    (id, secret): (&str, &str),
    nonce: &str,
) -> (u16, String) {
    let (headers, body) = sign::sign_form_post(
        "appstream.test",
        id,
        secret,
        "ListImage",
        &[],
        &crate::time::iso8601_s(st.now_ms()),
        nonce,
    );
    let req = ApiRequest {
        method: "POST".into(),
        path: "/".into(),
        query: String::new(),
        headers,
        body,
    };
    let settings = RpcSettings {
        secrets: secrets.clone(),
        ..RpcSettings::default()
    };
    let r = crate::appstream::handle(st, &settings, &req, "appstream.test");
    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, v["Code"].as_str().unwrap_or_default().to_owned())
}

/// The `Code` of a signed `ListImage` by (id, secret) ("200" when it succeeded).
fn rpc_code(st: &Store<'_>, id: &str, secret: &str, nonce: &str) -> String {
    rpc_with(
        st,
        &crate::secrets::Secrets::for_tests(),
        (id, secret),
        nonce,
    )
    .1
}

#[test]
fn a_deleted_token_is_refused_on_the_next_request_and_no_longer_listed() {
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    let minted = body(&call(&st, "POST", "/admin/v1/orgs/o1/tokens", "{}"));
    let (token, id) = (
        minted["token"].as_str().unwrap(),
        minted["id"].as_str().unwrap(),
    );
    let other = body(&call(&st, "POST", "/admin/v1/orgs/o1/tokens", "{}"));
    assert_eq!(rest_status(&st, token), 200);
    let listed = body(&call(&st, "GET", "/admin/v1/orgs/o1/tokens", ""));
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 2);
    assert_eq!(listed["tokens"][0]["id"], id);
    // Neither the token nor its hash is shown again, here or on the org.
    let org = call(&st, "GET", "/admin/v1/orgs/o1", "");
    for text in [listed.to_string(), String::from_utf8(org.body).unwrap()] {
        assert!(!text.contains(token) && !text.contains("hash"), "{text}");
    }
    let r = call(&st, "DELETE", &format!("/admin/v1/orgs/o1/tokens/{id}"), "");
    assert_eq!(r.status, 204);
    assert_eq!(rest_status(&st, token), 401);
    assert_eq!(rest_status(&st, other["token"].as_str().unwrap()), 200);
    let listed = body(&call(&st, "GET", "/admin/v1/orgs/o1/tokens", ""));
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
    let again = call(&st, "DELETE", &format!("/admin/v1/orgs/o1/tokens/{id}"), "");
    assert_eq!(again.status, 404);
    // Re-seeding the org keeps its credentials.
    call(&st, "PUT", "/admin/v1/orgs/o1", r#"{"name":"renamed"}"#);
    assert_eq!(rest_status(&st, other["token"].as_str().unwrap()), 200);
    let listed = body(&call(&st, "GET", "/admin/v1/orgs/o1/tokens", ""));
    assert_eq!(listed["tokens"].as_array().unwrap().len(), 1);
}

#[test]
fn an_access_key_is_disabled_enabled_and_deleted() {
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    let ak = body(&call(&st, "POST", "/admin/v1/orgs/o1/access-keys", "{}"));
    let (id, secret) = (
        ak["accessKeyId"].as_str().unwrap(),
        ak["accessKeySecret"].as_str().unwrap(),
    );
    assert_eq!(rpc_code(&st, id, secret, "nonce-0001"), "200");
    let path = format!("/admin/v1/orgs/o1/access-keys/{id}");
    let r = call(&st, "PATCH", &path, r#"{"status":"DISABLED"}"#);
    assert_eq!(body(&r)["status"], "DISABLED");
    assert_eq!(
        rpc_code(&st, id, secret, "nonce-0002"),
        "InvalidAccessKeyId.Inactive"
    );
    let listed = body(&call(&st, "GET", "/admin/v1/orgs/o1/access-keys", ""));
    assert_eq!(listed["accessKeys"][0]["status"], "DISABLED");
    assert!(!listed.to_string().contains(secret));
    call(&st, "PATCH", &path, r#"{"status":"ENABLED"}"#);
    assert_eq!(rpc_code(&st, id, secret, "nonce-0003"), "200");
    let bad = call(&st, "PATCH", &path, r#"{"status":"MAYBE"}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(call(&st, "DELETE", &path, "").status, 204);
    assert_eq!(
        rpc_code(&st, id, secret, "nonce-0004"),
        "InvalidAccessKeyId.NotFound"
    );
    let listed = body(&call(&st, "GET", "/admin/v1/orgs/o1/access-keys", ""));
    assert_eq!(listed["accessKeys"], json!([]));
    assert_eq!(
        call(&st, "PATCH", &path, r#"{"status":"ENABLED"}"#).status,
        404
    );
    // Another org's key is not this org's to touch.
    call(&st, "PUT", "/admin/v1/orgs/o2", "{}");
    let theirs = body(&call(&st, "POST", "/admin/v1/orgs/o2/access-keys", "{}"));
    let foreign = format!(
        "/admin/v1/orgs/o1/access-keys/{}",
        theirs["accessKeyId"].as_str().unwrap()
    );
    assert_eq!(call(&st, "DELETE", &foreign, "").status, 404);
    let still = body(&call(&st, "GET", "/admin/v1/orgs/o2/access-keys", ""));
    assert_eq!(still["accessKeys"].as_array().unwrap().len(), 1);
}

#[test]
fn an_org_holds_a_bounded_number_of_credentials() {
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    for _ in 0..crate::auth::MAX_CREDENTIALS {
        assert_eq!(
            call(&st, "POST", "/admin/v1/orgs/o1/tokens", "{}").status,
            201
        );
    }
    let r = call(&st, "POST", "/admin/v1/orgs/o1/tokens", "{}");
    assert_eq!(r.status, 409);
    assert_eq!(body(&r)["code"], "CREDENTIAL_LIMIT_REACHED");
    assert_eq!(
        call(&st, "POST", "/admin/v1/orgs/nobody/tokens", "{}").status,
        404
    );
}

#[test]
fn a_key_rotation_reseals_an_orgs_secrets_and_they_keep_verifying() {
    use crate::secrets::{SealingKey, Secrets};
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    let ak = body(&call(&st, "POST", "/admin/v1/orgs/o1/access-keys", "{}"));
    let (id, secret) = (
        ak["accessKeyId"].as_str().unwrap(),
        ak["accessKeySecret"].as_str().unwrap(),
    );
    let new_key = SealingKey::parse("k", &"ab".repeat(32)).ok();
    let rotating = Secrets {
        current: new_key.clone(),
        previous: Secrets::for_tests().current,
    };
    let rpc = |secrets: &Secrets, nonce: &str| rpc_with(&st, secrets, (id, secret), nonce).0;
    assert_eq!(rpc(&rotating, "rotate-0001"), 200);
    let reseal = |secrets: &Secrets| {
        let headers = vec![("Authorization".to_owned(), format!("Bearer {TOKEN}"))];
        let cfg = Config {
            secrets,
            ..config(Some(TOKEN))
        };
        body(&handle(
            &st,
            &cfg,
            "POST",
            "/admin/v1/orgs/o1/reseal-access-keys",
            &headers,
            b"",
        ))
    };
    let r = reseal(&rotating);
    assert_eq!(
        (r["resealed"].clone(), r["current"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(reseal(&rotating)["current"], 1);
    // The previous key can go: the secret opens with the new one alone.
    let only_new = Secrets {
        current: new_key,
        previous: None,
    };
    assert_eq!(rpc(&only_new, "rotate-0002"), 200);
    // And no longer with the old one.
    assert_ne!(rpc(&Secrets::for_tests(), "rotate-0003"), 200);
}

#[test]
fn the_admin_reads_an_orgs_usage_against_its_quotas() {
    let (kv, env) = setup();
    let st = Store::new(&kv, &env);
    call(&st, "POST", "/admin/v1/orgs/o1/tokens", "{}");
    let u = body(&call(&st, "GET", "/admin/v1/orgs/o1/usage", ""));
    assert_eq!(u["images"], json!({"used": 0, "quota": 1000}));
    assert_eq!(u["tokens"]["used"], 1);
    assert_eq!(u["versionsPerImage"]["quota"], 1000);
    assert_eq!(u["replicasPerVersion"]["quota"], 16);
    assert_eq!(
        call(&st, "GET", "/admin/v1/orgs/nobody/usage", "").status,
        404
    );
}
