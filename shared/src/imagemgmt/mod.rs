//! The imagemgmt REST door (docs/contract/imagemgmt-api.md), framework-free: [`handle`] takes an
//! [`ApiRequest`] and always returns a complete [`ApiResponse`]; the Spin component only
//! converts types. Routing, authentication, tenancy (`org_id`/`orgId`), body guards and
//! `Idempotency-Key` live here; the operations live in [`service`].

pub mod idem;
pub mod input;
pub mod names;
pub mod openapi;
pub mod partner;
pub mod query;
pub mod service;
pub mod shared;
pub mod submit;

#[cfg(test)]
mod tests;

use crate::api::{ApiRequest, ApiResponse, MAX_BODY_BYTES, Problem, json_body};
use crate::auth;
use crate::conditional::{self, Preconditions};
use crate::ops::Settings;
use crate::ratelimit;
use crate::records::Store;
use crate::routing::{Method::*, Params, RouteMiss, RouteTable};
use Endpoint::Api;
use input::{CreateAction, Id};
use serde_json::Value;
use service::{Ctx, Reply};

/// The door's base path.
pub const BASE: &str = "/imagemgmt/v1";

/// What a method and path resolve to.
#[derive(Debug, Clone, PartialEq)]
enum Endpoint {
    /// The OpenAPI document: public, served before authentication.
    OpenApi,
    /// An operation of the API.
    Api(Route),
}

/// The API's operations.
#[derive(Debug, Clone, PartialEq)]
enum Route {
    Operation(String),
    ListImages,
    CreateImage,
    GetImage(String),
    PatchImage(String),
    DeleteImage(String),
    ListVersions(String),
    AddVersion(String),
    GetVersion(String, String),
    PatchVersion(String, String),
    DeleteVersion(String, String),
    VersionAction(String, String),
    Republish(String, String),
    Clone(String, String),
    Copies(String, String),
}

impl Route {
    fn writes(&self) -> bool {
        !matches!(
            self,
            Route::Operation(_)
                | Route::ListImages
                | Route::GetImage(_)
                | Route::ListVersions(_)
                | Route::GetVersion(..)
                | Route::Copies(..)
        )
    }
}

fn not_found() -> Problem {
    Problem::new(404, "NOT_FOUND", "no such resource")
}

/// Builds an [`Endpoint`] from the matched path's parameters.
type Make = fn(&Params<'_>) -> Endpoint;

/// An operation on one image.
fn image(p: &Params<'_>, r: fn(String) -> Route) -> Endpoint {
    Api(r(p.own("imageId")))
}

/// An operation on one version.
fn version(p: &Params<'_>, r: fn(String, String) -> Route) -> Endpoint {
    Api(r(p.own("imageId"), p.own("versionId")))
}

/// The door's routes: each path with its methods, in the order a 405's `Allow` lists them.
/// Every parameter is an id; a segment that cannot be an id cannot name a record: 404.
const ROUTES: RouteTable<Make, Problem> = RouteTable {
    param: |_, seg| Id::parse(seg).map(drop).map_err(|_| not_found()),
    routes: &[
        (
            "/imagemgmt/v1/openapi.json",
            &[(Get, |_| Endpoint::OpenApi)],
        ),
        (
            "/imagemgmt/v1/operations/{operationId}",
            &[(Get, |p| Api(Route::Operation(p.own("operationId"))))],
        ),
        (
            "/imagemgmt/v1/images",
            &[
                (Get, |_| Api(Route::ListImages)),
                (Post, |_| Api(Route::CreateImage)),
            ],
        ),
        (
            "/imagemgmt/v1/images/{imageId}",
            &[
                (Get, |p| image(p, Route::GetImage)),
                (Patch, |p| image(p, Route::PatchImage)),
                (Delete, |p| image(p, Route::DeleteImage)),
            ],
        ),
        (
            "/imagemgmt/v1/images/{imageId}/versions",
            &[
                (Get, |p| image(p, Route::ListVersions)),
                (Post, |p| image(p, Route::AddVersion)),
            ],
        ),
        (
            "/imagemgmt/v1/images/{imageId}/versions/{versionId}",
            &[
                (Get, |p| version(p, Route::GetVersion)),
                (Patch, |p| version(p, Route::PatchVersion)),
                (Delete, |p| version(p, Route::DeleteVersion)),
                (Post, |p| version(p, Route::VersionAction)),
            ],
        ),
        (
            "/imagemgmt/v1/images/{imageId}/versions/{versionId}/republish",
            &[(Post, |p| version(p, Route::Republish))],
        ),
        (
            "/imagemgmt/v1/images/{imageId}/versions/{versionId}/clone",
            &[(Post, |p| version(p, Route::Clone))],
        ),
        (
            "/imagemgmt/v1/images/{imageId}/versions/{versionId}/copies",
            &[(Get, |p| version(p, Route::Copies))],
        ),
    ],
};

/// The route of an (upper-case) method and a path, or the 404 / 405 answer.
fn route(method: &str, path: &str) -> Result<Endpoint, ApiResponse> {
    match ROUTES.resolve(method, path) {
        Ok((make, params)) => Ok(make(&params)),
        Err(RouteMiss::NotFound) => Err(not_found().into()),
        Err(RouteMiss::BadParam(p)) => Err(p.into()),
        Err(RouteMiss::MethodNotAllowed { allow }) => Err(ApiResponse::from(Problem::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("allowed: {allow}"),
        ))
        .header("allow", &allow)),
    }
}

