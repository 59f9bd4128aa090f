//! The door end to end over `MemoryKv` + `FakeEnv`: every request goes through [`handle`],
//! so these assert what a client sees (status, headers, body).

use super::*;
use crate::api::MAX_BODY_BYTES;
use crate::catalog::{Image, Version};
use crate::env::{Env, FakeEnv};
use crate::keys;
use crate::records;
use crate::records::Store;
use crate::sim::{GalleryImage, ProviderInstance, Vm};
use crate::store::MemoryKv;
use crate::vocab::{GpuType, OsType, ProviderLabel};
use serde_json::json;

const T0: i64 = 1_760_000_000_000;

struct World {
    kv: MemoryKv,
    env: FakeEnv,
    settings: Settings,
    token: String,
}

impl World {
    fn new() -> Self {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
        let token = auth::mint_token(&Store::new(&kv, &env), "o1").unwrap();
        let w = World {
            kv,
            env,
            settings: Settings::default(),
            token,
        };
        w.inventory("o1");
        w
    }

    fn inventory(&self, org: &str) {
        let st = &Store::new(&self.kv, &self.env);
        for pi in ["pi-1", "pi-2"] {
            st.put_new(
                &keys::provider_instance(org, pi),
                &ProviderInstance {
                    id: pi.into(),
                    provider_label: ProviderLabel::Azure,
                    region: Some("westeurope".into()),
                },
            )
            .unwrap();
        }
        st.put_new(
            &keys::gallery_image(org, "g-1"),
            &GalleryImage {
                id: "g-1".into(),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
                granted_to: vec!["pi-1".into()],
                // Prepared by the partner org `partner` (`sig_version` names it).
                prepared_by: Some("partner".into()),
                metadata: json!({"preparedFor": org}).as_object().cloned().unwrap(),
                app_scan: json!({"applications": ["Office"]})
                    .as_object()
                    .cloned()
                    .unwrap(),
            },
        )
        .unwrap();
        let record = crate::admin::Org {
            id: org.into(),
            name: None,
            partners: vec!["partner".into()],
            created_at: crate::time::Timestamp(T0),
            updated_at: crate::time::Timestamp(T0),
        };
        st.put_new(&keys::org(org), &record).unwrap();
        st.put_new(
            &keys::vm(org, "vm-1"),
            &Vm {
                id: "vm-1".into(),
                provider_instance_id: Some("pi-1".into()),
                os_type: OsType::Windows,
                gpu_type: GpuType::None,
            },
        )
        .unwrap();
    }

    fn req(&self, method: &str, target: &str, body: Option<Value>) -> ApiRequest {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        ApiRequest {
            method: method.into(),
            path: format!("{BASE}{path}"),
            query: query.into(),
            headers: vec![("authorization".into(), format!("Bearer {}", self.token))],
            body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        }
    }

    fn send(&self, req: &ApiRequest) -> ApiResponse {
        handle(&Store::new(&self.kv, &self.env), &self.settings, req)
    }

    fn call(&self, method: &str, target: &str, body: Option<Value>) -> ApiResponse {
        self.send(&self.req(method, target, body))
    }

    fn sig_image(&self, name: &str) -> Value {
        let r = self.call(
            "POST",
            "/images?action=copy-existing-image",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
                "providerInstanceId": "pi-1",
                "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                    "isClientAccessLicenseApplicable": true, "multiSession": true}}
            })),
        );
        assert_eq!(r.status, 201, "{:?}", r.json_body());
        r.json_body()
    }

    fn vm_image(&self, name: &str) -> Value {
        let r = self.call(
            "POST",
            "/images?action=import-custom-vm",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "providerInstanceId": "pi-1",
                "assetDetails": {"data": {"vmId": "vm-1"}}
            })),
        );
        assert_eq!(r.status, 201, "{:?}", r.json_body());
        r.json_body()
    }

    fn add_version(&self, image: &str, body: Value) -> ApiResponse {
        self.call("POST", &format!("/images/{image}/versions"), Some(body))
    }

    fn stored_image(&self, id: &str) -> Image {
        Store::new(&self.kv, &self.env)
            .get::<Image>(&keys::image("o1", id))
            .unwrap()
            .unwrap()
            .value
    }

    fn edit_version(&self, id: &str, f: impl Fn(&mut Version)) {
        Store::new(&self.kv, &self.env)
            .update::<Version, ()>(&keys::version("o1", id), |v| {
                let mut v = v.clone();
                f(&mut v);
                records::Change::Write(v)
            })
            .unwrap();
    }

    fn edit_image(&self, id: &str, f: impl Fn(&mut Image)) {
        Store::new(&self.kv, &self.env)
            .update::<Image, ()>(&keys::image("o1", id), |v| {
                let mut v = v.clone();
                f(&mut v);
                records::Change::Write(v)
            })
            .unwrap();
    }

    /// Moves time and ticks the advancer until `done` holds (at most `limit` ticks).
    fn run_until(&self, limit: usize, mut done: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.env.advance_ms(1_000);
            crate::advancer::tick(&Store::new(&self.kv, &self.env), &self.settings, 100);
        }
        done(self)
    }
}

fn sig_version(version_type: &str) -> Value {
    json!({
        "sourceType": "AZURE_SIG", "versionType": version_type, "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1", "mspOrgId": "partner"}}
    })
}

fn first_version(img: &Value) -> (String, String) {
    (
        img["id"].as_str().unwrap().to_owned(),
        img["versions"][0]["id"].as_str().unwrap().to_owned(),
    )
}

fn problem(r: &ApiResponse) -> (u16, String) {
    let v = r.json_body();
    assert_eq!(
        r.get_header("content-type"),
        Some("application/problem+json"),
        "{v}"
    );
    (r.status, v["code"].as_str().unwrap_or("").to_owned())
}

