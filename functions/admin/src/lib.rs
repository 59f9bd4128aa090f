//! The admin API (`/admin/v1/...`): orgs, credentials, the provider simulator's
//! inventory and settings. Every call needs the `admin_token` Spin variable as bearer.

use catalog_model::api::Problem;
use catalog_platform::{SpinEnv, SpinKv, api_request, send};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => return send(Problem::store(&e).into()),
    };
    // No value (or an unresolvable one) means the admin API is closed: the model answers
    // every call with a clear 503 rather than accepting a guessable default.
    let admin_token = spin_sdk::variables::get("admin_token").ok();
    let req = api_request(&req);
    send(catalog_model::admin::handle(
        &kv,
        &SpinEnv,
        admin_token.as_deref(),
        &req.method,
        &req.path,
        &req.headers,
        &req.body,
    ))
}
