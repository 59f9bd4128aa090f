//! The catch-all route (`/...`): every path no other component owns answers a JSON 404,
//! not Spin's empty one, in the app's one problem shape.

use catalog_model::api::{ApiResponse, Problem};
use catalog_platform::http::{Received, serve};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

fn answer(req: &Received) -> ApiResponse {
    let path = req.api.header("spin-path-info").unwrap_or(&req.api.path);
    Problem::new(404, "ROUTE_NOT_FOUND", format!("no endpoint at {path}")).into()
}
