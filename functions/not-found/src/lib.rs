//! The catch-all route (`/...`): every path no other component owns answers a JSON 404,
//! not Spin's empty one.

use catalog_model::api::ApiResponse;
use catalog_platform::http::{Received, json as json_response, serve};
use serde_json::json;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

fn answer(req: &Received) -> ApiResponse {
    let path = req.api.header("spin-path-info").unwrap_or(&req.api.path);
    json_response(
        404,
        "application/problem+json",
        &json!({
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "code": "ROUTE_NOT_FOUND",
            "detail": format!("no endpoint at {path}"),
        }),
    )
}
