//! The benchmark baseline: the cheapest possible Spin HTTP component.
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_req: Request) -> Response {
    Response::new(200, ())
}
