//! The door end to end over `MemoryKv` + `FakeEnv`: every request is signed (ACS3, by the
//! model's own signing functions, or captured from the official SDK) and goes through
//! [`handle`], so these assert what an SDK user sees (status, `Code`, `Data`).

use super::*;
use crate::auth::AccessKeyRecord;
use crate::env::{Env, FakeEnv};
use crate::records::Store;
use crate::store::{CasOutcome, KeyValue, MemoryKv};
use crate::time::Timestamp;
use sha2::{Digest, Sha256};
use std::cell::Cell;

const T0: i64 = 1_760_000_000_000;
const AUTHORITY: &str = "127.0.0.1:3000";

const VECTOR_CREATE: &str = include_str!("../testdata/create_image_by_instance.json");
const VECTOR_LIST: &str = include_str!("../testdata/hand_signed_list_image.json");
const VECTOR_DELETE: &str = include_str!("../testdata/delete_image.json");
const VECTOR_DISTRIBUTE: &str = include_str!("../testdata/start_task_for_distribute_image.json");

/// A store whose calls can be made to fail by key, for the write-failure and 503 paths.
#[derive(Default)]
struct Faulty {
    inner: MemoryKv,
    /// `set` on a key containing this fails.
    fail_set_containing: std::cell::RefCell<Option<String>>,
    /// Every `get_many` fails.
    fail_get_many: Cell<bool>,
    /// Every key read (by `get` or `get_many`).
    read: std::cell::RefCell<Vec<String>>,
}

impl Faulty {
    fn note_reads<'k>(&self, keys: impl IntoIterator<Item = &'k str>) {
        self.read
            .borrow_mut()
            .extend(keys.into_iter().map(str::to_owned));
    }
    fn forget_reads(&self) {
        self.read.take();
    }
}

impl KeyValue for Faulty {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.note_reads([key]);
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if let Some(frag) = self.fail_set_containing.borrow().as_deref()
            && key.contains(frag)
        {
            return Err(StoreError::Transient("injected: database is locked".into()));
        }
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, k: &str, e: &[u8], n: &[u8]) -> Result<CasOutcome, StoreError> {
        self.inner.compare_and_swap(k, e, n)
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        if self.fail_get_many.get() {
            return Err(StoreError::Transient("injected".into()));
        }
        self.note_reads(keys.iter().map(String::as_str));
        self.inner.get_many(keys)
    }
}

struct World {
    kv: Faulty,
    env: FakeEnv,
    settings: RpcSettings,
    ak: AccessKeyRecord,
    ak2: AccessKeyRecord,
    nonce: Cell<u64>,
}

impl World {
    fn new() -> Self {
        Self::with_quota(DEFAULT_BUILDER_QUOTA)
    }

    fn with_quota(quota: u32) -> Self {
        let kv = Faulty::default();
        let env = FakeEnv::at(T0);
        let ak = auth::mint_access_key(&Store::new(&kv, &env), "o1").unwrap();
        let ak2 = auth::mint_access_key(&Store::new(&kv, &env), "o2").unwrap();
        let w = World {
            kv,
            env,
            settings: RpcSettings {
                ops: Settings::default(),
                builder_quota: quota,
            },
            ak,
            ak2,
            nonce: Cell::new(0),
        };
        w.instance("o1", "ecd-1", sim::InstanceType::CloudDesktop, |_| {});
        w.instance("o1", "ws-1", sim::InstanceType::WuyingServer, |i| {
            i.sub_instances = vec!["ps-1".into()]
        });
        w.instance("o2", "ecd-other", sim::InstanceType::CloudDesktop, |_| {});
        for r in ["cn-shanghai", "cn-beijing"] {
            Store::new(&w.kv, &w.env)
                .put_new(&keys::region("o1", r), &sim::Region { id: r.into() })
                .unwrap();
        }
        w
    }

    fn instance(
        &self,
        org: &str,
        id: &str,
        t: sim::InstanceType,
        edit: impl Fn(&mut sim::Instance),
    ) {
        let mut i = sim::Instance {
            id: id.into(),
            instance_type: t,
            os_type: OsType::Windows,
            centralized_image: true,
            physical_node: true,
            base_image_configured: true,
            sub_instances: vec![],
        };
        edit(&mut i);
        Store::new(&self.kv, &self.env)
            .put_new(&keys::instance(org, id), &i)
            .unwrap();
    }

    fn desktop(&self, id: &str) -> String {
        self.instance("o1", id, sim::InstanceType::CloudDesktop, |_| {});
        id.to_owned()
    }

