//! The catch-all route (`/...`): every path no other component owns answers a JSON 404,
//! not Spin's empty one.

use catalog_platform::json_response;
use serde_json::json;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let path = req
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or_else(|| req.path())
        .to_owned();
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
