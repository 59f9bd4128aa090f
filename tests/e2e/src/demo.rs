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

/// The gallery image whose copies never finish validating under [`showcase`]'s
/// simulation rule: the demo's running operation.
pub const SLOW_GALLERY_IMAGE: &str = "g-slow";

/// What `seed-demo --showcase` adds to a seeded org, so the console (`/console/`) has
/// something to show: images with MAJOR and MINOR lineage and markers, one from a
/// customer VM waiting to be published, one captured through the RPC door, one whose
/// copy failed (a gallery image not granted to the provider instance) and one whose
/// operation keeps running.
///
/// The running one needs a simulation rule (`PUT /admin/v1/simulation`, which is
/// app-wide): copies from [`SLOW_GALLERY_IMAGE`] stall in their `validating` step, which
/// has no timeout. The rule is added to the stored settings, not put in their place, and
/// it names a gallery image no test uses; still, only `./dev up` and the console's browser test
/// ask for it. An org that already has the showcase is left as it is: a second run adds nothing.
pub fn showcase(
    http: &reqwest::blocking::Client,
    base_url: &str,
    admin_token: &str,
    creds: &Credentials,
) -> Result<(), String> {
    let send = |method: &str, path: &str, bearer: &str, body: Option<Value>| {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let mut req = http
            .request(method, format!("{base_url}{path}"))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let text = resp.text().unwrap_or_default();
        if !status.is_success() {
            return Err(format!("{path}: {status} {text}"));
        }
        Ok::<Value, String>(serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    let rest = |method: &str, path: &str, body: Option<Value>| {
        send(method, &format!("/imagemgmt/v1{path}"), &creds.token, body)
    };
    // By name: images shared with every org are listed too.
    if rest("GET", "/images?search=name%20%24eq%20win11-office", None)?["totalElements"].as_u64()
        != Some(0)
    {
        return Ok(());
    }
    let org = &creds.org;
    send(
        "PUT",
        &format!("/admin/v1/orgs/{org}/gallery-images/{SLOW_GALLERY_IMAGE}"),
        admin_token,
        Some(json!({"osType": "WINDOWS", "gpuType": "NONE", "grantedTo": ["pi-1"]})),
    )?;
    let mut sim = send("GET", "/admin/v1/simulation", admin_token, None)?;
    let rule = json!({"sourceId": SLOW_GALLERY_IMAGE, "step": "validating", "stall": true});
    if let Some(rules) = sim.get_mut("failingSteps").and_then(Value::as_array_mut) {
        if !rules.contains(&rule) {
            rules.push(rule);
        }
    } else {
        sim["failingSteps"] = json!([rule]);
    }
    send("PUT", "/admin/v1/simulation", admin_token, Some(sim))?;

    let gallery = |source: &str| {
        json!({"assetType": "AZURE_IMAGE_IN_SIG", "data": {"sourceImageVersionId": source,
            "isClientAccessLicenseApplicable": true, "multiSession": true}})
    };
    let sig_image = |name: &str, description: &str, source: &str| {
        let img = rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(json!({
                "streamName": name, "streamDescription": description, "osType": "WINDOWS",
                "gpuType": "NONE", "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
                "assetDetails": gallery(source),
            })),
        )?;
        let id = img["id"].as_str().unwrap_or_default().to_owned();
        let first = img["versions"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        Ok::<(String, String), String>((id, first))
    };
    let add = |image: &str, kind: &str, source: Option<&str>, markers: &[&str]| {
        rest(
            "POST",
            &format!("/images/{image}/versions"),
            Some(json!({
                "osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
                "versionType": kind, "sourceVersionId": source, "providerInstanceId": "pi-1",
                "markers": markers, "assetDetails": gallery("g-1"),
            })),
        )
    };
    // Lineage: 1.0.0 → 2.0.0 (MAJOR, HRPro) → 2.1.0 (MINOR), and 1.1.0 (MINOR of 1.0.0, HRLite).
    let (office, v1) = sig_image("win11-office", "Windows 11 with Office", "g-1")?;
    let v2 = add(&office, "MAJOR", None, &["HRPro"])?;
    let v2 = v2["versionId"].as_str().unwrap_or_default().to_owned();
    add(&office, "MINOR", Some(&v2), &[])?;
    add(&office, "MINOR", Some(&v1), &["HRLite"])?;
    rest(
        "POST",
        "/images?action=import-custom-vm",
        Some(json!({
            "streamName": "win10-finance", "streamDescription": "From the finance team's VM",
            "osType": "WINDOWS", "gpuType": "NONE", "sourceStreamType": "AZURE_CUSTOM_VM",
            "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}},
        })),
    )?;
    sig_image(
        "win11-restricted",
        "Its gallery image is not shared with pi-1",
        "g-private",
    )?;
    sig_image(
        "win11-nightly",
        "Validation never ends (demo)",
        SLOW_GALLERY_IMAGE,
    )?;
    capture(http, base_url, creds)
}

/// A capture through the RPC door (CreateImageByInstance), signed as the SDK signs it.
fn capture(
    http: &reqwest::blocking::Client,
    base_url: &str,
    creds: &Credentials,
) -> Result<(), String> {
    let params = [
        ("InstanceId", "ecd-demo"),
        ("InstanceType", "CloudDesktop"),
        ("ImageName", "ecd-capture"),
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let headers = crate::rpc_headers(
        base_url,
        &creds.access_key_id,
        &creds.access_key_secret,
        "CreateImageByInstance",
        &params,
        now,
    );
    let mut req = http.post(format!("{base_url}/")).body(crate::form(&params));
    for (k, v) in &headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let resp = req
        .send()
        .map_err(|e| format!("CreateImageByInstance: {e}"))?;
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    if !status.is_success() {
        return Err(format!("CreateImageByInstance: {status} {text}"));
    }
    Ok(())
}