    /// A POST signed like the SDK signs: form body, every header signed.
    fn signed_by(
        &self,
        ak: &AccessKeyRecord,
        action: &str,
        form: &[(&str, &str)],
        query: &str,
    ) -> ApiRequest {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    sign::rfc3986_encode(k.as_bytes()),
                    sign::rfc3986_encode(v.as_bytes())
                )
            })
            .collect::<Vec<_>>()
            .join("&")
            .into_bytes();
        self.nonce.set(self.nonce.get() + 1);
        let mut headers: Vec<(String, String)> = vec![
            ("x-acs-action".into(), action.into()),
            ("x-acs-version".into(), "2021-09-01".into()),
            ("x-acs-date".into(), iso8601_s(self.env.now_ms())),
            (
                "x-acs-signature-nonce".into(),
                format!("nonce{:016x}", self.nonce.get()),
            ),
            ("accept".into(), "application/json".into()),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
            (
                "x-acs-content-sha256".into(),
                hex::encode(Sha256::digest(&body)),
            ),
        ];
        sign_into(&mut headers, ak, "POST", query, &body);
        ApiRequest {
            method: "POST".into(),
            path: "/".into(),
            query: query.into(),
            headers,
            body,
        }
    }

    fn signed(&self, action: &str, form: &[(&str, &str)]) -> ApiRequest {
        self.signed_by(&self.ak, action, form, "")
    }

    fn send(&self, req: &ApiRequest) -> ApiResponse {
        handle(
            &Store::new(&self.kv, &self.env),
            &self.settings,
            req,
            AUTHORITY,
        )
    }

    fn call(&self, action: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.send(&self.signed(action, form));
        (r.status, r.json_body())
    }

    fn call_as(&self, ak: &AccessKeyRecord, action: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self.send(&self.signed_by(ak, action, form, ""));
        (r.status, r.json_body())
    }

    fn capture(&self, instance: &str, name: &str) -> Value {
        let (s, b) = self.call(
            "CreateImageByInstance",
            &[
                ("InstanceId", instance),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", name),
            ],
        );
        assert_eq!(s, 200, "{b}");
        b["Data"].clone()
    }

    fn list(&self, form: &[(&str, &str)]) -> Value {
        let (s, b) = self.call("ListImage", form);
        assert_eq!(s, 200, "{b}");
        b
    }

    fn listed(&self, image_id: &str) -> Option<Value> {
        let b = self.list(&[("ImageId", image_id)]);
        b["Data"].as_array().and_then(|d| d.first().cloned())
    }

    /// Moves time and ticks the advancer until `done` holds.
    fn run_until(&self, mut done: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..200 {
            if done(self) {
                return true;
            }
            self.env.advance_ms(1_000);
            crate::advancer::tick(&Store::new(&self.kv, &self.env), &self.settings.ops, 100);
        }
        done(self)
    }

    fn settle_available(&self, image_id: &str) {
        assert!(self.run_until(|w| {
            w.listed(image_id)
                .is_some_and(|i| i["Status"] == json!("AVAILABLE"))
        }));
    }
}

/// Adds `authorization` over every header present plus `host` (the URI authority, R7).
fn sign_into(
    headers: &mut Vec<(String, String)>,
    ak: &AccessKeyRecord,
    method: &str,
    query: &str,
    body: &[u8],
) {
    let mut names: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
    names.push("host".into());
    names.sort();
    let hash = headers
        .iter()
        .find(|(n, _)| n == "x-acs-content-sha256")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let view = SignedRequest {
        method,
        authority: AUTHORITY,
        raw_query: query,
        headers: &pairs,
        body,
    };
    let canonical = sign::canonical_request(&view, &names, &hash);
    let sig = sign::sign_hex(&ak.access_key_secret, &sign::string_to_sign(&canonical)).unwrap();
    headers.push((
        "authorization".into(),
        format!(
            "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={sig}",
            ak.access_key_id,
            names.join(";")
        ),
    ));
}

fn code(b: &Value) -> &str {
    b["Code"].as_str().unwrap_or("")
}

/// An error as the SDK needs it: status, Code, Message, Success false and a RequestId.
fn assert_error(r: (u16, Value), status: u16, expected: &str) -> Value {
    let (s, b) = r;
    assert_eq!((s, code(&b)), (status, expected), "{b}");
    assert_eq!(b["Success"], json!(false));
    assert!(b["Message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    assert!(
        b["RequestId"].as_str().is_some_and(|m| m.len() == 36),
        "{b}"
    );
    b
}

// ---------------------------------------------------------------------------------------
// Requests captured from the official SDK
// ---------------------------------------------------------------------------------------

/// A captured SDK request, replayed through `handle` (no `host` header: R7).
struct Vector {
    req: ApiRequest,
    authority: String,
    ak: AccessKeyRecord,
    date: Millis,
}

fn vector(text: &str) -> Vector {
    let v: Value = serde_json::from_str(text).unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_owned();
    let target = s("target");
    let query = target.split_once('?').map(|(_, q)| q.to_owned());
    let headers: Vec<(String, String)> = v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h[0].as_str().unwrap().to_ascii_lowercase(),
                h[1].as_str().unwrap().to_owned(),
            )
        })
        .filter(|(n, _)| n != "host")
        .collect();
    let date = headers
        .iter()
        .find(|(n, _)| n == "x-acs-date")
        .and_then(|(_, d)| crate::time::parse_iso8601(d))
        .unwrap();
    Vector {
        req: ApiRequest {
            method: s("method"),
            path: "/".into(),
            query: query.unwrap_or_default(),
            headers,
            body: s("body").into_bytes(),
        },
        authority: s("authority"),
        ak: AccessKeyRecord {
            access_key_id: s("access_key_id"),
            org_id: "o1".into(),
            access_key_secret: s("access_key_secret"),
            created_at: Timestamp(0),
        },
        date,
    }
}

/// A world whose clock is the vector's date and which knows the vector's AccessKey.
fn vector_world(v: &Vector) -> World {
    let w = World::new();
    w.env.advance_ms(v.date - T0);
    Store::new(&w.kv, &w.env)
        .put_new(&keys::access_key(&v.ak.access_key_id), &v.ak)
        .unwrap();
    w
}

