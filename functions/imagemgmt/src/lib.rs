//! The imagemgmt REST door (`/imagemgmt/v1/...`, Horizon Cloud next-gen compatible):
//! decodes the request, calls the model, encodes its answer.

use catalog_model::api::Problem;
use catalog_platform::{SpinEnv, SpinKv, api_request, send, settings};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(req: Request) -> Response {
    let settings = match settings() {
        Ok(s) => s,
        Err(e) => return send(Problem::new(500, "BAD_SETTINGS", e).into()),
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => return send(Problem::store(&e).into()),
    };
    send(catalog_model::imagemgmt::handle(
        &kv,
        &SpinEnv,
        &settings,
        &api_request(&req),
    ))
}
