//! The admin API (docs/contract/lifecycle.md "The provider simulator"): orgs, credentials, the simulator's
//! inventory and its failure injection. Every call needs `Authorization: Bearer <admin token>`
//! (Spin variable `admin_token`); with no admin token configured the API is disabled (503).
//!
//! Admin `PUT`s replace the whole item (a blind set: the admin is the only writer of these
//! keys, and last-writer-wins is what `PUT` means).
//!
//! Map: `ROUTES` (every endpoint, in one table), `orgs` (orgs and their credentials),
//! `shared_images`, `inventory` (the simulator's items), `simulation`, `body` (reading
//! bodies), [`AdminError`] (every refusal, and its one conversion into a problem document).

use crate::api::ApiResponse;
use crate::auth;
use crate::records::Store;
use crate::routing::{Method::*, Params, RouteTable};
use inventory::Kind;
use serde::Serialize;
use serde_json::Value;

mod body;
mod error;
mod inventory;
mod orgs;
mod shared_images;
mod simulation;
mod vocab;

#[cfg(test)]
mod tests;

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

/// What the admin API knows of the app's settings.
#[derive(Debug, Clone, Copy)]
pub struct Config<'a> {
    /// The `admin_token` variable (`None`: the API is closed).
    pub admin_token: Option<&'a str>,
    /// The `due_shards` variable, for `GET /admin/v1/engine`.
    pub due_shards: u32,
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
        ("/admin/v1/engine", &[(Get, engine)]),
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
            &[(Get, orgs::get), (Put, orgs::put)],
        ),
        ("/admin/v1/orgs/{orgId}/tokens", &[(Post, orgs::mint_token)]),
        (
            "/admin/v1/orgs/{orgId}/access-keys",
            &[(Post, orgs::mint_access_key)],
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
    let expected = config
        .admin_token
        .filter(|t| !t.trim().is_empty())
        .ok_or(AdminError::Disabled)?;
    let presented = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| {
            let v = v.trim();
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        });
    match presented {
        Some(t) if auth::constant_time_eq(t.as_bytes(), expected.as_bytes()) => {}
        _ => return Err(AdminError::Unauthorized),
    }
    if body.len() > MAX_BODY {
        return Err(AdminError::BodyTooLarge);
    }
    let path = path.split('?').next().unwrap_or("");
    let (endpoint, params) = ROUTES.resolve(method, path)?;
    endpoint(st, &params, body, config)
}

/// `GET /admin/v1/engine`: the due index's shards (ring, orgs waiting, leases) and lanes.
fn engine(st: &Store<'_>, _: &Params<'_>, _: &[u8], config: &Config<'_>) -> Answer {
    let view = crate::due::view::view(st, config.due_shards)?;
    Ok(Response::json(200, &view))
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Ids in admin paths (they become key segments).
pub use crate::keys::valid_id;
