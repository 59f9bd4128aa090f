//! The demo inventory: one org with provider instances, a gallery image, a customer VM,
//! WUYING instances and regions, created through the admin API of a running app. Used by
//! the end-to-end harness and by `./dev up` (binary `seed-demo`). Every call is a PUT
//! except the credentials, so seeding twice is harmless.

use serde_json::{Value, json};

/// Credentials minted for the demo org (secrets are shown once, here).
#[derive(Debug, Clone)]
pub struct Credentials {
    pub org: String,
    pub token: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

/// Creates `org` and its inventory on the app at `base_url`.
pub fn seed(
    http: &reqwest::blocking::Client,
    base_url: &str,
    admin_token: &str,
    org: &str,
) -> Result<Credentials, String> {
    let call = |method: &str, path: &str, body: Value| -> Result<Value, String> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let resp = http
            .request(method, format!("{base_url}{path}"))
            .bearer_auth(admin_token)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{path}: {status} {text}"));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    let base = format!("/admin/v1/orgs/{org}");
    call("PUT", &base, json!({"name": org}))?;
    for (id, region) in [("pi-1", "westeurope"), ("pi-2", "northeurope")] {
        call(
            "PUT",
            &format!("{base}/provider-instances/{id}"),
            json!({"providerLabel": "AZURE", "region": region}),
        )?;
    }
    call(
        "PUT",
        &format!("{base}/gallery-images/g-1"),
        json!({"osType": "WINDOWS", "gpuType": "NONE", "grantedTo": ["pi-1", "pi-2"]}),
    )?;
    call(
        "PUT",
        &format!("{base}/gallery-images/g-private"),
        json!({"osType": "WINDOWS", "gpuType": "NONE", "grantedTo": []}),
    )?;
    call(
        "PUT",
        &format!("{base}/vms/vm-1"),
        json!({"providerInstanceId": "pi-1", "osType": "WINDOWS", "gpuType": "NONE"}),
    )?;
    call(
        "PUT",
        &format!("{base}/instances/ecd-demo"),
        json!({"instanceType": "CloudDesktop", "osType": "WINDOWS"}),
    )?;
    call(
        "PUT",
        &format!("{base}/instances/ws-demo"),
        json!({"instanceType": "WuyingServer", "osType": "WINDOWS", "subInstances": ["s-1"]}),
    )?;
    for region in ["cn-hangzhou", "cn-shanghai"] {
        call("PUT", &format!("{base}/regions/{region}"), json!({}))?;
    }
    let token = call("POST", &format!("{base}/tokens"), json!({}))?;
    let key = call("POST", &format!("{base}/access-keys"), json!({}))?;
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    Ok(Credentials {
        org: org.to_owned(),
        token: text(&token, "token"),
        access_key_id: text(&key, "accessKeyId"),
        access_key_secret: text(&key, "accessKeySecret"),
    })
}