fn error_fields(r: &ApiResponse) -> Vec<String> {
    r.json_body()["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------ auth and tenancy

#[test]
fn missing_or_unknown_tokens_are_401() {
    let w = World::new();
    let mut r = w.req("GET", "/images", None);
    r.headers.clear();
    assert_eq!(problem(&w.send(&r)), (401, "UNAUTHORIZED".into()));
    r.headers = vec![("authorization".into(), "Bearer ict_nope".into())];
    assert_eq!(w.send(&r).status, 401);
    r.headers = vec![("authorization".into(), "Basic abc".into())];
    assert_eq!(w.send(&r).status, 401);
}

#[test]
fn org_mismatch_is_403_and_another_orgs_record_is_404() {
    let w = World::new();
    let img = w.sig_image("win");
    let id = img["id"].as_str().unwrap();
    assert_eq!(w.call("GET", "/images?org_id=o1", None).status, 200);
    assert_eq!(
        problem(&w.call("GET", "/images?org_id=o2", None)),
        (403, "ORG_MISMATCH".into())
    );
    let r = w.call(
        "POST",
        "/images",
        Some(json!({"streamName": "x", "osType": "WINDOWS", "orgId": "o2"})),
    );
    assert_eq!(r.status, 403);
    // A token of another org sees nothing of o1.
    let other = auth::mint_token(&Store::new(&w.kv, &w.env), "o2").unwrap();
    let mut r = w.req("GET", &format!("/images/{id}"), None);
    r.headers = vec![("authorization".into(), format!("Bearer {other}"))];
    assert_eq!(problem(&w.send(&r)), (404, "IMAGE_NOT_FOUND".into()));
    r.path = format!("{BASE}/images");
    assert_eq!(w.send(&r).json_body()["totalElements"], 0);
}

// ------------------------------------------------------------------ create image

#[test]
fn each_create_action_makes_an_image_with_version_1_0_0_and_an_operation() {
    let w = World::new();
    let sig = w.sig_image("sig");
    let vm = w.vm_image("vm");
    let r = w.call(
        "POST",
        "/images",
        Some(json!({"streamName": "mp", "osType": "WINDOWS", "multiSession": true})),
    );
    assert_eq!(r.status, 201);
    let mp = r.json_body();
    for (img, src) in [
        (&sig, "AZURE_SIG"),
        (&vm, "AZURE_CUSTOM_VM"),
        (&mp, "AZURE_MARKET_PLACE"),
    ] {
        assert_eq!(img["sourceType"], src);
        assert_eq!(img["versions"][0]["name"], "1.0.0");
        assert_eq!(img["versions"][0]["status"], "PENDING");
        assert_eq!(img["versionCount"], 1);
        assert!(img.get("versionIds").is_none());
    }
    let loc = r.get_header("operation-location").unwrap().to_owned();
    assert!(loc.starts_with("/imagemgmt/v1/operations/tid-"));
    let op = w.call("GET", loc.strip_prefix(BASE).unwrap(), None);
    assert_eq!(op.status, 200);
    assert_eq!(op.json_body()["kind"], "import-vm");
    assert_eq!(w.call("GET", "/operations/tid-nope", None).status, 404);
}

#[test]
fn create_image_validation_names_fields() {
    let w = World::new();
    let r = w.call(
        "POST",
        "/images?action=import-custom-vm",
        Some(
            json!({"streamName": "bad name!", "osType": "DOS", "sourceStreamType": "AZURE_SIG",
                    "streamDescription": "d".repeat(1025)}),
        ),
    );
    assert_eq!(r.status, 400);
    let f = error_fields(&r);
    for want in [
        "streamName",
        "osType",
        "sourceStreamType",
        "streamDescription",
        "providerInstanceId",
    ] {
        assert!(f.contains(&want.to_owned()), "{want} in {f:?}");
    }
    assert_eq!(
        w.call("POST", "/images?action=steal", Some(json!({})))
            .status,
        400
    );
    assert!(w.kv.keys().iter().all(|k| !k.contains("/image/")));
}

#[test]
fn body_guards_are_413_and_400() {
    let w = World::new();
    let mut r = w.req("POST", "/images", None);
    r.body = vec![b' '; MAX_BODY_BYTES + 1];
    assert_eq!(problem(&w.send(&r)), (413, "BODY_TOO_LARGE".into()));
    r.body = format!("{}{}", "[".repeat(40), "]".repeat(40)).into_bytes();
    assert_eq!(problem(&w.send(&r)), (400, "JSON_TOO_DEEP".into()));
    r.body = b"{\"streamName\":".to_vec();
    assert_eq!(problem(&w.send(&r)), (400, "MALFORMED_JSON".into()));
}

// ------------------------------------------------------------------ add version

#[test]
fn numbering_major_and_minor_with_history() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let r = w.add_version(&img, sig_version("MAJOR"));
    assert_eq!(r.status, 201, "{}", r.json_body());
    let b = r.json_body();
    assert_eq!(b["versionName"], "2.0.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0"]));
    assert_eq!(b["versionStatus"], "PENDING");
    assert_eq!(b["imageId"], img.as_str());
    assert!(r.get_header("operation-location").is_some());
    let v2 = b["versionId"].as_str().unwrap().to_owned();

    let mut minor = sig_version("MINOR");
    minor["sourceVersionId"] = json!(v1);
    let b = w.add_version(&img, minor.clone()).json_body();
    assert_eq!(b["versionName"], "1.1.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0"]));
    let v11 = b["versionId"].as_str().unwrap().to_owned();
    assert_eq!(
        w.add_version(&img, minor).json_body()["versionName"],
        "1.2.0"
    );
    let mut from_11 = sig_version("MINOR");
    from_11["sourceVersionId"] = json!(v11);
    let b = w.add_version(&img, from_11).json_body();
    assert_eq!(b["versionName"], "1.3.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0", "1.1.0"]));
    let mut from_2 = sig_version("MINOR");
    from_2["sourceVersionId"] = json!(v2);
    assert_eq!(
        w.add_version(&img, from_2).json_body()["versionName"],
        "2.1.0"
    );
    // MAJOR without a source takes the newest version's history.
    let b = w.add_version(&img, sig_version("MAJOR")).json_body();
    assert_eq!(b["versionName"], "3.0.0");
    assert_eq!(b["versionHistory"], json!(["1.0.0", "2.0.0", "2.1.0"]));
    assert_eq!(w.stored_image(&img).version_count, 7);
}