/// The caller's org from `Authorization: Bearer …`: 401 when missing or unknown.
fn authenticate(st: &Store<'_>, req: &ApiRequest) -> Result<ratelimit::Caller, Problem> {
    let unauthorized = |d: &str| Problem::new(401, "UNAUTHORIZED", d);
    let h = crate::api::single_header(&req.headers, "authorization")
        .map_err(|()| {
            Problem::new(
                400,
                "DUPLICATE_HEADER",
                "the Authorization header is sent more than once",
            )
        })?
        .ok_or_else(|| unauthorized("missing bearer token"))?;
    let token = match h.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => return Err(unauthorized("expected Authorization: Bearer <token>")),
    };
    auth::caller_for_token(st, token)?.ok_or_else(|| unauthorized("unknown bearer token"))
}

fn forbidden(what: &str) -> Problem {
    Problem::new(
        403,
        "ORG_MISMATCH",
        format!("{what} does not match the token's org"),
    )
}

/// The whole door: routes, authenticates, guards, runs the operation and maps every error.
/// Nothing here may panic (a `wasm32-wasip2` component aborts on panic, and Spin answers an
/// empty 500).
pub fn handle(st: &Store<'_>, settings: &Settings, req: &ApiRequest) -> ApiResponse {
    let method = req.method.to_ascii_uppercase();
    let route = match route(&method, &req.path) {
        Ok(Api(r)) => r,
        Ok(Endpoint::OpenApi) => {
            return ApiResponse::with_body(200, "application/json", openapi::SERVED.to_vec());
        }
        Err(resp) => return resp,
    };
    // An oversized body is refused before authentication, so that an anonymous client
    // learns nothing but the limit and costs no store call (`json_body` answers the 413).
    if req.body.len() > MAX_BODY_BYTES
        && let Err(p) = json_body(&req.body)
    {
        return p.into();
    }
    let caller = match authenticate(st, req) {
        Ok(c) => c,
        Err(p) => return p.into(),
    };
    // The org's request limit, before any other store work (`crate::ratelimit`).
    if let ratelimit::Verdict::Throttled { retry_after_s } =
        ratelimit::check(st, settings, ratelimit::Door::Rest, &caller)
    {
        return ratelimit::too_many_requests(retry_after_s).into();
    }
    let org = caller.org;
    let pairs = req.query_pairs();
    if let Some((_, q)) = pairs.iter().find(|(k, _)| k == "org_id")
        && *q != org
    {
        return forbidden("org_id").into();
    }
    // Body guards before anything reads it: 413 / 400.
    let body = if route.writes() && method != "DELETE" {
        match json_body(&req.body) {
            Ok(b) => b,
            Err(p) => return p.into(),
        }
    } else {
        Value::Null
    };
    if let Some(Value::String(o)) = body.get("orgId")
        && *o != org
    {
        return forbidden("orgId").into();
    }
    let ctx = Ctx {
        st: *st,
        settings,
        org,
        handed: Default::default(),
    };
    let idem_claim = if route.writes() && matches!(method.as_str(), "POST" | "PATCH") {
        let key = match idem::key_of(req) {
            Ok(k) => k,
            Err(p) => return p.into(),
        };
        match key {
            None => None,
            Some(k) => match idem::start(st, settings, &ctx.org, k, req) {
                Ok(idem::Begin::Proceed(c)) => Some(c),
                Ok(idem::Begin::Replay(r)) => return r,
                Ok(idem::Begin::Refuse(p)) => return p.into(),
                Err(e) => return Problem::store(&e).into(),
            },
        }
    } else {
        None
    };
    let resp = match route_access(&ctx, &route, &pairs) {
        Ok(shared::Access::Own) => dispatch(&ctx, &route, req, &pairs, &body),
        Ok(shared::Access::Shared) => {
            let platform = shared::platform_ctx(&ctx);
            match &route {
                Route::Clone(i, v) => respond(service::clone_from(
                    &ctx,
                    &platform,
                    i,
                    v,
                    Some("clone-image"),
                    &body,
                )),
                _ => dispatch(&platform, &route, req, &pairs, &body),
            }
        }
        Err(p) => p.into(),
    };
    if let Some(c) = idem_claim {
        idem::finish(st, &c, &resp);
    }
    conditional::not_modified(&method, req.header("if-none-match"), resp)
}