fn replay(w: &World, v: &Vector) -> (u16, Value) {
    let r = handle(
        &Store::new(&w.kv, &w.env),
        &w.settings,
        &v.req,
        &v.authority,
    );
    assert_eq!(r.get_header("content-type"), Some(envelope::CONTENT_TYPE));
    (r.status, r.json_body())
}

#[test]
fn the_sdks_create_request_captures_with_its_names_description_and_tags() {
    let v = vector(VECTOR_CREATE);
    let w = vector_world(&v);
    w.instance("o1", "ai-0123abcd", sim::InstanceType::CloudDesktop, |_| {});
    let (s, b) = replay(&w, &v);
    assert_eq!(s, 200, "{b}");
    assert_eq!((b["Success"].clone(), code(&b)), (json!(true), "200"));
    let id = b["Data"]["ImageId"].as_str().unwrap();
    let img = w.listed(id).unwrap();
    assert_eq!(img["ImageName"], json!("my image (v1)"));
    assert_eq!(img["Description"], json!("golden image & friends: 100% ok"));
    assert_eq!(img["ProductType"], json!("CloudDesktop"));
    assert_eq!(
        img["TagList"],
        json!([{"Key": "env", "Value": "prod"}, {"Key": "team name", "Value": "a/b+c"}])
    );
}

#[test]
fn the_sdks_other_requests_reach_their_actions() {
    let v = vector(VECTOR_LIST);
    let w = vector_world(&v);
    let (s, b) = replay(&w, &v);
    assert_eq!(
        (s, b["Count"].clone(), b["PageSize"].clone()),
        (200, json!(0), json!(3))
    );
    let v = vector(VECTOR_DELETE);
    assert_error(replay(&vector_world(&v), &v), 400, "Image.NotExist");
    let v = vector(VECTOR_DISTRIBUTE);
    assert_error(replay(&vector_world(&v), &v), 400, "Image.NotExist");
}

#[test]
fn a_replayed_sdk_request_is_refused_and_its_nonce_is_purged_after_the_window() {
    let v = vector(VECTOR_LIST);
    let w = vector_world(&v);
    assert_eq!(replay(&w, &v).0, 200);
    assert_error(replay(&w, &v), 400, "SignatureNonceUsed");
    let nonce_keys = |w: &World| {
        w.kv.inner
            .keys()
            .into_iter()
            .filter(|k| k.starts_with("rpc/nonce/"))
            .count()
    };
    assert_eq!(nonce_keys(&w), 1);
    // Past date + 15 min (+ a bucket): the advancer deletes the nonce record.
    w.env.advance_ms(sign::DATE_WINDOW_MS + 10_000);
    // (A tick reads a bounded number of buckets: a few ticks catch up on 15 minutes.)
    for _ in 0..10 {
        crate::advancer::tick(&Store::new(&w.kv, &w.env), &w.settings.ops, 1000);
    }
    assert_eq!(nonce_keys(&w), 0);
    // And the date check refuses the replay from now on.
    assert_error(replay(&w, &v), 400, "InvalidTimeStamp.Expired");
}

// ---------------------------------------------------------------------------------------
// Edge: authentication, dispatch, parameters
// ---------------------------------------------------------------------------------------

#[test]
fn authentication_refusals_carry_their_codes() {
    let w = World::new();
    let mut req = w.signed("ListImage", &[]);
    req.headers.retain(|(n, _)| n != "authorization");
    let r = w.send(&req);
    assert_error((r.status, r.json_body()), 400, "MissingAuthorization");

    let stranger = AccessKeyRecord {
        access_key_id: "LTAIstranger".into(),
        ..w.ak.clone()
    };
    assert_error(
        w.call_as(&stranger, "ListImage", &[]),
        404,
        "InvalidAccessKeyId.NotFound",
    );
    let wrong = AccessKeyRecord {
        access_key_secret: "nope".into(),
        ..w.ak.clone()
    };
    assert_error(
        w.call_as(&wrong, "ListImage", &[]),
        400,
        "SignatureDoesNotMatch",
    );

    let stale = w.signed("ListImage", &[]);
    w.env.advance_ms(16 * 60 * 1000);
    let r = w.send(&stale);
    assert_error((r.status, r.json_body()), 400, "InvalidTimeStamp.Expired");
}