#[test]
fn add_version_rules_are_400_with_the_failing_field() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    let mut b = sig_version("PATCH");
    assert_eq!(
        error_fields(&w.add_version(&img, b.clone())),
        vec!["versionType"]
    );
    b = sig_version("MINOR");
    assert_eq!(
        error_fields(&w.add_version(&img, b)),
        vec!["sourceVersionId"]
    );
    b = sig_version("MAJOR");
    b["sourceType"] = json!("AZURE_MARKET_PLACE");
    assert!(error_fields(&w.add_version(&img, b)).contains(&"sourceType".to_owned()));
    b = sig_version("MAJOR");
    b["osType"] = json!("LINUX");
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["osType"]);
    b = sig_version("MAJOR");
    b["gpuType"] = json!("NVIDIA");
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["gpuType"]);
    b = sig_version("MAJOR");
    b["gpuType"] = json!(true);
    assert_eq!(error_fields(&w.add_version(&img, b)), vec!["gpuType"]);
    b = sig_version("MAJOR");
    b["assetDetails"]["data"] = json!({});
    let f = error_fields(&w.add_version(&img, b));
    assert!(f.contains(&"assetDetails.data.sourceImageVersionId".to_owned()));
    assert!(f.contains(&"assetDetails.data.isClientAccessLicenseApplicable".to_owned()));
    assert!(f.contains(&"assetDetails.data.multiSession".to_owned()));
    b = json!({"sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1"});
    assert_eq!(
        error_fields(&w.add_version(&img, b)),
        vec!["assetDetails.data.vmId"]
    );
    // Rule 1: a marketplace image takes no versions.
    let mp = w
        .call(
            "POST",
            "/images",
            Some(json!({"streamName": "mp", "osType": "WINDOWS"})),
        )
        .json_body();
    let r = w.add_version(mp["id"].as_str().unwrap(), sig_version("MAJOR"));
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json_body()["errors"][0]["code"],
        "UNSUPPORTED_IMAGE_SOURCE_TYPE"
    );
    assert_eq!(error_fields(&r), vec!["sourceType"]);
    // Nothing was numbered by refused requests.
    assert_eq!(w.stored_image(&img).version_count, 1);
}

#[test]
fn add_version_404_and_409() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    assert_eq!(
        problem(&w.add_version("img-nope", sig_version("MAJOR"))),
        (404, "IMAGE_NOT_FOUND".into())
    );
    let mut b = sig_version("MINOR");
    b["sourceVersionId"] = json!("ver-nope");
    assert_eq!(
        problem(&w.add_version(&img, b)),
        (404, "SOURCE_VERSION_NOT_FOUND".into())
    );
    let mut b = sig_version("MAJOR");
    b["markers"] = json!(["HRPro"]);
    let r = w.add_version(&img, b.clone());
    assert_eq!(r.status, 201);
    assert_eq!(r.json_body()["markers"][0]["name"], "HRPro");
    assert_eq!(
        problem(&w.add_version(&img, b)),
        (409, "MARKER_NAME_IN_USE".into())
    );
    for status in [
        crate::vocab::ImageStatus::Deleting,
        crate::vocab::ImageStatus::Disabled,
    ] {
        w.edit_image(&img, |i| i.status = status);
        assert_eq!(
            problem(&w.add_version(&img, sig_version("MAJOR"))),
            (409, "IMAGE_NOT_WRITABLE".into())
        );
    }
}

/// An `Env` that threads can share (FakeEnv is single-threaded).
struct SharedEnv {
    seed: std::sync::atomic::AtomicU64,
}

impl Env for SharedEnv {
    fn now_ms(&self) -> i64 {
        T0
    }
    fn random_u64(&self) -> u64 {
        let z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::SeqCst);
        let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pause_ms(&self, _: u64) {}
}

#[test]
fn fifty_concurrent_add_versions_get_fifty_distinct_numbers() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let env = SharedEnv {
        seed: std::sync::atomic::AtomicU64::new(7),
    };
    let names = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for t in 0..5 {
            let (kv, settings, token) = (&w.kv, &w.settings, &w.token);
            let (env, names, img, v1) = (&env, &names, &img, &v1);
            s.spawn(move || {
                for i in 0..10 {
                    let mut body = sig_version(if (t + i) % 2 == 0 { "MAJOR" } else { "MINOR" });
                    body["sourceVersionId"] = json!(v1);
                    let req = ApiRequest {
                        method: "POST".into(),
                        path: format!("{BASE}/images/{img}/versions"),
                        query: String::new(),
                        headers: vec![("authorization".into(), format!("Bearer {token}"))],
                        body: body.to_string().into_bytes(),
                    };
                    // A client retries a 503 (contended record), as Retry-After says.
                    let st = &Store::new(kv, env);
                    let mut r = handle(st, settings, &req);
                    while r.status == 503 {
                        r = handle(st, settings, &req);
                    }
                    assert_eq!(r.status, 201, "{}", r.json_body());
                    let n = r.json_body()["versionName"].as_str().unwrap().to_owned();
                    names.lock().unwrap().push(n);
                }
            });
        }
    });
    let mut names = names.into_inner().unwrap();
    assert_eq!(names.len(), 50);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 50, "duplicate version numbers: {names:?}");
    let image = w.stored_image(&img);
    assert_eq!(image.version_count, 51);
    assert_eq!(image.version_ids.len(), 51);
}

// ------------------------------------------------------------------ idempotency

