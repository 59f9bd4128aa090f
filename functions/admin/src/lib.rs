//! The admin API (`/admin/v1/...`): orgs, credentials, the provider simulator's
//! inventory and settings, the engine view, and the tick route that advances the engine
//! where no cron trigger runs. Every call needs the `admin_token` Spin variable as bearer
//! (the tick route also takes `tick_token`).

use catalog_model::api::{ApiResponse, Problem};
use catalog_model::records::Store;
use catalog_model::secrets::Secrets;
use catalog_platform::http::{Received, serve};
use catalog_platform::{SpinEnv, SpinKv, settings};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

fn answer(req: &Received) -> ApiResponse {
    let settings = match settings() {
        Ok(s) => s,
        Err(e) => return Problem::new(500, "BAD_SETTINGS", e).into(),
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => return Problem::store_at("admin", &e).into(),
    };
    // No value (or an unresolvable one) means the admin API is closed: the model answers
    // every call with a clear 503 rather than accepting a guessable default.
    let admin_token = spin_sdk::variables::get("admin_token").ok();
    let tick_token = spin_sdk::variables::get("tick_token").ok();
    let secrets = match Secrets::from_vars(|name| spin_sdk::variables::get(name).ok()) {
        Ok(s) => s,
        Err(e) => return Problem::new(500, "BAD_SETTINGS", e).into(),
    };
    let req = &req.api;
    let config = catalog_model::admin::Config {
        admin_token: admin_token.as_deref(),
        tick_token: tick_token.as_deref(),
        settings: &settings,
        query: &req.query,
        secrets: &secrets,
    };
    catalog_model::admin::handle(
        &Store::new(&kv, &SpinEnv),
        &config,
        &req.method,
        &req.path,
        &req.headers,
        &req.body,
    )
}
