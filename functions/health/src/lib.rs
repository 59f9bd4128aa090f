//! `GET /healthz`: the app's name and version, the store it sees, and the advancer's
//! last tick (so an operator sees at a glance that the cron trigger is alive).

use catalog_model::api::ApiResponse;
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
        return json_response(
            405,
            "application/problem+json",
            &json!({"type": "about:blank", "title": "Method Not Allowed", "status": 405,
                    "code": "METHOD_NOT_ALLOWED", "detail": "/healthz answers GET only"}),
        );
    }
    let store = SpinKv::open_default().and_then(|kv| catalog_model::health::last_tick(&kv));
    let (status, store_json, cron_json) = match store {
        Ok(last_tick) => (
            200,
            json!({"label": STORE_LABEL, "reachable": true}),
            json!({"lastTick": last_tick}),
        ),
        Err(e) => (
            503,
            json!({"label": STORE_LABEL, "reachable": false, "error": e.to_string()}),
            json!({"lastTick": null}),
        ),
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
        }),
    )
}