#[test]
fn idempotency_key_replays_refuses_other_bodies_and_in_flight() {
    let w = World::new();
    let body = json!({"streamName": "once", "osType": "WINDOWS"});
    let mut req = w.req("POST", "/images", Some(body));
    req.headers.push(("idempotency-key".into(), "k-1".into()));
    let first = w.send(&req);
    assert_eq!(first.status, 201);
    let again = w.send(&req);
    assert_eq!(again.status, 201);
    assert_eq!(again.body, first.body);
    assert_eq!(
        again.get_header("operation-location"),
        first.get_header("operation-location")
    );
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        1
    );

    let mut other = req.clone();
    other.body = json!({"streamName": "twice", "osType": "WINDOWS"})
        .to_string()
        .into_bytes();
    assert_eq!(
        problem(&w.send(&other)),
        (422, "IDEMPOTENCY_KEY_REUSED".into())
    );

    // After 24 hours the key is free again.
    w.env.advance_ms(idem::TTL_MS + 1);
    let later = w.send(&other);
    assert_eq!(later.status, 201);
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        2
    );

    // A first request still being recorded: 409 for the same key.
    let mut pending = w.req(
        "POST",
        "/images",
        Some(json!({"streamName": "p", "osType": "WINDOWS"})),
    );
    pending
        .headers
        .push(("idempotency-key".into(), "k-2".into()));
    let claim = idem::begin(&Store::new(&w.kv, &w.env), "o1", "k-2", &pending).unwrap();
    assert!(matches!(claim, idem::Begin::Proceed(_)));
    assert_eq!(
        problem(&w.send(&pending)),
        (409, "IDEMPOTENCY_KEY_IN_FLIGHT".into())
    );

    let mut long = req.clone();
    long.headers = vec![
        ("authorization".into(), format!("Bearer {}", w.token)),
        ("idempotency-key".into(), "k".repeat(256)),
    ];
    assert_eq!(error_fields(&w.send(&long)), vec!["Idempotency-Key"]);
}

// ------------------------------------------------------------------ listing

#[test]
fn image_listing_pages_sorts_and_searches() {
    let w = World::new();
    for i in 0..25 {
        w.env.advance_ms(1);
        let os = if i % 5 == 0 { "LINUX" } else { "WINDOWS" };
        let r = w.call(
            "POST",
            "/images",
            Some(json!({"streamName": format!("img-{i:02}"), "osType": os})),
        );
        assert_eq!(r.status, 201);
    }
    let p = w.call("GET", "/images?page=1&size=10", None).json_body();
    assert_eq!(p["numberOfElements"], 10);
    assert_eq!(p["totalElements"], 25);
    assert_eq!(p["totalPages"], 3);
    assert_eq!(
        (p["first"].clone(), p["last"].clone()),
        (json!(false), json!(false))
    );
    assert_eq!(p["content"][0]["name"], "img-10");
    let p = w.call("GET", "/images?page=2&size=10", None).json_body();
    assert_eq!(
        (p["numberOfElements"].clone(), p["last"].clone()),
        (json!(5), json!(true))
    );
    let p = w
        .call("GET", "/images?sort=name,desc&size=3", None)
        .json_body();
    let names: Vec<_> = p["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].clone())
        .collect();
    assert_eq!(
        names,
        vec![json!("img-24"), json!("img-23"), json!("img-22")]
    );
    let p = w
        .call("GET", "/images?search=osType%20%24eq%20LINUX", None)
        .json_body();
    assert_eq!(p["totalElements"], 5);
    let p = w
        .call("GET", "/images?search=name+$eq+img-07", None)
        .json_body();
    assert_eq!(p["totalElements"], 1);
    assert_eq!(
        w.call("GET", "/images?os_type=LINUX", None).json_body()["totalElements"],
        5
    );
    assert_eq!(w.call("GET", "/images", None).json_body()["size"], 20);
    assert_eq!(
        error_fields(&w.call("GET", "/images?size=101", None)),
        vec!["size"]
    );
    assert_eq!(
        error_fields(&w.call("GET", "/images?sort=secret,asc", None)),
        vec!["sort"]
    );
    assert_eq!(
        error_fields(&w.call("GET", "/images?os_type=DOS", None)),
        vec!["os_type"]
    );
}

#[test]
fn listing_reads_the_org_index_not_the_store() {
    let w = World::new();
    for i in 0..3 {
        w.call(
            "POST",
            "/images",
            Some(json!({"streamName": format!("a{i}"), "osType": "WINDOWS"})),
        );
    }
    // Noise in another org must not cost this org's listing anything.
    let noise_token = auth::mint_token(&Store::new(&w.kv, &w.env), "o2").unwrap();
    for i in 0..30 {
        let mut r = w.req(
            "POST",
            "/images",
            Some(json!({"streamName": format!("n{i}"), "osType": "WINDOWS"})),
        );
        r.headers = vec![("authorization".into(), format!("Bearer {noise_token}"))];
        assert_eq!(w.send(&r).status, 201);
    }
    let before = w.kv.ops();
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        3
    );
    // Token, counter, the platform's counter (its shared images: none here), then one read
    // per own slot and image (MemoryKv counts batch keys singly): the 30 images of the
    // other org cost nothing.
    assert_eq!(w.kv.ops() - before, 3 + 2 * 3);
}

#[test]
fn versions_and_copies_are_listed_paged() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    for _ in 0..3 {
        w.add_version(&img, sig_version("MAJOR"));
    }
    let p = w
        .call(
            "GET",
            &format!("/images/{img}/versions?sort=name,desc&size=2"),
            None,
        )
        .json_body();
    assert_eq!(p["totalElements"], 4);
    assert_eq!(p["content"][0]["name"], "4.0.0");
    let p = w
        .call(
            "GET",
            &format!("/images/{img}/versions?search=name%20$eq%202.0.0"),
            None,
        )
        .json_body();
    assert_eq!(p["totalElements"], 1);
    let c = w
        .call("GET", &format!("/images/{img}/versions/{v1}/copies"), None)
        .json_body();
    assert_eq!(c["totalElements"], 1);
    assert_eq!(c["content"][0]["providerInstanceId"], "pi-1");
    assert_eq!(c["content"][0]["status"], "COPYING_IMAGE");
    assert_eq!(
        w.call(
            "GET",
            &format!("/images/{img}/versions/ver-nope/copies"),
            None
        )
        .status,
        404
    );
}

// ------------------------------------------------------------------ ETag, PATCH

