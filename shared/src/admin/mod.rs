//! The admin API (docs/contract/lifecycle.md "The provider simulator"): orgs, credentials, the simulator's
//! inventory and its failure injection. Every call needs `Authorization: Bearer <admin token>`
//! (Spin variable `admin_token`); with no admin token configured the API is disabled (503).
//!
//! Admin `PUT`s replace the whole item (a blind set: the admin is the only writer of these
//! keys, and last-writer-wins is what `PUT` means).
//!
//! `POST /admin/v1/engine/tick` also opens with the narrower `tick_token` variable (it
//! opens that route only): a scheduler that drives the engine need not hold the admin token.
//!
//! Map: `ROUTES` (every endpoint, in one table), `engine` (the engine view and the tick
//! route), `orgs` (orgs and their credentials), `shared_images`, `inventory` (the
//! simulator's items), `simulation`, `body` (reading bodies), [`AdminError`] (every
//! refusal, and its one conversion into a problem document).

use crate::api::ApiResponse;
use crate::auth;
use crate::records::Store;
use crate::routing::{Method::*, Params, RouteTable};
use crate::settings::Settings;
use inventory::Kind;
use serde::Serialize;
use serde_json::Value;

mod body;
mod engine;
mod error;
mod inventory;
mod org_deletion;
mod orgs;
mod shared_images;
mod simulation;
mod vocab;

#[cfg(test)]
mod tests;

pub use engine::{MAX_TICK_SECONDS, TickCall};
pub use error::AdminError;
pub use orgs::{Org, org};

/// The admin API answers with the same framework-free response as the doors, built from
/// the same problem documents.
pub type Response = ApiResponse;

/// Admin bodies above this size are refused.
pub const MAX_BODY: usize = 256 * 1024;

/// What a handler answers: a response, or the refusal that becomes one.
type Answer = Result<Response, AdminError>;

/// An endpoint: the store, the path's parameters and the request body.
type Handler = fn(&Store<'_>, &Params<'_>, &[u8], &Config<'_>) -> Answer;

/// What the admin API knows of the app's settings, and the request's query string.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// The `admin_token` variable (`None`: the API is closed).
    pub admin_token: Option<&'a str>,
    /// The `tick_token` variable: also opens `POST /admin/v1/engine/tick`, and only it
    /// (`None` or blank: only the admin token does).
    pub tick_token: Option<&'a str>,
    /// The engine's settings (the due index's shards for the engine view; every timing
    /// for the tick route).
    pub settings: &'a Settings,
    /// The raw query string (only the tick route takes a parameter, `seconds`).
    pub query: &'a str,
    /// The keys AccessKey secrets are sealed with (`crate::secrets`).
    pub secrets: &'a crate::secrets::Secrets,
}