#[test]
fn the_host_is_the_uri_authority() {
    let w = World::new();
    let req = w.signed("ListImage", &[]);
    let r = handle(
        &Store::new(&w.kv, &w.env),
        &w.settings,
        &req,
        "other.example:80",
    );
    assert_error((r.status, r.json_body()), 400, "SignatureDoesNotMatch");
    assert_eq!(authority_of("http://127.0.0.1:3000/?a=b"), "127.0.0.1:3000");
    assert_eq!(authority_of("https://u:p@h.example/x"), "h.example");
    assert_eq!(authority_of("http://h:1"), "h:1");
    assert_eq!(authority_of("/?a=b"), "");
}

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
    let r = w.send(&req);
    assert_error((r.status, r.json_body()), 400, "InvalidVersion");

    let b = assert_error(
        w.call(
            "CreateImageByInstance",
            &[("InstanceType", "CloudDesktop"), ("ImageName", "x")],
        ),
        400,
        "MissingParameter",
    );
    assert!(b["Message"].as_str().unwrap().contains("InstanceId"));
    let b = assert_error(
        w.call("ListImage", &[("PageSize", "101")]),
        400,
        "InvalidParameter",
    );
    assert!(b["Message"].as_str().unwrap().contains("PageSize"));
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
fn a_get_with_action_and_version_in_the_query_works() {
    let w = World::new();
    let query = "Action=ListImage&Version=2021-09-01&PageSize=5";
    let mut headers: Vec<(String, String)> = vec![
        ("x-acs-date".into(), iso8601_s(w.env.now_ms())),
        ("x-acs-signature-nonce".into(), "get-nonce-0001".into()),
        (
            "x-acs-content-sha256".into(),
            hex::encode(Sha256::digest(b"")),
        ),
    ];
    sign_into(&mut headers, &w.ak, "GET", query, b"");
    let req = ApiRequest {
        method: "GET".into(),
        path: "/".into(),
        query: query.into(),
        headers,
        body: vec![],
    };
    let r = w.send(&req);
    assert_eq!(
        (r.status, r.json_body()["PageSize"].clone()),
        (200, json!(5))
    );
}

#[test]
fn store_failures_are_503_service_unavailable_with_retry_after() {
    let w = World::new();
    w.kv.inner.fail_next(100);
    let r = w.send(&w.signed("ListImage", &[]));
    assert_eq!(r.get_header("retry-after"), Some("1"));
    assert_error((r.status, r.json_body()), 503, "ServiceUnavailable");

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
    assert!(RpcSettings::from_vars(|n| (n == "step_ms").then(|| "x".into())).is_err());
}

// ---------------------------------------------------------------------------------------
// CreateImageByInstance
// ---------------------------------------------------------------------------------------

#[test]
fn a_capture_returns_ids_starts_init_and_ends_available_with_every_list_field() {
    let w = World::new();
    let (s, b) = w.call(
        "CreateImageByInstance",
        &[
            ("InstanceId", "ecd-1"),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "golden desktop"),
            ("Description", "captured"),
            ("AutoCleanUserdata", "True"),
            ("DiskType", "SYSTEM"),
            ("ProductType", "CloudDesktop"),
            ("TagList.1.Key", "team"),
            ("TagList.1.Value", "a"),
        ],
    );
    assert_eq!(
        (s, code(&b), b["Success"].clone()),
        (200, "200", json!(true))
    );
    let d = &b["Data"];
    let id = d["ImageId"].as_str().unwrap();
    let vid = d["VersionId"].as_str().unwrap();
    assert!(id.starts_with("imgc-") && vid.starts_with("iv-"));
    assert!(d["TaskId"].as_str().unwrap().starts_with("tid-"));

    let img = w.listed(id).unwrap();
    assert_eq!(img["Status"], json!("INIT"));
    assert_eq!(img["ImageName"], json!("golden desktop"));
    assert_eq!(img["Description"], json!("captured"));
    assert_eq!(img["ImageType"], json!("User"));
    assert_eq!(img["OsType"], json!("Windows"));
    assert_eq!(img["ImageCreateMode"], json!("BY_INSTANCE_ID"));
    assert_eq!(img["DiskType"], json!("SYSTEM"));
    assert_eq!(img["VersionId"], json!(vid));
    assert_eq!(img["LatestVersionId"], json!(vid));
    assert_eq!(img["VersionName"], json!("v1.0.0"));
    assert_eq!(img["OnlineVersionId"], Value::Null);
    assert_eq!(img["GmtCreate"], json!(iso8601_s(T0)));
    assert_eq!(img["TagList"], json!([{"Key": "team", "Value": "a"}]));
    assert_eq!(img["ImageRegionDistributeList"], json!([]));

    assert!(w.run_until(|w| w.listed(id).unwrap()["Status"] == json!("CREATING")));
    w.settle_available(id);
    let img = w.listed(id).unwrap();
    assert_eq!(img["OnlineVersionId"], json!(vid));
    assert!(img["GmtModified"].as_str().unwrap() > img["GmtCreate"].as_str().unwrap());
}

#[test]
fn a_capture_on_a_workstation_session() {
    let w = World::new();
    let form = |sub: &'static str| {
        [
            ("InstanceId", "ws-1"),
            ("InstanceType", "WuyingServer"),
            ("ImageName", "ws"),
            ("SubInstanceId", sub),
        ]
    };
    assert_error(
        w.call("CreateImageByInstance", &form("ps-9")),
        400,
        "Instance.NotFound",
    );
    let (s, b) = w.call("CreateImageByInstance", &form("ps-1"));
    assert_eq!(s, 200, "{b}");
}

fn capture_err(w: &World, instance: &str, t: &str) -> (u16, Value) {
    w.call(
        "CreateImageByInstance",
        &[
            ("InstanceId", instance),
            ("InstanceType", t),
            ("ImageName", "x"),
        ],
    )
}