/// Whether the request names a platform-shared image, and may reach it (`shared`).
fn route_access(
    ctx: &Ctx<'_>,
    route: &Route,
    pairs: &[(String, String)],
) -> Result<shared::Access, Problem> {
    let image = match route {
        Route::GetImage(i)
        | Route::PatchImage(i)
        | Route::DeleteImage(i)
        | Route::ListVersions(i)
        | Route::AddVersion(i)
        | Route::GetVersion(i, _)
        | Route::PatchVersion(i, _)
        | Route::DeleteVersion(i, _)
        | Route::VersionAction(i, _)
        | Route::Republish(i, _)
        | Route::Clone(i, _)
        | Route::Copies(i, _) => i,
        _ => return Ok(shared::Access::Own),
    };
    let copies = matches!(route, Route::Clone(..))
        && pairs
            .iter()
            .any(|(k, v)| k == "action" && v == "clone-image");
    // Routes whose operation reads the named version next read it with the image.
    let version = match route {
        Route::GetVersion(_, v)
        | Route::PatchVersion(_, v)
        | Route::DeleteVersion(_, v)
        | Route::VersionAction(_, v)
        | Route::Copies(_, v) => Some(v.as_str()),
        _ => None,
    };
    shared::access(ctx, image, version, route.writes(), copies)
}

fn respond<E: Into<Problem>>(r: Result<Reply, E>) -> ApiResponse {
    match r {
        Ok(reply) => {
            let mut resp = ApiResponse::json(reply.status, &reply.body);
            if let Some(t) = reply.etag {
                resp = resp.header("etag", &format!("\"{t}\""));
            }
            if let Some(op) = reply.operation_id {
                resp = resp.header("operation-location", &format!("{BASE}/operations/{op}"));
            }
            resp
        }
        Err(e) => ApiResponse::from(e.into()),
    }
}

fn dispatch(
    ctx: &Ctx<'_>,
    route: &Route,
    req: &ApiRequest,
    pairs: &[(String, String)],
    body: &Value,
) -> ApiResponse {
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let pre = Preconditions {
        if_match: req.header("if-match"),
        if_none_match: req.header("if-none-match"),
    };
    match route {
        Route::Operation(id) => respond(service::get_operation(ctx, id)),
        Route::ListImages => respond(service::list_images(ctx, pairs)),
        Route::CreateImage => match CreateAction::parse(param("action")) {
            Ok(a) => respond(service::create_image(ctx, a, body)),
            Err(p) => p.into(),
        },
        Route::GetImage(i) => respond(service::get_image(ctx, i)),
        Route::PatchImage(i) => respond(service::patch_image(ctx, i, body, pre)),
        Route::DeleteImage(i) => respond(service::delete_image(ctx, i, pre)),
        Route::ListVersions(i) => respond(service::list_versions(ctx, i, pairs)),
        Route::AddVersion(i) => respond(service::add_version(ctx, i, body)),
        Route::GetVersion(i, v) => respond(service::get_version(ctx, i, v)),
        Route::PatchVersion(i, v) => respond(service::patch_version(ctx, i, v, body, pre)),
        Route::DeleteVersion(i, v) => {
            respond(service::delete_version(ctx, i, v, param("force"), pre))
        }
        Route::VersionAction(i, v) => match param("action") {
            Some("publish") => respond(service::publish(ctx, i, v, body)),
            other => Problem::field(
                "action",
                if other.is_some() {
                    "UNKNOWN_VALUE"
                } else {
                    "REQUIRED"
                },
                "POST on a version needs action=publish",
            )
            .into(),
        },
        Route::Republish(i, v) => respond(service::republish(ctx, i, v, body)),
        Route::Clone(i, v) => respond(service::clone(ctx, i, v, param("action"), body)),
        Route::Copies(i, v) => respond(service::list_copies(ctx, i, v, pairs)),
    }
}

#[cfg(test)]
mod route_table_tests {
    use super::*;

    #[test]
    fn the_route_table_is_sound_and_every_row_builds_its_endpoint() {
        assert_eq!(ROUTES.conflicts(), Vec::<String>::new());
        for (pattern, methods) in ROUTES.routes {
            assert!(pattern.starts_with(BASE), "{pattern}");
            let path = pattern
                .split('/')
                .map(|s| if s.starts_with('{') { "id-1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            for (m, _) in *methods {
                let e = route(m.as_str(), &path).unwrap_or_else(|r| panic!("{m} {path}: {r:?}"));
                let ids = format!("{e:?}").matches("\"id-1\"").count();
                assert_eq!(ids, pattern.matches('{').count(), "{m} {pattern}: {e:?}");
            }
        }
    }
}
