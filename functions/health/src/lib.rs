//! `GET /healthz`: the app's name and version, the store it sees, the advancer's last tick
//! (so an operator sees at a glance that the cron trigger is alive) and its cumulative work
//! (`engine`: transitions and purges since the store was created). A busy store is retried
//! as every read is (`catalog_model::health::read`); only one that stays failing is 503.

use catalog_model::api::{ApiResponse, Problem};
use catalog_platform::http::{Received, json as json_response, serve};
use catalog_platform::{STORE_LABEL, SpinKv};
use serde_json::json;
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
    let store = SpinKv::open_default().and_then(|kv| {
        catalog_model::health::read(&catalog_model::records::Store::new(
            &kv,
            &catalog_platform::SpinEnv,
        ))
    });
    let (status, store_json, cron_json, engine_json) = match store {
        Ok((last_tick, engine)) => (
            200,
            json!({"label": STORE_LABEL, "reachable": true}),
            json!({"lastTick": last_tick}),
            json!(engine),
        ),
        Err(e) => {
            // The store's own words go to the log (Spin keeps component stderr), not to
            // the caller: the body carries a stable code.
            eprintln!("healthz: store {STORE_LABEL:?} unreachable: {e}");
            (
                503,
                json!({"label": STORE_LABEL, "reachable": false, "error": "STORE_UNREACHABLE"}),
                json!({"lastTick": null}),
                json!(null),
            )
        }
    };
    json_response(
        status,
        "application/json",
        &json!({
            "app": catalog_model::health::APP_NAME,
            "version": env!("CARGO_PKG_VERSION"),
            "status": if status == 200 { "ok" } else { "degraded" },
            "store": store_json,
            "cron": cron_json,
            "engine": engine_json,
        }),
    )
}