#[test]
fn unknown_foreign_or_mistyped_instances_are_not_found() {
    let w = World::new();
    assert_error(
        capture_err(&w, "ws-nope", "WuyingServer"),
        400,
        "Instance.NotFound",
    );
    assert_error(
        capture_err(&w, "ecd-nope", "CloudDesktop"),
        400,
        "DesktopInstance.NotFound",
    );
    assert_error(
        capture_err(&w, "ecd-other", "CloudDesktop"),
        400,
        "DesktopInstance.NotFound",
    );
    assert_error(
        capture_err(&w, "ws-1", "CloudDesktop"),
        400,
        "DesktopInstance.NotFound",
    );
    assert_error(
        capture_err(&w, "ecd-1", "WuyingServer"),
        400,
        "Instance.NotFound",
    );
    assert_error(
        capture_err(&w, "a/../b", "CloudDesktop"),
        400,
        "DesktopInstance.NotFound",
    );
}

#[test]
fn instance_conditions_from_the_inventory() {
    let w = World::new();
    let t = sim::InstanceType::CloudDesktop;
    w.instance("o1", "no-central", t, |i| i.centralized_image = false);
    w.instance("o1", "no-node", t, |i| i.physical_node = false);
    w.instance("o1", "no-base", t, |i| i.base_image_configured = false);
    for (inst, expected) in [
        ("no-central", "Instance.ImageUnsupported"),
        ("no-node", "Instance.PhysicalNodeNotExist"),
        ("no-base", "InvalidBaseImage.NotConfigured"),
    ] {
        assert_error(capture_err(&w, inst, "CloudDesktop"), 400, expected);
    }
    // Refused captures leave nothing behind.
    assert_eq!(w.list(&[])["Count"], json!(0));
}

