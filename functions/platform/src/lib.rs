//! The model's ports implemented over Spin, shared by every component.
//!
//! Key-value goes through `wasi:keyvalue@0.2.0-draft2` (store, atomics, batch): Spin
//! implements it on every backend and, unlike `fermyon:spin/key-value`, it has
//! `increment` and compare-and-swap. Time and randomness come from WASI, so the local
//! host's test clock reaches the model unchanged.

use catalog_model::env::{Env, Millis};
use catalog_model::store::{CasOutcome, KeyValue, StoreError};
use spin_sdk::wit::wasi::keyvalue::{atomics, batch, store};

/// The store label every component uses (`key_value_stores = ["default"]`).
pub const STORE_LABEL: &str = "default";

/// `wasi:keyvalue` bucket as the model's [`KeyValue`] port.
pub struct SpinKv {
    bucket: store::Bucket,
}

impl SpinKv {
    pub fn open(label: &str) -> Result<Self, StoreError> {
        store::open(label)
            .map(|bucket| Self { bucket })
            .map_err(map_error)
    }

    pub fn open_default() -> Result<Self, StoreError> {
        Self::open(STORE_LABEL)
    }
}

fn map_error(e: store::Error) -> StoreError {
    match e {
        store::Error::NoSuchStore => StoreError::Unavailable("no such store".into()),
        store::Error::AccessDenied => StoreError::Unavailable("access denied".into()),
        // Spin reports every backend failure (e.g. SQLite's "database is locked", R4) as
        // `other`: transient until proven otherwise.
        store::Error::Other(m) => StoreError::Transient(m),
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.bucket.get(key).map_err(map_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.bucket.set(key, value).map_err(map_error)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.bucket.delete(key).map_err(map_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        atomics::increment(&self.bucket, key, delta).map_err(map_error)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError> {
        let cas = atomics::Cas::new(&self.bucket, key).map_err(map_error)?;
        // Always read `current()` first: a swap that never saw a value is blind on Spin's
        // SQLite backend (R1), and an absent key is never "expected" by the model.
        match cas.current().map_err(map_error)? {
            Some(current) if current == expected => {}
            _ => return Ok(CasOutcome::Conflict),
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(CasOutcome::Swapped),
            // Spin's Redis backend says `cas-failed` even when the write landed (R2).
            Err(atomics::CasError::CasFailed(_)) => Ok(CasOutcome::Unknown),
            Err(atomics::CasError::StoreError(e)) => Err(map_error(e)),
        }
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let found = batch::get_many(&self.bucket, keys).map_err(map_error)?;
        // Backends may return entries in any order and omit nothing or absent keys:
        // answer in the caller's order.
        let mut by_key: std::collections::HashMap<String, Option<Vec<u8>>> =
            found.into_iter().collect();
        Ok(keys.iter().map(|k| by_key.remove(k).flatten()).collect())
    }
}

/// WASI clocks and randomness as the model's [`Env`] port.
pub struct SpinEnv;

impl Env for SpinEnv {
    fn now_ms(&self) -> Millis {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as Millis)
            .unwrap_or(0)
    }

    fn random_u64(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn pause_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// A complete JSON response: one body with its length, so Spin writes it in one piece
/// (R5: a response written in pieces waits for the client's delayed ACK).
pub fn json_response(
    status: u16,
    content_type: &str,
    body: &serde_json::Value,
) -> spin_sdk::http::Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    spin_sdk::http::Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("content-length", bytes.len().to_string())
        .body(bytes)
        .build()
}

/// The request as the model's framework-free [`ApiRequest`](catalog_model::api::ApiRequest).
pub fn api_request(req: &spin_sdk::http::Request) -> catalog_model::api::ApiRequest {
    let method = req.method().to_string().to_ascii_uppercase();
    catalog_model::api::ApiRequest {
        method,
        path: req.path().to_owned(),
        query: req.query().to_owned(),
        headers: req
            .headers()
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: req.body().to_vec(),
    }
}

/// The model's answer on the wire, complete with `content-length` (one write, R5).
pub fn send(resp: catalog_model::api::ApiResponse) -> spin_sdk::http::Response {
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(resp.status);
    for (name, value) in &resp.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            builder.header(name.as_str(), value.as_str());
        }
    }
    builder.header("content-length", resp.body.len().to_string());
    builder.body(resp.body).build()
}

/// The operation settings from Spin variables (absent ones keep the model's defaults).
pub fn settings() -> Result<catalog_model::ops::Settings, String> {
    catalog_model::ops::Settings::from_vars(|name| spin_sdk::variables::get(name).ok())
}

/// The authority (`host[:port]`) the client addressed. Spin hands the guest no `host` header
/// (R7); the authority arrives in the request URI, and in `spin-full-url` as a fallback.
pub fn request_authority(req: &spin_sdk::http::Request) -> String {
    use catalog_model::appstream::service::authority_of;
    let from_uri = authority_of(req.uri());
    if !from_uri.is_empty() {
        return from_uri.to_owned();
    }
    req.header("spin-full-url")
        .and_then(|v| v.as_str())
        .map(|u| authority_of(u).to_owned())
        .unwrap_or_default()
}