/// The admin API's routes: each path with its methods, in the order a 405's `Allow` lists
/// them. Every parameter is an id (see [`valid_id`]): a malformed one is a 400 naming it,
/// whatever the method.
const ROUTES: RouteTable<Handler, AdminError> = RouteTable {
    param: |name, value| {
        if valid_id(value) {
            Ok(())
        } else {
            Err(AdminError::invalid(
                name,
                "INVALID_ID",
                "1 to 128 letters, digits, '.', '_' or '-'",
            ))
        }
    },
    routes: &[
        ("/admin/v1/engine", &[(Get, engine::view)]),
        ("/admin/v1/engine/tick", &[(Post, engine::tick)]),
        (
            "/admin/v1/simulation",
            &[(Get, simulation::get), (Put, simulation::put)],
        ),
        (
            "/admin/v1/shared-images/{imageId}",
            &[(Get, shared_images::get), (Put, shared_images::put)],
        ),
        (
            "/admin/v1/orgs/{orgId}",
            &[
                (Get, orgs::get),
                (Put, orgs::put),
                (Delete, org_deletion::delete_org),
            ],
        ),
        ("/admin/v1/orgs/{orgId}/usage", &[(Get, orgs::usage)]),
        (
            "/admin/v1/orgs/{orgId}/tokens",
            &[(Get, orgs::list_tokens), (Post, orgs::mint_token)],
        ),
        (
            "/admin/v1/orgs/{orgId}/tokens/{tokenId}",
            &[(Delete, orgs::delete_token)],
        ),
        (
            "/admin/v1/orgs/{orgId}/access-keys",
            &[(Get, orgs::list_access_keys), (Post, orgs::mint_access_key)],
        ),
        (
            "/admin/v1/orgs/{orgId}/reseal-access-keys",
            &[(Post, orgs::reseal_access_keys)],
        ),
        (
            "/admin/v1/orgs/{orgId}/access-keys/{accessKeyId}",
            &[
                (Patch, orgs::patch_access_key),
                (Delete, orgs::delete_access_key),
            ],
        ),
        (
            "/admin/v1/orgs/{orgId}/provider-instances/{id}",
            &[
                (Get, |st, p, _, _| {
                    inventory::get(st, p, Kind::ProviderInstance)
                }),
                (Put, |st, p, b, _| {
                    inventory::put(st, p, b, Kind::ProviderInstance)
                }),
            ],
        ),
        (
            "/admin/v1/orgs/{orgId}/gallery-images/{id}",
            &[
                (Get, |st, p, _, _| inventory::get(st, p, Kind::GalleryImage)),
                (Put, |st, p, b, _| {
                    inventory::put(st, p, b, Kind::GalleryImage)
                }),
            ],
        ),
        (
            "/admin/v1/orgs/{orgId}/vms/{id}",
            &[
                (Get, |st, p, _, _| inventory::get(st, p, Kind::Vm)),
                (Put, |st, p, b, _| inventory::put(st, p, b, Kind::Vm)),
            ],
        ),
        (
            "/admin/v1/orgs/{orgId}/instances/{id}",
            &[
                (Get, |st, p, _, _| inventory::get(st, p, Kind::Instance)),
                (Put, |st, p, b, _| inventory::put(st, p, b, Kind::Instance)),
            ],
        ),
        (
            "/admin/v1/orgs/{orgId}/regions/{id}",
            &[
                (Get, |st, p, _, _| inventory::get(st, p, Kind::Region)),
                (Put, |st, p, b, _| inventory::put(st, p, b, Kind::Region)),
            ],
        ),
    ],
};

/// Handles one admin request. `path` is the request path (query ignored).
pub fn handle(
    st: &Store<'_>,
    config: &Config<'_>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    answer(st, config, method, path, headers, body).unwrap_or_else(Response::from)
}

fn answer(
    st: &Store<'_>,
    config: &Config<'_>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    fn configured(t: Option<&str>) -> Option<&str> {
        t.filter(|t| !t.trim().is_empty())
    }
    let admin = configured(config.admin_token);
    let ticker = configured(config.tick_token);
    let path = path.split('?').next().unwrap_or("");
    let tick_route = path == TICK_PATH;
    if admin.is_none() && !(tick_route && ticker.is_some()) {
        return Err(AdminError::Disabled);
    }
    let presented = crate::api::single_header(headers, "authorization")
        .map_err(|()| {
            AdminError::invalid(
                "Authorization",
                "DUPLICATE_HEADER",
                "the Authorization header is sent more than once",
            )
        })?
        .and_then(auth::bearer_token);
    // Both comparisons always run: which token matched takes no different time.
    let (is_admin, is_ticker) = (
        auth::is_secret(presented, admin),
        auth::is_secret(presented, ticker),
    );
    if !(is_admin || (tick_route && is_ticker)) {
        return Err(AdminError::Unauthorized);
    }
    if body.len() > MAX_BODY {
        return Err(AdminError::BodyTooLarge);
    }
    let (endpoint, params) = ROUTES.resolve(method, path)?;
    endpoint(st, &params, body, config)
}

/// The one route the `tick_token` opens.
const TICK_PATH: &str = "/admin/v1/engine/tick";

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Ids in admin paths (they become key segments).
pub use crate::keys::valid_id;