#[test]
fn a_second_capture_of_a_running_instance_is_refused_until_the_first_ends() {
    let w = World::new();
    let first = w.capture("ecd-1", "first");
    assert_error(
        capture_err(&w, "ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
    // Another instance is fine meanwhile.
    w.capture(&w.desktop("ecd-2"), "other");
    w.settle_available(first["ImageId"].as_str().unwrap());
    w.capture("ecd-1", "second");
}

#[test]
fn a_failed_capture_also_releases_the_instance() {
    let w = World::new();
    crate::sim::Simulation {
        failing_steps: vec![crate::sim::FailRule {
            source_id: "ecd-1".into(),
            step: "creating-image".into(),
            attempts: None,
            subject: None,
            code: None,
            stall: false,
        }],
        ..Default::default()
    }
    .save_for_test(&w);
    let first = w.capture("ecd-1", "doomed");
    let id = first["ImageId"].as_str().unwrap().to_owned();
    assert!(w.run_until(|w| w.listed(&id).unwrap()["Status"] == json!("CREATE_FAILED")));
    assert_eq!(w.list(&[("Status", "CREATE_FAILED")])["Count"], json!(1));
    w.capture("ecd-1", "again");
}

impl crate::sim::Simulation {
    fn save_for_test(&self, w: &World) {
        Store::new(&w.kv, &w.env)
            .put_new(&keys::simulation(), self)
            .unwrap();
    }
}

#[test]
fn the_builder_quota_caps_concurrent_captures_per_org() {
    let w = World::with_quota(2);
    let a = w.capture(&w.desktop("q-1"), "a");
    w.capture(&w.desktop("q-2"), "b");
    let q3 = w.desktop("q-3");
    assert_error(
        capture_err(&w, &q3, "CloudDesktop"),
        400,
        "ExceedBuilderQuota",
    );
    // Another org has its own quota.
    let (s, _) = w.call_as(
        &w.ak2,
        "CreateImageByInstance",
        &[
            ("InstanceId", "ecd-other"),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "o2"),
        ],
    );
    assert_eq!(s, 200);
    w.settle_available(a["ImageId"].as_str().unwrap());
    w.capture(&q3, "c");
}

#[test]
fn a_claim_whose_operation_never_appeared_expires() {
    let w = World::with_quota(1);
    let ctx = Ctx {
        st: Store::new(&w.kv, &w.env),
        settings: &w.settings,
        org: "o1".into(),
    };
    claim_capture(
        &ctx,
        RunningCapture {
            instance_id: "ecd-1".into(),
            op_id: "tid-ghost".into(),
            image_id: "imgc-ghost".into(),
            claimed_at: T0,
        },
    )
    .unwrap();
    assert_error(
        capture_err(&w, "ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
    w.env.advance_ms(CLAIM_GRACE_MS);
    w.capture("ecd-1", "after");
}

#[test]
fn a_register_whose_elected_creator_died_is_created_by_the_next_caller() {
    let w = World::new();
    // Elected, then died before writing.
    Store::new(&w.kv, &w.env)
        .counter_next(&keys::rpc_captures_claim("o1"))
        .unwrap();
    w.capture("ecd-1", "works");
    assert_error(
        capture_err(&w, "ecd-1", "CloudDesktop"),
        400,
        "ImageCreateByInstance.TaskExist",
    );
}

#[test]
fn a_record_that_cannot_be_written_is_create_desktop_image_record_failed() {
    let w = World::new();
    *w.kv.fail_set_containing.borrow_mut() = Some("/version/".into());
    assert_error(
        capture_err(&w, "ecd-1", "CloudDesktop"),
        400,
        "CreateDesktopImageRecord.Failed",
    );
    *w.kv.fail_set_containing.borrow_mut() = None;
    // The claim was given back: the instance can be captured at once.
    w.capture("ecd-1", "retry");
    assert_eq!(w.list(&[])["Count"], json!(1));
}

// ---------------------------------------------------------------------------------------
// ListImage
// ---------------------------------------------------------------------------------------

fn ids(b: &Value) -> Vec<String> {
    b["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ImageId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn list_filters_and_paging() {
    let w = World::new();
    let mut made = Vec::new();
    for i in 0..3 {
        let inst = w.desktop(&format!("p-{i}"));
        let (s, b) = w.call(
            "CreateImageByInstance",
            &[
                ("InstanceId", &inst),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", &format!("pager-{i}")),
                (
                    "ProductType",
                    if i == 0 { "CloudApp" } else { "CloudDesktop" },
                ),
                ("TagList.1.Key", "run"),
                ("TagList.1.Value", "r1"),
            ],
        );
        assert_eq!(s, 200, "{b}");
        made.push(b["Data"]["ImageId"].as_str().unwrap().to_owned());
        w.env.advance_ms(10);
    }
    w.capture(&w.desktop("untagged"), "pager-x");
    let tag = [("TagList.1.Key", "run"), ("TagList.1.Value", "r1")];

    let p1 = w.list(&[tag[0], tag[1], ("PageSize", "2"), ("PageNumber", "1")]);
    assert_eq!(
        (p1["Count"].clone(), p1["PageSize"].clone()),
        (json!(3), json!(2))
    );
    let p2 = w.list(&[tag[0], tag[1], ("PageSize", "2"), ("PageNumber", "2")]);
    let mut all = [ids(&p1), ids(&p2)].concat();
    assert_eq!(ids(&p1).len(), 2);
    // Newest first.
    assert_eq!(all[0], made[2]);
    all.sort();
    let mut expected = made.clone();
    expected.sort();
    assert_eq!(all, expected);
    let p9 = w.list(&[tag[0], tag[1], ("PageNumber", "9")]);
    assert_eq!((p9["Count"].clone(), ids(&p9).len()), (json!(3), 0));

    assert_eq!(
        ids(&w.list(&[("ImageName", "ger-1")])),
        vec![made[1].clone()]
    );
    assert_eq!(w.list(&[])["Count"], json!(4));
    let both = w.list(&[
        tag[0],
        tag[1],
        ("TagList.2.Key", "run"),
        ("TagList.2.Value", "r2"),
    ]);
    assert_eq!(both["Count"], json!(0));
    assert_eq!(
        ids(&w.list(&[("ImageId", &made[0]), ("ImageType", "User")])),
        vec![made[0].clone()]
    );
    assert_eq!(w.list(&[("ImageType", "System")])["Count"], json!(0));
    assert_eq!(w.list(&[("Status", "INIT")])["Count"], json!(4));
    assert_eq!(w.list(&[("Status", "AVAILABLE")])["Count"], json!(0));
    assert_eq!(w.list(&[("OsType", "Windows")])["Count"], json!(4));
    assert_eq!(w.list(&[("OsType", "Linux")])["Count"], json!(0));
    assert_eq!(
        ids(&w.list(&[("ProductType", "CloudApp")])),
        vec![made[0].clone()]
    );
    assert_error(
        w.call("ListImage", &[("Status", "GONE")]),
        400,
        "InvalidParameter",
    );
    // Another org sees none of them.
    let (_, other) = w.call_as(&w.ak2, "ListImage", &[]);
    assert_eq!(other["Count"], json!(0));
}

// ---------------------------------------------------------------------------------------
// Across the doors
// ---------------------------------------------------------------------------------------

#[test]
fn a_capture_is_an_imported_vms_image_of_the_same_org_in_the_rest_door() {
    let w = World::new();
    let d = w.capture("ecd-1", "cross");
    let id = d["ImageId"].as_str().unwrap();
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}"), None);
    assert_eq!(r.status, 200);
    let b = r.json_body();
    assert_eq!(
        (b["sourceType"].clone(), b["name"].clone()),
        (json!("IMPORTED_VMS"), json!("cross"))
    );
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}/versions"), None);
    assert_eq!(r.status, 200);
    assert!(r.body_contains(d["VersionId"].as_str().unwrap()));
    assert_eq!(
        rest_as(&w, "o2", "GET", &format!("/images/{id}"), None).status,
        404
    );
    // And the REST list has it.
    assert!(rest_as(&w, "o1", "GET", "/images", None).body_contains(id));
}

impl ApiResponse {
    fn body_contains(&self, s: &str) -> bool {
        String::from_utf8_lossy(&self.body).contains(s)
    }
}

#[test]
fn a_rest_image_is_listed_and_distributable_here() {
    let w = World::new();
    Store::new(&w.kv, &w.env)
        .put_new(
            &keys::provider_instance("o1", "pi-1"),
            &sim::ProviderInstance {
                id: "pi-1".into(),
                provider_label: ProviderLabel::Azure,
                region: None,
            },
        )
        .unwrap();
    Store::new(&w.kv, &w.env)
        .put_new(
            &keys::gallery_image("o1", "g-1"),
            &sim::GalleryImage {
                id: "g-1".into(),
                os_type: OsType::Linux,
                gpu_type: GpuType::None,
                granted_to: vec!["pi-1".into()],
                prepared_by: None,
                metadata: Default::default(),
                app_scan: Default::default(),
            },
        )
        .unwrap();
    let token = auth::mint_token(&Store::new(&w.kv, &w.env), "o1").unwrap();
    let req = ApiRequest {
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        query: "action=copy-existing-image".into(),
        body: json!({
            "streamName": "rest-img", "osType": "LINUX", "sourceStreamType": "AZURE_SIG",
            "providerInstanceId": "pi-1",
            "assetDetails": {"data": {"sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": false}}
        })
        .to_string()
        .into_bytes(),
        ..ApiRequest::new("POST", "/imagemgmt/v1/images")
    };
    let r = crate::imagemgmt::handle(&Store::new(&w.kv, &w.env), &w.settings.ops, &req);
    assert_eq!(r.status, 201, "{:?}", r.json_body());
    let id = r.json_body()["id"].as_str().unwrap().to_owned();
    let img = w.listed(&id).unwrap();
    assert_eq!(
        (
            img["ImageName"].clone(),
            img["OsType"].clone(),
            img["ImageCreateMode"].clone()
        ),
        (json!("rest-img"), json!("Linux"), json!("BY_IMPORT"))
    );
    assert_eq!(img["VersionName"], json!("v1.0.0"));
    w.settle_available(&id);
    let (s, b) = w.call(
        "StartTaskForDistributeImage",
        &[("ImageId", &id), ("DestinationRegionList.1", "cn-shanghai")],
    );
    assert_eq!(s, 200, "{b}");
}

/// An image with hundreds of versions: ListImage reads the ones it shows (the newest, the
/// newest AVAILABLE, the distributed ones), not all of them, and shows the same item.
#[test]
fn list_reads_the_versions_it_shows_not_every_version() {
    let w = World::new();
    let d = w.capture("ecd-1", "many");
    let (id, vid) = (
        d["ImageId"].as_str().unwrap().to_owned(),
        d["VersionId"].as_str().unwrap().to_owned(),
    );
    w.settle_available(&id);
    let before = w.listed(&id).unwrap();
    // 500 older, failed versions, stored and recorded on the image as the advancer does.
    let v1 = Store::new(&w.kv, &w.env)
        .get::<Version>(&keys::version("o1", &vid))
        .unwrap()
        .unwrap()
        .value;
    let older: Vec<String> = (0..500).map(|i| format!("ver-old-{i}")).collect();
    for o in &older {
        let mut v = v1.clone();
        v.id = o.clone();
        v.status = VersionStatus::Failed;
        Store::new(&w.kv, &w.env)
            .put_new(&keys::version("o1", o), &v)
            .unwrap();
    }
    Store::new(&w.kv, &w.env)
        .update::<Image, ()>(&keys::image("o1", &id), |i| {
            let mut i = i.clone();
            let mut ids = older.clone();
            ids.extend(i.version_ids.iter().cloned());
            for o in &older {
                i.version_statuses.insert(o.clone(), VersionStatus::Failed);
            }
            i.version_ids = ids;
            Change::Write(i)
        })
        .unwrap();
    // Other images of the org are not read either when one is named.
    for i in 0..5 {
        w.instance(
            "o1",
            &format!("ecd-more-{i}"),
            sim::InstanceType::CloudDesktop,
            |_| {},
        );
        w.capture(&format!("ecd-more-{i}"), &format!("more-{i}"));
    }
    w.kv.forget_reads();
    let after = w.listed(&id).unwrap();
    let reads = w.kv.read.borrow().clone();
    let versions = reads.iter().filter(|k| k.contains("/version/")).count();
    let images = reads.iter().filter(|k| k.contains("/image/")).count();
    assert!(versions <= 2, "{versions} version records read");
    assert_eq!(images, 1, "{reads:?}");
    assert_eq!(after["OnlineVersionId"], json!(vid));
    assert_eq!(after["LatestVersionId"], before["LatestVersionId"]);
    assert_eq!(after["VersionName"], before["VersionName"]);
}

// ---------------------------------------------------------------------------------------
// DeleteImage
// ---------------------------------------------------------------------------------------

#[test]
fn delete_refuses_while_capturing_then_deletes_and_the_list_forgets_it() {
    let w = World::new();
    let d = w.capture("ecd-1", "del");
    let id = d["ImageId"].as_str().unwrap();
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
    w.settle_available(id);
    let (s, b) = w.call("DeleteImage", &[("ImageId", id)]);
    assert_eq!((s, b["Data"].clone()), (200, json!(true)), "{b}");
    assert!(w.listed(id).is_none());
    assert_eq!(w.list(&[])["Count"], json!(0));
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "Image.NotExist",
    );
    // The delete operation removes the records in the background.
    assert!(w.run_until(|w| rest_as(w, "o1", "GET", &format!("/images/{id}"), None).status == 404));
}

#[test]
fn delete_of_an_unknown_or_foreign_image_is_not_exist() {
    let w = World::new();
    assert_error(
        w.call("DeleteImage", &[("ImageId", "imgc-nope")]),
        400,
        "Image.NotExist",
    );
    assert_error(
        w.call("DeleteImage", &[("ImageId", "a/b")]),
        400,
        "Image.NotExist",
    );
    let (_, b) = w.call_as(
        &w.ak2,
        "CreateImageByInstance",
        &[
            ("InstanceId", "ecd-other"),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "theirs"),
        ],
    );
    let theirs = b["Data"]["ImageId"].as_str().unwrap();
    assert_error(
        w.call("DeleteImage", &[("ImageId", theirs)]),
        400,
        "Image.NotExist",
    );
}

