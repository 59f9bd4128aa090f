//! [`Harness`]: one running app plus two seeded orgs, and the request helpers the
//! scenarios call on it.

use std::sync::Arc;

use serde_json::{Value, json};
use spin_local_host::{App, KvSetup};
use spin_local_kv::testing::RedisServer;

use crate::real_spin::Pace;
use crate::target::{StoreServer, start_real_driven};
use crate::{
    ADMIN_TOKEN, Answer, Backend, ORG, OTHER_ORG, Target, demo, http_client, redis_kv, start_app,
};

/// One running app plus what a test needs to drive it: two orgs with a token each.
pub struct Harness {
    target: Arc<Target>,
    pub http: reqwest::blocking::Client,
    /// The test org and its REST token.
    pub org: String,
    pub token: String,
    /// Another org (for isolation checks) and its REST token.
    pub other_org: String,
    pub other_token: String,
    // Dropped after the app: the server outlives the host's connections.
    _store: Option<StoreServer>,
}

impl Harness {
    /// Starts the app on our host on `backend`, in spin-compat mode if asked, seeds two
    /// orgs ([`ORG`], [`OTHER_ORG`]) with a token each and the demo inventory, and freezes
    /// the clock at [`T0_SECS`](crate::T0_SECS).
    pub fn start(backend: Backend, spin_compat: bool) -> Harness {
        assert!(
            backend != Backend::Dynamo,
            "DynamoDB (moto) runs on the real runtime only"
        );
        let redis = (backend == Backend::Redis).then(RedisServer::start);
        let kv = match &redis {
            Some(server) => redis_kv(server),
            None => KvSetup::TempSqlite,
        };
        let app = start_app(kv, spin_compat, None);
        let store = redis.map(StoreServer::Redis);
        Harness::seeded(Arc::new(Target::Local(app)), store, ORG, OTHER_ORG)
    }

    /// Starts a `spin up` of its own on `backend` (see [`start_real`]), seeded like
    /// [`Harness::start`].
    pub fn start_real(backend: Backend) -> Harness {
        Harness::start_real_driven(backend, None)
    }

    /// [`Harness::start_real`]; with `Some(pace)`, without the cron trigger, the engine
    /// driven over HTTP at that pace ([`crate::real_spin::SpinOptions::without_cron`]).
    pub fn start_real_driven(backend: Backend, without_cron: Option<Pace>) -> Harness {
        let (target, store) = start_real_driven(backend, &[], without_cron);
        Harness::seeded(Arc::new(target), store, ORG, OTHER_ORG)
    }

    /// A harness on an app already running (shared by several scenarios): two fresh orgs
    /// named after `label`, so scenarios on one app do not see each other's records.
    pub fn on(target: Arc<Target>, label: &str) -> Harness {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let org = format!("org-{label}-{n}");
        let other = format!("other-{label}-{n}");
        Harness::seeded(target, None, &org, &other)
    }

    fn seeded(
        target: Arc<Target>,
        store: Option<StoreServer>,
        org: &str,
        other_org: &str,
    ) -> Harness {
        let mut h = Harness {
            target,
            http: http_client(),
            org: org.to_owned(),
            token: String::new(),
            other_org: other_org.to_owned(),
            other_token: String::new(),
            _store: store,
        };
        h.token = h.seed_org(org);
        h.other_token = h.seed_org(other_org);
        h
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn base_url(&self) -> String {
        self.target.base_url()
    }

    /// Our host (panics on real Spin): for scenarios that move the clock or inject faults.
    pub fn local(&self) -> &App {
        self.target.local()
    }

    /// The app's clock in Unix seconds: RPC calls are dated with it.
    pub fn now_secs(&self) -> u64 {
        self.target.now_secs()
    }

    /// Creates `org` with the demo inventory; returns a REST bearer token for it.
    pub fn seed_org(&self, org: &str) -> String {
        demo::seed(&self.http, &self.base_url(), ADMIN_TOKEN, org)
            .unwrap_or_else(|e| panic!("seeding {org}: {e}"))
            .token
    }

    /// An admin call that must succeed.
    pub fn admin(&self, method: &str, path: &str, body: Value) -> Answer {
        let a = self.send(method, path, Some(ADMIN_TOKEN), &[], Some(body));
        assert!(
            (200..300).contains(&a.status),
            "admin {method} {path}: {} {}",
            a.status,
            a.body
        );
        a
    }

    /// A REST call as the test org.
    pub fn rest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.send(
            method,
            &format!("/imagemgmt/v1{path}"),
            Some(&self.token),
            &[],
            body,
        )
    }

