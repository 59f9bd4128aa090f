//! The imagemgmt REST door (`/imagemgmt/v1/...`, Horizon Cloud next-gen compatible):
//! decodes the request, calls the model, encodes its answer.

use catalog_model::api::{ApiResponse, Problem};
use catalog_model::records::Store;
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
        Err(e) => return Problem::store(&e).into(),
    };
    catalog_model::imagemgmt::handle(&Store::new(&kv, &SpinEnv), &settings, &req.api)
}