// ---------------------------------------------------------------------------------------
// StartTaskForDistributeImage
// ---------------------------------------------------------------------------------------

fn distribute(w: &World, id: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("ImageId", id)];
    form.extend_from_slice(extra);
    w.call("StartTaskForDistributeImage", &form)
}

#[test]
fn distribution_errors() {
    let w = World::new();
    let one = [("DestinationRegionList.1", "cn-shanghai")];
    assert_error(distribute(&w, "imgc-nope", &one), 400, "Image.NotExist");
    let d = w.capture("ecd-1", "dist");
    let id = d["ImageId"].as_str().unwrap();
    assert_error(
        distribute(&w, id, &one),
        400,
        "ImageRegionDistribute.NotAllow",
    );
    w.settle_available(id);
    assert_error(
        distribute(&w, id, &[("DestinationRegionList.1", "xx-nowhere")]),
        400,
        "ParentImageRegionDistribute.NotExist",
    );
    assert_error(
        distribute(&w, id, &[("DestinationRegionList.1", "cn-shanghai/..")]),
        400,
        "ParentImageRegionDistribute.NotExist",
    );
    assert_error(
        distribute(&w, id, &[one[0], ("VersionId", "iv-nope")]),
        400,
        "Image.NotExist",
    );
    let b = assert_error(distribute(&w, id, &[]), 400, "MissingParameter");
    assert!(
        b["Message"]
            .as_str()
            .unwrap()
            .contains("DestinationRegionList")
    );
    // Another org's image does not exist for us.
    let (s, _) = w.call_as(
        &w.ak2,
        "StartTaskForDistributeImage",
        &[("ImageId", id), one[0]],
    );
    assert_eq!(s, 400);
}