#[test]
fn etag_and_if_match_guard_patches() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let r = w.call("GET", &format!("/images/{img}"), None);
    let etag = r.get_header("etag").unwrap().to_owned();
    let mut p = w.req(
        "PATCH",
        &format!("/images/{img}"),
        Some(json!({"name": "renamed"})),
    );
    p.headers.push(("if-match".into(), "\"stale\"".into()));
    assert_eq!(problem(&w.send(&p)), (412, "PRECONDITION_FAILED".into()));
    p.headers.pop();
    p.headers.push(("if-match".into(), etag.clone()));
    let ok = w.send(&p);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json_body()["name"], "renamed");
    assert_ne!(ok.get_header("etag").unwrap(), etag);
    // The old tag no longer matches.
    assert_eq!(w.send(&p).status, 412);
    assert_eq!(
        error_fields(&w.call(
            "PATCH",
            &format!("/images/{img}"),
            Some(json!({"name": ""}))
        )),
        vec!["name"]
    );
    // Versions too.
    let vt = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .get_header("etag")
        .unwrap()
        .to_owned();
    let mut d = w.req("DELETE", &format!("/images/{img}/versions/{v1}"), None);
    d.headers.push(("if-match".into(), "\"nope\"".into()));
    assert_eq!(w.send(&d).status, 412);
    let mut pv = w.req(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"description": "new"})),
    );
    pv.headers.push(("if-match".into(), vt));
    let r = w.send(&pv);
    assert_eq!(r.status, 202);
    assert_eq!(r.json_body()["description"], "new");
}

#[test]
fn markers_are_placed_moved_and_refused_on_disabled_versions() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let v2 = w.add_version(&img, sig_version("MAJOR")).json_body()["versionId"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": ["HRLite"]})),
    );
    assert_eq!(r.status, 202);
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["markers"][0]["name"], "HRLite");
    // Moving it: it leaves v1, lands on v2; still one marker of that name.
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v2}"),
        Some(json!({"markers": [{"name": "HRLite"}]})),
    );
    assert_eq!(r.json_body()["markers"][0]["name"], "HRLite");
    let v1_now = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .json_body();
    assert_eq!(v1_now["markers"], json!([]));
    assert_eq!(w.stored_image(&img).markers.len(), 1);
    w.edit_version(&v1, |v| v.status = crate::vocab::VersionStatus::Disabled);
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": ["HRPro"]})),
    );
    assert_eq!(problem(&r), (409, "MARKER_ON_UNUSABLE_VERSION".into()));
}

// ------------------------------------------------------------------ delete

#[test]
fn delete_version_refusals_and_force() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let v2 = w.add_version(&img, sig_version("MAJOR")).json_body()["versionId"]
        .as_str()
        .unwrap()
        .to_owned();
    // PENDING: the status forbids deleting it…
    let r = w.call("DELETE", &format!("/images/{img}/versions/{v2}"), None);
    assert_eq!(problem(&r), (422, "VERSION_STATUS_FORBIDS".into()));
    assert_eq!(
        error_fields(&w.call(
            "DELETE",
            &format!("/images/{img}/versions/{v2}?force=maybe"),
            None
        )),
        vec!["force"]
    );
    // …a marker bound to pools forbids it even with force.
    w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v2}"),
        Some(json!({"markers": ["HRPro"]})),
    );
    w.edit_image(&img, |i| i.markers[0].template_count = 2);
    let r = w.call(
        "DELETE",
        &format!("/images/{img}/versions/{v2}?force=true"),
        None,
    );
    assert_eq!(problem(&r), (409, "MARKER_IN_USE".into()));
    w.edit_image(&img, |i| i.markers[0].template_count = 0);
    let r = w.call(
        "DELETE",
        &format!("/images/{img}/versions/{v2}?force=true"),
        None,
    );
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["status"], "DELETING");
    assert!(w.stored_image(&img).markers.is_empty());
    assert_eq!(
        problem(&w.call(
            "DELETE",
            &format!("/images/{img}/versions/{v2}?force=true"),
            None
        )),
        (422, "VERSION_STATUS_FORBIDS".into())
    );
    // The delete runs in the background: the version disappears.
    assert!(w.run_until(20, |w| {
        w.call("GET", &format!("/images/{img}/versions/{v2}"), None)
            .status
            == 404
    }));
    assert_eq!(w.call("GET", &format!("/images/{img}"), None).status, 200);
    let _ = v1;
}

#[test]
fn deleting_the_last_version_takes_the_image() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    assert!(w.run_until(30, |w| {
        w.call("GET", &format!("/images/{img}/versions/{v1}"), None)
            .json_body()["status"]
            == "AVAILABLE"
    }));
    let r = w.call("DELETE", &format!("/images/{img}/versions/{v1}"), None);
    assert_eq!(r.status, 202);
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "DELETING"
    );
    assert!(w.run_until(
        20,
        |w| w.call("GET", &format!("/images/{img}"), None).status == 404
    ));
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        0
    );
}

#[test]
fn delete_image_runs_in_the_background() {
    let w = World::new();
    let (img, _) = first_version(&w.vm_image("vm"));
    let r = w.call("DELETE", &format!("/images/{img}"), None);
    assert_eq!(r.status, 202);
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(
        problem(&w.call("DELETE", &format!("/images/{img}"), None)),
        (409, "IMAGE_DELETING".into())
    );
    assert!(w.run_until(
        20,
        |w| w.call("GET", &format!("/images/{img}"), None).status == 404
    ));
}

// ------------------------------------------------------------------ background work

#[test]
fn a_sig_copy_reaches_available() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let mut seen = Vec::new();
    let reached = w.run_until(40, |w| {
        let v = w
            .call("GET", &format!("/images/{img}/versions/{v1}"), None)
            .json_body();
        seen.push(v["status"].as_str().unwrap_or("").to_owned());
        v["status"] == "AVAILABLE"
    });
    assert!(reached, "{seen:?}");
    assert!(seen.contains(&"REPLICATION_IN_PROGRESS".to_owned()));
    let v = w
        .call("GET", &format!("/images/{img}/versions/{v1}"), None)
        .json_body();
    assert_eq!(v["state"], "PUBLISHED");
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "AVAILABLE"
    );
    let c = w
        .call("GET", &format!("/images/{img}/versions/{v1}/copies"), None)
        .json_body();
    assert_eq!(c["content"][0]["status"], "AVAILABLE");
    let op = w.call(
        "GET",
        &format!("/operations/{}", v["operationId"].as_str().unwrap()),
        None,
    );
    assert_eq!(op.json_body()["status"], "SUCCEEDED");
}

