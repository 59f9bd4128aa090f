//! The appstream RPC door (`POST /`, WUYING appstream-center 2021-09-01 compatible):
//! decodes the request, calls the model, encodes its answer.

use catalog_model::appstream::{RpcError, RpcSettings, envelope};
use catalog_model::env::Env;
use catalog_platform::{SpinEnv, SpinKv, api_request, request_authority, send};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// An error answered before the model runs (bad settings, no store), in the door's envelope.
fn early_error(err: &RpcError) -> Response {
    let resp = envelope::error(&envelope::request_id(|| SpinEnv.random_u64()), err);
    send(catalog_model::api::ApiResponse::with_body(
        resp.status,
        envelope::CONTENT_TYPE,
        resp.body_string().into_bytes(),
    ))
}

#[http_component]
fn handle(req: Request) -> Response {
    let settings = match RpcSettings::from_vars(|name| spin_sdk::variables::get(name).ok()) {
        Ok(s) => s,
        Err(e) => return early_error(&RpcError::internal(e)),
    };
    let kv = match SpinKv::open_default() {
        Ok(kv) => kv,
        Err(e) => {
            return early_error(&RpcError::new(
                503,
                "ServiceUnavailable",
                format!("The store is unavailable ({e}); retry later."),
            ));
        }
    };
    send(catalog_model::appstream::handle(
        &kv,
        &SpinEnv,
        &settings,
        &api_request(&req),
        &request_authority(&req),
    ))
}