    /// Any request: `bearer` becomes `Authorization: Bearer …`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let url = format!("{}{}", self.base_url(), path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, url);
        if let Some(t) = bearer {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().expect("request reached the app");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Lets background work happen (see [`Target::tick`]): our host moves the clock by
    /// `secs` and fires the advancer once; real Spin waits for its next cron tick.
    pub fn tick(&self, secs: u64) {
        self.target.tick(secs);
    }

    /// See [`Target::until`].
    pub fn until(&self, max_ticks: u32, done: impl FnMut() -> bool) -> bool {
        self.target.until(max_ticks, done)
    }

    /// Ticks every few (moved) seconds until `done` holds for the REST resource at
    /// `path`, at most `max_ticks` times (on real Spin: polls until
    /// [`REAL_DEADLINE`](crate::REAL_DEADLINE)); returns the last answer.
    pub fn tick_until(&self, path: &str, max_ticks: u32, done: impl Fn(&Answer) -> bool) -> Answer {
        let mut last = None;
        self.until(max_ticks, || {
            let a = self.rest("GET", path, None);
            let ok = done(&a);
            last = Some(a);
            ok
        });
        let last = last.expect("looked at least once");
        assert!(
            done(&last),
            "not reached after {max_ticks} ticks: {}",
            last.body
        );
        last
    }

    /// Creates an image from the gallery (`AZURE_SIG`) and returns the 201 body.
    pub fn sig_image(&self, name: &str) -> Answer {
        let a = self.rest(
            "POST",
            "/images?action=copy-existing-image",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
                "sourceStreamType": "AZURE_SIG", "providerInstanceId": "pi-1",
                "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                    "sourceImageVersionId": "g-1",
                    "isClientAccessLicenseApplicable": true, "multiSession": true}}
            })),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    /// Creates an image from a customer VM (`AZURE_CUSTOM_VM`) and returns the 201 body.
    pub fn vm_image(&self, name: &str) -> Answer {
        let a = self.rest(
            "POST",
            "/images?action=import-custom-vm",
            Some(json!({
                "streamName": name, "osType": "WINDOWS", "gpuType": "NONE",
                "sourceStreamType": "AZURE_CUSTOM_VM", "providerInstanceId": "pi-1",
                "assetDetails": {"assetType": "AZURE_VM_IN_RG", "data": {"vmId": "vm-1"}}
            })),
        );
        assert_eq!(a.status, 201, "{}", a.body);
        a
    }

    /// Add Version with a gallery source.
    pub fn add_sig_version(&self, image: &str, extra: Value) -> Answer {
        let mut body = json!({
            "osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
            "versionType": "MAJOR", "providerInstanceId": "pi-1",
            "assetDetails": {"assetType": "AZURE_IMAGE_IN_SIG", "data": {
                "sourceImageVersionId": "g-1",
                "isClientAccessLicenseApplicable": true, "multiSession": true}}
        });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.rest("POST", &format!("/images/{image}/versions"), Some(body))
    }
}

/// The first version of a created image: `(image id, version id)`.
pub fn first_version(created: &Answer) -> (String, String) {
    let image = created.str("id");
    let version = created.body["versions"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!image.is_empty() && !version.is_empty(), "{}", created.body);
    (image, version)
}