#[test]
fn a_sig_copy_without_access_fails_with_an_error_code_on_the_asset() {
    let w = World::new();
    let img = w.sig_image("win");
    let (img, _) = first_version(&img);
    let mut b = sig_version("MAJOR");
    b["providerInstanceId"] = json!("pi-2");
    let v = w.add_version(&img, b).json_body();
    let vid = v["versionId"].as_str().unwrap().to_owned();
    assert!(w.run_until(60, |w| {
        w.call("GET", &format!("/images/{img}/versions/{vid}"), None)
            .json_body()["status"]
            == "FAILED"
    }));
    let c = w
        .call("GET", &format!("/images/{img}/versions/{vid}/copies"), None)
        .json_body();
    assert_eq!(c["content"][0]["errorCode"], "SOURCE_IMAGE_ACCESS_DENIED");
}

#[test]
fn a_custom_vm_import_reaches_import_complete_then_publishes_to_available() {
    let w = World::new();
    let (img, v1) = first_version(&w.vm_image("vm"));
    let vpath = format!("/images/{img}/versions/{v1}");
    // Publishing before the import completed: 412.
    let r = w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})));
    assert_eq!(problem(&r), (412, "VERSION_STATUS_PRECONDITION".into()));
    assert!(
        w.run_until(40, |w| w.call("GET", &vpath, None).json_body()["status"]
            == "IMPORT_COMPLETE")
    );
    assert_eq!(
        w.call("GET", &vpath, None).json_body()["state"],
        "NOT_READY"
    );
    assert_eq!(
        w.call("GET", &format!("/images/{img}"), None).json_body()["status"],
        "IMPORT_COMPLETE"
    );
    let r = w.call(
        "POST",
        &format!("{vpath}?action=publish"),
        Some(
            json!({"replicas": [{"providerInstanceId": "pi-1"}, {"providerInstanceId": "pi-2"}],
                    "timeZone": "UTC", "orgId": "o1"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
    assert!(r.get_header("operation-location").is_some());
    assert_eq!(r.json_body()["status"], "PUBLISH_IN_PROGRESS");
    assert_eq!(
        w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})))
            .status,
        412
    );
    assert!(
        w.run_until(60, |w| w.call("GET", &vpath, None).json_body()["status"]
            == "AVAILABLE")
    );
    let v = w.call("GET", &vpath, None).json_body();
    assert_eq!(v["state"], "PUBLISHED");
    let copies = w.call("GET", &format!("{vpath}/copies"), None).json_body();
    assert_eq!(copies["totalElements"], 3);
    // Republish to one more replica.
    let r = w.call(
        "POST",
        &format!("{vpath}/republish"),
        Some(json!({"additionalReplicas": [{"providerInstanceId": "pi-3"}]})),
    );
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert_eq!(
        w.call("GET", &format!("{vpath}/copies"), None).json_body()["totalElements"],
        4
    );
    assert_eq!(
        w.call("POST", &format!("{vpath}/republish"), Some(json!({})))
            .status,
        412
    );
}

#[test]
fn clone_version_and_clone_image() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let vpath = format!("/images/{img}/versions/{v1}");
    // A PENDING version cannot be cloned.
    let r = w.call("POST", &format!("{vpath}/clone"), Some(json!({})));
    assert_eq!(problem(&r), (422, "VERSION_STATUS_FORBIDS".into()));
    assert!(
        w.run_until(30, |w| w.call("GET", &vpath, None).json_body()["status"]
            == "AVAILABLE")
    );
    let r = w.call(
        "POST",
        &format!("{vpath}/clone?action=clone-version"),
        Some(json!({})),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
    let c = r.json_body();
    assert_eq!(c["name"], "2.0.0");
    assert_eq!(c["sourceType"], "COPIED_FROM_VERSION");
    assert_eq!(c["sourceVersionId"], v1.as_str());
    assert_eq!(c["versionHistory"], json!(["1.0.0"]));
    assert_eq!(
        error_fields(&w.call(
            "POST",
            &format!("{vpath}/clone?action=clone-image"),
            Some(json!({}))
        )),
        vec!["imageName"]
    );
    let r = w.call(
        "POST",
        &format!("{vpath}/clone?action=clone-image"),
        Some(json!({"imageName": "copy"})),
    );
    assert_eq!(r.status, 201);
    let ni = r.json_body();
    assert_eq!(ni["name"], "copy");
    assert_eq!(ni["sourceStreamId"], img.as_str());
    assert_eq!(ni["versions"][0]["name"], "1.0.0");
    assert_eq!(
        w.call("GET", "/images", None).json_body()["totalElements"],
        2
    );
}

// ------------------------------------------------------------------ robustness

#[test]
fn transient_store_errors_are_503_with_retry_after() {
    let w = World::new();
    w.kv.fail_next(100);
    let r = w.call("GET", "/images", None);
    assert_eq!(problem(&r), (503, "STORE_BUSY".into()));
    assert_eq!(r.get_header("retry-after"), Some("1"));
}

