//! The appstream RPC door (`POST /`, WUYING appstream-center 2021-09-01 compatible):
//! decodes the request, calls the model, encodes its answer.

use catalog_model::api::ApiResponse;
use catalog_model::appstream::{RpcError, RpcSettings, envelope};
use catalog_model::env::Env;
use catalog_model::records::Store;
use catalog_platform::http::{Received, serve};
use catalog_platform::{SpinEnv, SpinKv};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

#[http_component]
fn handle(req: IncomingRequest, out: ResponseOutparam) {
    serve(req, out, answer);
}

/// An error answered before the model runs (bad settings, no store), in the door's envelope.
fn early_error(err: &RpcError) -> ApiResponse {
    let resp = envelope::error(&envelope::request_id(|| SpinEnv.random_u64()), err);
    ApiResponse::with_body(
        resp.status,
        envelope::CONTENT_TYPE,
        resp.body_string().into_bytes(),
    )
}

fn answer(req: &Received) -> ApiResponse {
    let settings = match RpcSettings::from_vars(|name| spin_sdk::variables::get(name).ok()) {
        Ok(s) => s,
        Err(e) => return early_error(&RpcError::internal(e)),
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        // The stable answer of a store failure; the detail goes to the log.
        Err(e) => return early_error(&RpcError::from(e)),
    };
    catalog_model::appstream::handle(
        &Store::new(&kv, &SpinEnv),
        &settings,
        &req.api,
        &req.authority,
    )
}