#[test]
fn distribution_shows_each_region_from_init_to_available() {
    let w = World::new();
    let d = w.capture("ecd-1", "dist");
    let (id, vid) = (
        d["ImageId"].as_str().unwrap(),
        d["VersionId"].as_str().unwrap(),
    );
    w.settle_available(id);
    let (s, b) = distribute(
        &w,
        id,
        &[
            ("DestinationRegionList.1", "cn-shanghai"),
            ("DestinationRegionList.2", "cn-beijing"),
            ("SourceRegion", "cn-hangzhou"),
        ],
    );
    assert_eq!(s, 200, "{b}");
    assert!(b["Data"].as_str().unwrap().starts_with("tid-"));
    let regions = |w: &World| w.listed(id).unwrap()["ImageRegionDistributeList"].clone();
    assert_eq!(
        regions(&w),
        json!([
            {"RegionId": "cn-shanghai", "Status": "INIT", "Progress": "0%", "ImageId": id, "VersionId": vid},
            {"RegionId": "cn-beijing", "Status": "INIT", "Progress": "0%", "ImageId": id, "VersionId": vid},
        ])
    );
    // While it runs: no second distribution to the same region, no delete.
    assert_error(
        distribute(&w, id, &[("DestinationRegionList.1", "cn-beijing")]),
        400,
        "ImageRegionDistribute.NotAllow",
    );
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
    let mut saw_progress = false;
    assert!(w.run_until(|w| {
        let r = regions(w);
        let list = r.as_array().unwrap();
        saw_progress |= list
            .iter()
            .any(|e| e["Status"] == json!("DISTRIBUTING") && e["Progress"] != json!("0%"));
        list.iter().all(|e| e["Status"] == json!("AVAILABLE"))
    }));
    assert!(saw_progress);
    assert!(
        regions(&w)
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["Progress"] == json!("100%"))
    );
    // Settled: it may be distributed again, and deleted.
    assert_eq!(
        distribute(&w, id, &[("DestinationRegionList.1", "cn-beijing")]).0,
        200
    );
}

#[test]
fn a_delete_racing_a_distribution_start_sees_it() {
    let w = World::new();
    let d = w.capture("ecd-1", "race");
    let id = d["ImageId"].as_str().unwrap().to_owned();
    w.settle_available(&id);
    let ctx = Ctx {
        st: Store::new(&w.kv, &w.env),
        settings: &w.settings,
        org: "o1".into(),
    };
    // The delete read the image (its token) before the distribution changed it.
    let seen = ctx.live_image(&id).unwrap().unwrap();
    let (s, _) = distribute(&w, &id, &[("DestinationRegionList.1", "cn-beijing")]);
    assert_eq!(s, 200);
    let r = crate::catalog::deletion::start_image_deletion(
        &ctx.st,
        &ctx.settings.ops,
        "o1",
        &id,
        Some(&seen.value),
    );
    assert_eq!(
        r,
        Err(crate::catalog::deletion::DeleteRefusal::PreconditionFailed)
    );
    // Through the door, the retry sees the distribution.
    assert_error(
        w.call("DeleteImage", &[("ImageId", &id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
}

/// A REST call as `org` (a fresh token), for the tests of what both doors show.
fn rest_as(
    w: &World,
    org: &str,
    method: &str,
    path_and_query: &str,
    body: Option<Value>,
) -> ApiResponse {
    let token = auth::mint_token(&Store::new(&w.kv, &w.env), org).unwrap();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let req = ApiRequest {
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        query: query.into(),
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        ..ApiRequest::new(method, &format!("/imagemgmt/v1{path}"))
    };
    crate::imagemgmt::handle(&Store::new(&w.kv, &w.env), &w.settings.ops, &req)
}

mod envelopes;
mod names;
mod optional;
mod shared_images;
