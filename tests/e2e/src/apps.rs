//! Several apps, one store.
//!
//! Helpers for the scale-out, fault and hostile-input tests: apps started by hand (several
//! on one store, or restarted on the same file), and a client per app for both doors.

use std::path::PathBuf;

use serde_json::Value;
use spin_local_host::{App, AppOptions, BackendConfig, KvSetup};
use spin_local_kv::testing::RedisServer;

use crate::{
    ADMIN_TOKEN, Answer, T0_SECS, demo, form, http_client, manifest, rpc_headers, try_send,
};

/// Starts the app's `spin.toml` on `kv` with the e2e admin token, clock frozen at [`T0_SECS`].
pub fn start_app(kv: KvSetup, spin_compat: bool, state_dir: Option<PathBuf>) -> App {
    start_app_with(kv, spin_compat, state_dir, &[])
}

/// [`start_app`] with Spin variables set (e.g. `due_shards`).
pub fn start_app_with(
    kv: KvSetup,
    spin_compat: bool,
    state_dir: Option<PathBuf>,
    variables: &[(&str, &str)],
) -> App {
    let mut options = AppOptions::new(manifest());
    options.kv = kv;
    options.spin_compat = spin_compat;
    options.state_dir = state_dir;
    options
        .variables
        .insert("admin_token".into(), ADMIN_TOKEN.into());
    options.variables.insert(
        "secrets_key".into(),
        catalog_model::secrets::TEST_KEY.into(),
    );
    for (name, value) in variables {
        options.variables.insert((*name).into(), (*value).into());
    }
    let app = App::start(options).unwrap_or_else(|e| {
        panic!("the app did not start ({e:#}); build the components first: ./dev test")
    });
    app.clock().set_unix(T0_SECS);
    app
}

/// The store setup of a real Redis server.
pub fn redis_kv(server: &RedisServer) -> KvSetup {
    KvSetup::Backend(BackendConfig::Redis {
        url: server.url.clone(),
    })
}

/// Seeds `org` through the app at `base`; returns its credentials for both doors.
pub fn seed_at(http: &reqwest::blocking::Client, base: &str, org: &str) -> demo::Credentials {
    demo::seed(http, base, ADMIN_TOKEN, org).unwrap_or_else(|e| panic!("seeding {org}: {e}"))
}

/// A client of one app (one replica) for one org, for both doors.
#[derive(Clone)]
pub struct Door {
    pub base: String,
    pub http: reqwest::blocking::Client,
    pub creds: demo::Credentials,
}

impl Door {
    pub fn new(base: String, creds: demo::Credentials) -> Door {
        Door {
            base,
            http: http_client(),
            creds,
        }
    }

    /// A REST call (`path` below `/imagemgmt/v1`); `Err` if the host did not answer.
    pub fn try_rest(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, String> {
        let auth = format!("Bearer {}", self.creds.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if body.is_some() {
            headers.push(("content-type", "application/json"));
        }
        try_send(
            &self.http,
            &self.base,
            method,
            &format!("/imagemgmt/v1{path}"),
            &headers,
            body.map(|b| b.to_string().into_bytes()),
        )
    }

    /// A REST call that must reach the app.
    pub fn rest(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.try_rest(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
    }

    /// A signed RPC call (ACS3-HMAC-SHA256, as the SDK signs it) with form `params`,
    /// dated `now_secs` (the app's frozen clock); `Err` if the host did not answer.
    pub fn try_rpc(
        &self,
        action: &str,
        params: &[(&str, &str)],
        now_secs: u64,
    ) -> Result<Answer, String> {
        let headers = rpc_headers(
            &self.base,
            &self.creds.access_key_id,
            &self.creds.access_key_secret,
            action,
            params,
            now_secs,
        );
        let body = form(params);
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        try_send(
            &self.http,
            &self.base,
            "POST",
            "/",
            &refs,
            Some(body.into_bytes()),
        )
    }

    pub fn rpc(&self, action: &str, params: &[(&str, &str)], now_secs: u64) -> Answer {
        self.try_rpc(action, params, now_secs)
            .unwrap_or_else(|e| panic!("{action}: no answer: {e}"))
    }
}