#[test]
fn unknown_paths_and_methods_and_odd_inputs_never_panic() {
    let w = World::new();
    assert_eq!(w.call("GET", "/nope", None).status, 404);
    let r = w.call("PUT", "/images", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.get_header("allow"), Some("GET, POST"));
    let mut r = w.req("GET", "/images", None);
    r.path = "/other/v1/images".into();
    assert_eq!(w.send(&r).status, 404);
    assert_eq!(w.call("GET", "/images/%2F..%2F", None).status, 404);
    let (img, v1) = first_version(&w.sig_image("win"));
    assert_eq!(
        error_fields(&w.call(
            "POST",
            &format!("/images/{img}/versions/{v1}"),
            Some(json!({}))
        )),
        vec!["action"]
    );
    let bodies: [&[u8]; 6] = [
        b"null",
        b"[]",
        b"\"s\"",
        b"\xff\xfe",
        b"{\"a\":\"\\ud800\"}",
        b"1e999",
    ];
    for target in [
        "/images".to_owned(),
        format!("/images/{img}"),
        format!("/images/{img}/versions"),
        format!("/images/{img}/versions/{v1}?action=publish"),
        format!("/images/{img}/versions/{v1}/clone?action=clone-image"),
        format!("/images/{img}/versions/{v1}/republish"),
    ] {
        for b in bodies {
            for m in ["POST", "PATCH"] {
                let mut r = w.req(m, &target, None);
                r.body = b.to_vec();
                let resp = w.send(&r);
                assert!(resp.status < 500, "{m} {target}: {}", resp.status);
                assert_eq!(
                    resp.get_header("content-length"),
                    Some(resp.body.len().to_string().as_str())
                );
            }
        }
    }
}

// ------------------------------------------------------------------ OpenAPI

