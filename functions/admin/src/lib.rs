//! The admin API (`/admin/v1/...`): orgs, credentials, the provider simulator's
//! inventory and settings. Every call needs the `admin_token` Spin variable as bearer.

use catalog_model::api::{ApiResponse, Problem};
use catalog_model::records::Store;
use catalog_platform::http::{Received, serve};
use catalog_platform::{SpinEnv, SpinKv};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

fn answer(req: &Received) -> ApiResponse {
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => return Problem::store_at("admin", &e).into(),
    };
    // No value (or an unresolvable one) means the admin API is closed: the model answers
    // every call with a clear 503 rather than accepting a guessable default.
    let admin_token = spin_sdk::variables::get("admin_token").ok();
    // Only the engine view reads it; a bad value is the other components' 500 to report.
    let due_shards = catalog_model::ops::Settings::from_vars(|n| spin_sdk::variables::get(n).ok())
        .map(|s| s.due_shards)
        .unwrap_or(catalog_model::settings::DEFAULT_DUE_SHARDS);
    let config = catalog_model::admin::Config {
        admin_token: admin_token.as_deref(),
        due_shards,
    };
    let req = &req.api;
    catalog_model::admin::handle(
        &Store::new(&kv, &SpinEnv),
        &config,
        &req.method,
        &req.path,
        &req.headers,
        &req.body,
    )
}
