//! The door end to end over `MemoryKv` + `FakeEnv`: every request is signed (ACS3, by the
//! model's own signing functions, or captured from the official SDK) and goes through
//! [`handle`], so these assert what an SDK user sees (status, `Code`, `Data`).
//!
//! This file is the fixture ([`World`]) and the helpers every theme shares; the tests stand
//! in one file a theme: `auth` (signatures, SDK requests), `edge` (dispatch, parameters,
//! store failures), `create`, `list`, `delete`, `distribute`, `doors` (what both doors
//! show), `envelopes`, `names`, `optional`, `shared_images`.

use super::{
    Ctx, DEFAULT_BUILDER_QUOTA, MAX_BUILDER_QUOTA, MAX_NAME_CHARS, RpcSettings, authority_of,
    handle,
};
use crate::api::{ApiRequest, ApiResponse};
use crate::appstream::sign::{self, SignedRequest};
use crate::appstream::{capture, envelope};
use crate::auth::MintedAccessKey;
use crate::catalog::{Image, Version};
use crate::env::{Env, FakeEnv, Millis};
use crate::keys;
use crate::ops::Settings;
use crate::records::{Change, Store};
use crate::sim;
use crate::store::{CasOutcome, KeyValue, MemoryKv, StoreError};
use crate::time::iso8601_s;
use crate::vocab::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::cell::Cell;

mod auth;
mod bounds;
mod create;
mod delete;
mod distribute;
mod doors;
mod edge;
mod envelopes;
mod list;
mod names;
mod optional;
mod shared_images;

const T0: i64 = 1_760_000_000_000;
const AUTHORITY: &str = "127.0.0.1:3000";

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
    ak: MintedAccessKey,
    ak2: MintedAccessKey,
    nonce: Cell<u64>,
}

impl World {
    fn new() -> Self {
        Self::with_quota(DEFAULT_BUILDER_QUOTA)
    }

    fn with_quota(quota: u32) -> Self {
        let kv = Faulty::default();
        let env = FakeEnv::at(T0);
        let st = Store::new(&kv, &env);
        let ak = crate::auth::mint_access_key(&st, "o1").unwrap();
        let ak2 = crate::auth::mint_access_key(&st, "o2").unwrap();
        let w = World {
            kv,
            env,
            settings: RpcSettings {
                ops: Settings::default(),
                builder_quota: quota,
                secrets: crate::secrets::Secrets::for_tests(),
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
            w.st()
                .put_new(&keys::region("o1", r), &sim::Region { id: r.into() })
                .unwrap();
        }
        w
    }

    /// The storage handle over the world's store and clock.
    fn st(&self) -> Store<'_> {
        Store::new(&self.kv, &self.env)
    }

    /// The door's context for `org`, for calling an action's parts directly.
    fn ctx(&self, org: &str) -> Ctx<'_> {
        Ctx {
            st: self.st(),
            settings: &self.settings,
            org: org.into(),
            handed: Default::default(),
        }
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
        self.st().put_new(&keys::instance(org, id), &i).unwrap();
    }

    fn desktop(&self, id: &str) -> String {
        self.instance("o1", id, sim::InstanceType::CloudDesktop, |_| {});
        id.to_owned()
    }

    /// A POST signed like the SDK signs: form body, every header signed.
    fn signed_by(
        &self,
        ak: &MintedAccessKey,
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
        handle(&self.st(), &self.settings, req, AUTHORITY)
    }

    fn call(&self, action: &str, form: &[(&str, &str)]) -> (u16, Value) {
        answer(&self.send(&self.signed(action, form)))
    }

    fn call_as(&self, ak: &MintedAccessKey, action: &str, form: &[(&str, &str)]) -> (u16, Value) {
        answer(&self.send(&self.signed_by(ak, action, form, "")))
    }

    /// Org `o2` captures its own cloud desktop `ecd-other` as `name`.
    fn other_org_captures(&self, name: &str) -> (u16, Value) {
        self.call_as(
            &self.ak2,
            "CreateImageByInstance",
            &[
                ("InstanceId", "ecd-other"),
                ("InstanceType", "CloudDesktop"),
                ("ImageName", name),
            ],
        )
    }

    /// A capture of `instance` as `InstanceType` `t`, for its refusal.
    fn capture_err(&self, instance: &str, t: &str) -> (u16, Value) {
        self.call(
            "CreateImageByInstance",
            &[
                ("InstanceId", instance),
                ("InstanceType", t),
                ("ImageName", "x"),
            ],
        )
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

    fn distribute(&self, id: &str, extra: &[(&str, &str)]) -> (u16, Value) {
        let mut form = vec![("ImageId", id)];
        form.extend_from_slice(extra);
        self.call("StartTaskForDistributeImage", &form)
    }

    /// Moves time and ticks the advancer until `done` holds.
    fn run_until(&self, mut done: impl FnMut(&World) -> bool) -> bool {
        for _ in 0..200 {
            if done(self) {
                return true;
            }
            self.env.advance_ms(1_000);
            crate::advancer::tick(&self.st(), &self.settings.ops, 100);
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
    ak: &MintedAccessKey,
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

/// A response as the tests read it: its status and its JSON body.
fn answer(r: &ApiResponse) -> (u16, Value) {
    (r.status, r.json_body())
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

/// The `Message` of an error body (empty when there is none).
fn message(b: &Value) -> &str {
    b["Message"].as_str().unwrap_or_default()
}

/// The `ImageId`s of a ListImage page, in order.
fn ids(b: &Value) -> Vec<String> {
    b["Data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["ImageId"].as_str().unwrap().to_owned())
        .collect()
}

/// A REST call as `org` (a fresh token), for the tests of what both doors show.
fn rest_as(
    w: &World,
    org: &str,
    method: &str,
    path_and_query: &str,
    body: Option<Value>,
) -> ApiResponse {
    let token = crate::auth::mint_token(&w.st(), org).unwrap();
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let req = ApiRequest {
        headers: vec![("authorization".into(), format!("Bearer {token}"))],
        query: query.into(),
        body: body.map(|b| b.to_string().into_bytes()).unwrap_or_default(),
        ..ApiRequest::new(method, &format!("/imagemgmt/v1{path}"))
    };
    crate::imagemgmt::handle(&w.st(), &w.settings.ops, &req)
}

impl ApiResponse {
    fn body_contains(&self, s: &str) -> bool {
        String::from_utf8_lossy(&self.body).contains(s)
    }
}

impl crate::sim::Simulation {
    fn save_for_test(&self, w: &World) {
        w.st().put_new(&keys::simulation(), self).unwrap();
    }
}