/// A small JSON-schema check (the subset the document uses): `$ref`, `type` (also lists),
/// `required`, `properties`, `items`, `enum`, `const`, `allOf`, `anyOf`, `oneOf` (as
/// `anyOf`; see [`request_errors`]), `pattern`, `minLength`, `maxLength`, `uniqueItems`,
/// `additionalProperties: false`.
fn check(doc: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], v, path, errs);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, s, v, path, errs);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array) {
            let ok = any.iter().any(|s| {
                let mut e = Vec::new();
                check(doc, s, v, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{path}: matches none of {key}"));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            errs.push(format!("{path}: {actual} is not {types:?}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{path}: {v} not in enum"));
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for f in req.iter().filter_map(Value::as_str) {
            if v.get(f).is_none() {
                errs.push(format!("{path}: missing {f}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, s) in props {
            if let Some(x) = obj.get(k) {
                check(doc, s, x, &format!("{path}.{k}"), errs);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(doc, items, x, &format!("{path}[{i}]"), errs);
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(s) = v.as_str() {
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(p) {
                Ok(re) if re.is_match(s) => {}
                Ok(_) => errs.push(format!("{path}: {s:?} does not match {p}")),
                Err(e) => errs.push(format!("{path}: bad pattern {p}: {e}")),
            }
        }
        let n = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
            || schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
        {
            errs.push(format!("{path}: length {n} out of bounds"));
        }
    }
    if let Some(arr) = v.as_array()
        && schema.get("uniqueItems") == Some(&Value::Bool(true))
        && arr.iter().enumerate().any(|(i, x)| arr[..i].contains(x))
    {
        errs.push(format!("{path}: items repeat"));
    }
    if let (Some(Value::Bool(false)), Some(obj), Some(props)) = (
        schema.get("additionalProperties"),
        v.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) && let Some(k) = obj.keys().find(|k| !props.contains_key(*k))
    {
        errs.push(format!("{path}: unexpected {k}"));
    }
}

/// Checks `body` against a request schema of the document; `oneOf` must match exactly one.
fn request_errors(doc: &Value, schema: &str, body: &Value) -> Vec<String> {
    let s = &doc["components"]["schemas"][schema];
    let mut errs = Vec::new();
    check(doc, s, body, "$", &mut errs);
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                check(doc, b, body, "$", &mut e);
                e.is_empty()
            })
            .count();
        if n != 1 {
            errs.push(format!("$: matches {n} of oneOf"));
        }
    }
    errs
}

/// The document's request schemas against the parsers, on the bodies this suite and the
/// README send (allowed by both) and on bodies each parser refuses (refused by both).
/// Generated requests (tests/fuzz) check the same agreement at scale.
#[test]
fn request_schemas_agree_with_the_parsers() {
    use crate::imagemgmt::input::{
        CloneRequest, CreateAction, ImageCatalogRequest, PublishRequest, VersionCreateTO,
        VersionPatch,
    };
    let doc = crate::imagemgmt::openapi::document();
    let sig_image = json!({
        "streamName": "win11", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
        "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    });
    let vm_image = json!({
        "streamName": "vm", "osType": "WINDOWS", "sourceStreamType": "AZURE_CUSTOM_VM",
        "providerInstanceId": "pi-1", "assetDetails": {"data": {"vmId": "vm-1"}}
    });
    let market =
        json!({"streamName": "m", "osType": "WVD", "sourceStreamType": "AZURE_MARKET_PLACE"});
    let mut minor = sig_version("MINOR");
    minor["sourceVersionId"] = json!("ver-1");
    let vm_version = json!({
        "sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"vmId": "vm-2"}}, "markers": [{"name": "HRLite"}]
    });
    let allowed: Vec<(&str, Value, Result<(), Problem>)> = vec![
        (
            "ImageCatalogRequest",
            sig_image.clone(),
            ImageCatalogRequest::parse(&sig_image, CreateAction::CopyExistingImage).map(drop),
        ),
        (
            "ImageCatalogRequest",
            vm_image.clone(),
            ImageCatalogRequest::parse(&vm_image, CreateAction::ImportCustomVm).map(drop),
        ),
        (
            "ImageCatalogRequest",
            market.clone(),
            ImageCatalogRequest::parse(&market, CreateAction::Import).map(drop),
        ),
        (
            "VersionCreateTO",
            sig_version("MAJOR"),
            VersionCreateTO::parse(&sig_version("MAJOR")).map(drop),
        ),
        (
            "VersionCreateTO",
            minor.clone(),
            VersionCreateTO::parse(&minor).map(drop),
        ),
        (
            "VersionCreateTO",
            vm_version.clone(),
            VersionCreateTO::parse(&vm_version).map(drop),
        ),
    ];
    for (schema, body, parsed) in allowed {
        assert_eq!(
            request_errors(&doc, schema, &body),
            Vec::<String>::new(),
            "{body}"
        );
        assert!(parsed.is_ok(), "{body}: {parsed:?}");
    }
    let others = [
        (
            "VersionPatch",
            json!({"markers": [{"name": "a"}, {"name": "b"}], "description": "d"}),
        ),
        (
            "PublishRequest",
            json!({"replicas": [{"providerInstanceId": "pi-2"}], "timeZone": "Europe/Paris"}),
        ),
        (
            "CloneRequest",
            json!({"imageName": "copy", "versionType": "MINOR"}),
        ),
    ];
    for (schema, body) in &others {
        assert_eq!(
            request_errors(&doc, schema, body),
            Vec::<String>::new(),
            "{body}"
        );
    }
    assert!(VersionPatch::parse(&others[0].1).is_ok());
    assert!(PublishRequest::parse(&others[1].1).is_ok());
    assert!(CloneRequest::parse(&others[2].1, Some("clone-image")).is_ok());

    let mut no_source = sig_version("MAJOR");
    no_source["assetDetails"]["data"] = json!({"mspOrgId": "p"});
    let mut unlicensed = sig_image.clone();
    unlicensed["assetDetails"]["data"] = json!({"sourceImageVersionId": "g-1"});
    let refused: Vec<(&str, Value, bool)> = vec![
        (
            "VersionCreateTO",
            sig_version("PATCH"),
            VersionCreateTO::parse(&sig_version("PATCH")).is_err(),
        ),
        (
            "VersionCreateTO",
            sig_version("MINOR"),
            VersionCreateTO::parse(&sig_version("MINOR")).is_err(),
        ),
        (
            "VersionCreateTO",
            no_source.clone(),
            VersionCreateTO::parse(&no_source).is_err(),
        ),
        (
            "ImageCatalogRequest",
            unlicensed.clone(),
            ImageCatalogRequest::parse(&unlicensed, CreateAction::CopyExistingImage).is_err(),
        ),
        (
            "VersionPatch",
            json!({"markers": [{"name": "a b"}]}),
            VersionPatch::parse(&json!({"markers": [{"name": "a b"}]})).is_err(),
        ),
        (
            "VersionPatch",
            json!({"markers": [{"name": "a"}, {"name": "a"}]}),
            VersionPatch::parse(&json!({"markers": [{"name": "a"}, {"name": "a"}]})).is_err(),
        ),
        (
            "PublishRequest",
            json!({"timeZone": ""}),
            PublishRequest::parse(&json!({"timeZone": ""})).is_err(),
        ),
    ];
    for (schema, body, parser_refused) in refused {
        assert!(parser_refused, "the parser should refuse {body}");
        assert!(
            !request_errors(&doc, schema, &body).is_empty(),
            "the document should refuse {body}"
        );
    }
}

fn conforms(doc: &Value, path: &str, method: &str, resp: &ApiResponse) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let code = resp.status.to_string();
    let r = &op["responses"][&code];
    assert!(
        r.is_object(),
        "{method} {path}: status {code} not documented"
    );
    let ct = resp.get_header("content-type").unwrap_or("");
    let schema = &r["content"][ct]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {code}: {ct} not documented"
    );
    let mut errs = Vec::new();
    check(doc, schema, &resp.json_body(), "$", &mut errs);
    assert!(errs.is_empty(), "{method} {path} {code}: {errs:?}");
}

#[test]
fn real_responses_match_the_openapi_document() {
    let w = World::new();
    let mut r = w.req("GET", "/openapi.json", None);
    r.headers.clear();
    let doc_resp = w.send(&r);
    assert_eq!(doc_resp.status, 200);
    let doc = doc_resp.json_body();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/images",
        "/images/{imageId}",
        "/images/{imageId}/versions",
        "/images/{imageId}/versions/{versionId}",
        "/images/{imageId}/versions/{versionId}/republish",
        "/images/{imageId}/versions/{versionId}/clone",
        "/images/{imageId}/versions/{versionId}/copies",
        "/operations/{operationId}",
        "/openapi.json",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }

    let create = w.call(
        "POST",
        "/images?action=import-custom-vm",
        Some(
            json!({"streamName": "vm", "osType": "WINDOWS", "providerInstanceId": "pi-1",
                    "assetDetails": {"data": {"vmId": "vm-1"}}}),
        ),
    );
    conforms(&doc, "/images", "post", &create);
    let (img, v1) = first_version(&create.json_body());
    conforms(&doc, "/images", "get", &w.call("GET", "/images", None));
    conforms(
        &doc,
        "/images",
        "get",
        &w.call("GET", "/images?size=0", None),
    );
    conforms(
        &doc,
        "/images",
        "post",
        &w.call("POST", "/images", Some(json!({}))),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "get",
        &w.call("GET", &format!("/images/{img}"), None),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "get",
        &w.call("GET", "/images/img-x", None),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "patch",
        &w.call(
            "PATCH",
            &format!("/images/{img}"),
            Some(json!({"description": "d"})),
        ),
    );
    let sig = w.sig_image("sig");
    let (sig_id, _) = first_version(&sig);
    let add = w.add_version(&sig_id, sig_version("MAJOR"));
    conforms(&doc, "/images/{imageId}/versions", "post", &add);
    conforms(
        &doc,
        "/images/{imageId}/versions",
        "post",
        &w.add_version(&sig_id, sig_version("PATCH")),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions",
        "get",
        &w.call("GET", &format!("/images/{sig_id}/versions"), None),
    );
    let vpath = format!("/images/{img}/versions/{v1}");
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "get",
        &w.call("GET", &vpath, None),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "post",
        &w.call("POST", &format!("{vpath}?action=publish"), Some(json!({}))),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}/copies",
        "get",
        &w.call("GET", &format!("{vpath}/copies"), None),
    );
    w.run_until(40, |w| {
        w.call("GET", &vpath, None).json_body()["status"] == "IMPORT_COMPLETE"
    });
    let publish = w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})));
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "post",
        &publish,
    );
    let loc = publish.get_header("operation-location").unwrap().to_owned();
    conforms(
        &doc,
        "/operations/{operationId}",
        "get",
        &w.call("GET", loc.strip_prefix(BASE).unwrap(), None),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "patch",
        &w.call("PATCH", &vpath, Some(json!({"markers": ["HRLite"]}))),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "delete",
        &w.call("DELETE", &format!("/images/{sig_id}"), None),
    );
}

mod partner_images;
mod vendor_values;
