//! Key-value operations per request for every endpoint of the REST door, counted by the
//! host (each store call a component makes), one request at a time.

use serde_json::{Value, json};
use spin_local_host::App;

/// A MAJOR Add Version from the demo gallery image `g-1` onto provider instance `pi-1`.
pub fn add_version_body() -> Value {
    json!({"osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}})
}

/// `(endpoint, status, KV operations)` for each of the 16 endpoints.
pub fn per_endpoint(app: &App, token: &str) -> anyhow::Result<Vec<(String, u16, u64)>> {
    let http = reqwest::blocking::Client::new();
    let base = format!("{}/imagemgmt/v1", app.base_url());
    let mut rows = Vec::new();
    let mut call =
        |label: &str, method: &str, path: &str, body: Option<Value>| -> anyhow::Result<Value> {
            let mut req = http
                .request(
                    reqwest::Method::from_bytes(method.as_bytes())?,
                    format!("{base}{path}"),
                )
                .bearer_auth(token);
            if let Some(b) = &body {
                req = req
                    .header("content-type", "application/json")
                    .body(b.to_string());
            }
            let before = app.kv_ops();
            let resp = req.send()?;
            let status = resp.status().as_u16();
            let text = resp.text()?;
            rows.push((format!("{method} {label}"), status, app.kv_ops() - before));
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        };
    let sig = json!({"streamName": "kvops", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
        "providerInstanceId": "pi-1", "assetDetails": {"data": {"sourceImageVersionId": "g-1",
        "isClientAccessLicenseApplicable": true, "multiSession": true}}});
    let created = call(
        "/images?action=copy-existing-image",
        "POST",
        "/images?action=copy-existing-image",
        Some(sig),
    )?;
    let image = created["id"].as_str().unwrap_or_default().to_owned();
    let v1 = created["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call("/images", "GET", "/images", None)?;
    call("/images/{id}", "GET", &format!("/images/{image}"), None)?;
    call(
        "/images/{id}",
        "PATCH",
        &format!("/images/{image}"),
        Some(json!({"description": "x"})),
    )?;
    let added = call(
        "/images/{id}/versions (Add Version)",
        "POST",
        &format!("/images/{image}/versions"),
        Some(add_version_body()),
    )?;
    let v2 = added["versionId"].as_str().unwrap_or_default().to_owned();
    call(
        "/images/{id}/versions",
        "GET",
        &format!("/images/{image}/versions"),
        None,
    )?;
    call(
        "/images/{id}/versions/{v}",
        "GET",
        &format!("/images/{image}/versions/{v1}"),
        None,
    )?;
    call(
        "/images/{id}/versions/{v}",
        "PATCH",
        &format!("/images/{image}/versions/{v1}"),
        Some(json!({"description": "y"})),
    )?;
    call(
        "/images/{id}/versions/{v}/copies",
        "GET",
        &format!("/images/{image}/versions/{v1}/copies"),
        None,
    )?;
    let op = created["versions"][0]["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    call(
        "/operations/{id}",
        "GET",
        &format!("/operations/{op}"),
        None,
    )?;
    call("/openapi.json", "GET", "/openapi.json", None)?;
    // Publish, clone and republish need settled versions: let the advancer finish (clone
    // before republish, which makes the version busy again).
    for _ in 0..40 {
        app.clock().advance(std::time::Duration::from_secs(3));
        app.fire_cron("advancer")
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    let vm = json!({"streamName": "kvops-vm", "osType": "WINDOWS", "providerInstanceId": "pi-1",
        "sourceStreamType": "AZURE_CUSTOM_VM", "assetDetails": {"data": {"vmId": "vm-1"}}});
    let vm_image = call(
        "/images?action=import-custom-vm",
        "POST",
        "/images?action=import-custom-vm",
        Some(vm),
    )?;
    let vm_id = vm_image["id"].as_str().unwrap_or_default().to_owned();
    let vm_v = vm_image["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for _ in 0..40 {
        app.clock().advance(std::time::Duration::from_secs(3));
        app.fire_cron("advancer")
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    }
    call(
        "/images/{id}/versions/{v}?action=publish",
        "POST",
        &format!("/images/{vm_id}/versions/{vm_v}?action=publish"),
        Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
    )?;
    call(
        "/images/{id}/versions/{v}/clone",
        "POST",
        &format!("/images/{image}/versions/{v1}/clone?action=clone-version"),
        Some(json!({})),
    )?;
    call(
        "/images/{id}/versions/{v}/republish",
        "POST",
        &format!("/images/{image}/versions/{v1}/republish"),
        Some(json!({})),
    )?;
    call(
        "/images/{id}/versions/{v}",
        "DELETE",
        &format!("/images/{image}/versions/{v2}?force=true"),
        None,
    )?;
    call("/images/{id}", "DELETE", &format!("/images/{vm_id}"), None)?;
    Ok(rows)
}

/// The table of [`per_endpoint`].
pub fn render(rows: &[(String, u16, u64)]) -> String {
    let mut s = String::from(
        "\n### KV operations per request, every REST endpoint (one request each)\n\n| endpoint | status | KV ops |\n|---|---:|---:|\n",
    );
    for (name, status, ops) in rows {
        s.push_str(&format!("| {name} | {status} | {ops} |\n"));
    }
    s
}
