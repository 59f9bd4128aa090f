//! `GET /healthz`: `status` for anyone; with the admin token also the app's name and
//! version, the store it sees, the advancer's last tick (so an operator sees at a glance
//! that the cron trigger is alive) and its cumulative work (`engine`: transitions and
//! purges since the store was created); `catalog_model::health::report`. A busy store is
//! retried as every read is (`catalog_model::health::read`); only one that stays failing is 503.

use catalog_model::api::{ApiResponse, Problem};
use catalog_model::health::{Viewer, report};
use catalog_platform::http::{Received, serve};
use catalog_platform::{STORE_LABEL, SpinKv};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

fn answer(req: &Received) -> ApiResponse {
    if req.api.method != "GET" && req.api.method != "HEAD" {
        let problem = Problem::new(405, "METHOD_NOT_ALLOWED", "/healthz answers GET only");
        return ApiResponse::from(problem).header("allow", "GET, HEAD");
    }
    let admin_token = spin_sdk::variables::get("admin_token").ok();
    let viewer = Viewer::of(&req.api.headers, admin_token.as_deref());
    let read = SpinKv::open_default().and_then(|kv| {
        catalog_model::health::read(&catalog_model::records::Store::new(
            &kv,
            &catalog_platform::SpinEnv,
        ))
    });
    if let Err(e) = &read {
        // The store's own words go to the log (Spin keeps component stderr), not to the
        // caller: the body carries a stable code.
        eprintln!("healthz: store {STORE_LABEL:?} unreachable: {e}");
    }
    report(viewer, read, STORE_LABEL, env!("CARGO_PKG_VERSION"))
}
