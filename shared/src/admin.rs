//! The admin API (lifecycle.md "The provider simulator"): orgs, credentials, the simulator's
//! inventory and its failure injection. Every call needs `Authorization: Bearer <admin token>`
//! (Spin variable `admin_token`); with no admin token configured the API is disabled (503).
//!
//! Admin `PUT`s replace the whole item (a blind set: the admin is the only writer of these
//! keys, and last-writer-wins is what `PUT` means).

use crate::api::{ApiResponse, Problem};
use crate::auth;
use crate::keys;
use crate::records::Store;
use crate::sim::{
    FailRule, GalleryImage, Instance, InstanceType, ProviderInstance, Region, Simulation, Vm,
};
use crate::store::StoreError;
use crate::time::Timestamp;
use crate::vocab::{GpuType, OsType, ProviderLabel};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::str::FromStr;

mod vocab;

/// The admin API answers with the same framework-free response as the doors, built from
/// the same problem documents.
pub type Response = ApiResponse;

/// An `application/problem+json` answer (RFC 9457) with a stable `code`.
fn problem(status: u16, code: &str, detail: &str) -> Response {
    Problem::new(status, code, detail).into()
}

/// A store failure: 503 with `Retry-After` (R4), or 500 when it is not transient.
fn store_error(e: &StoreError) -> Response {
    Problem::store(e).into()
}

/// An org.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Org {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// The partner orgs (MSPs) that prepare images for this org: Add Version and image
    /// creation with `assetDetails.data.mspOrgId` accept only one of these.
    #[serde(default)]
    pub partners: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Reads an org.
pub fn org(st: &Store<'_>, id: &str) -> Result<Option<Org>, StoreError> {
    Ok(st.get::<Org>(&keys::org(id))?.map(|s| s.value))
}

/// Admin bodies above this size are refused.
pub const MAX_BODY: usize = 256 * 1024;

/// Handles one admin request. `path` is the request path (query ignored).
pub fn handle(
    st: &Store<'_>,
    admin_token: Option<&str>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Response {
    let Some(expected) = admin_token.filter(|t| !t.trim().is_empty()) else {
        return problem(
            503,
            "ADMIN_DISABLED",
            "the admin API is disabled: no admin token is configured (set the Spin variable admin_token)",
        );
    };
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
        _ => {
            return problem(
                401,
                "UNAUTHORIZED",
                "admin calls need Authorization: Bearer <admin token>",
            );
        }
    }
    if body.len() > MAX_BODY {
        return problem(413, "BODY_TOO_LARGE", "admin bodies are at most 256 KiB");
    }
    let path = path.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    match route(st, method, &segments, body) {
        Ok(r) => r,
        Err(e) => store_error(&e),
    }
}

type Answer = Result<Response, StoreError>;

fn route(st: &Store<'_>, method: &str, seg: &[&str], body: &[u8]) -> Answer {
    let not_allowed = |allow: &str| {
        Ok(problem(
            405,
            "METHOD_NOT_ALLOWED",
            &format!("use {allow} on this path"),
        )
        .header("allow", allow))
    };
    match seg {
        ["admin", "v1", "simulation"] => match method {
            "PUT" => put_simulation(st, body),
            "GET" => Ok(Response::json(
                200,
                &serde_json::to_value(Simulation::load(st)?).unwrap_or(Value::Null),
            )),
            _ => not_allowed("GET, PUT"),
        },
        ["admin", "v1", "shared-images", image_id] => {
            if let Err(r) = check_id("imageId", image_id) {
                return Ok(r);
            }
            match method {
                "PUT" => put_shared_image(st, image_id, body),
                "GET" => match crate::platform::image(st, image_id)? {
                    Some(i) => Ok(Response::json(200, &to_json(&i))),
                    None => Ok(problem(
                        404,
                        "NOT_FOUND",
                        &format!("no shared image {image_id}"),
                    )),
                },
                _ => not_allowed("GET, PUT"),
            }
        }
        ["admin", "v1", "orgs", org_id] => {
            if let Err(r) = check_id("orgId", org_id) {
                return Ok(r);
            }
            match method {
                "PUT" => put_org(st, org_id, body),
                "GET" => match org(st, org_id)? {
                    Some(o) => Ok(Response::json(200, &to_json(&o))),
                    None => Ok(org_not_found(org_id)),
                },
                _ => not_allowed("GET, PUT"),
            }
        }
        ["admin", "v1", "orgs", org_id, "tokens"] => {
            if method != "POST" {
                return not_allowed("POST");
            }
            if let Err(r) = check_org(st, org_id)? {
                return Ok(r);
            }
            let token = auth::mint_token(st, org_id)?;
            Ok(Response::json(
                201,
                &json!({ "token": token, "orgId": org_id }),
            ))
        }
        ["admin", "v1", "orgs", org_id, "access-keys"] => {
            if method != "POST" {
                return not_allowed("POST");
            }
            if let Err(r) = check_org(st, org_id)? {
                return Ok(r);
            }
            let ak = auth::mint_access_key(st, org_id)?;
            Ok(Response::json(
                201,
                &json!({
                    "accessKeyId": ak.access_key_id,
                    "accessKeySecret": ak.access_key_secret,
                    "orgId": org_id,
                }),
            ))
        }
        ["admin", "v1", "orgs", org_id, kind, item_id] => {
            let key_fn: fn(&str, &str) -> String = match *kind {
                "provider-instances" => keys::provider_instance,
                "gallery-images" => keys::gallery_image,
                "vms" => keys::vm,
                "instances" => keys::instance,
                "regions" => keys::region,
                _ => return Ok(no_route()),
            };
            if let Err(r) = check_org(st, org_id)? {
                return Ok(r);
            }
            if let Err(r) = check_id("id", item_id) {
                return Ok(r);
            }
            let key = key_fn(org_id, item_id);
            match method {
                "GET" => match st.get::<Value>(&key)? {
                    Some(v) => Ok(Response::json(200, &v.value)),
                    None => Ok(problem(
                        404,
                        "NOT_FOUND",
                        &format!("no {kind} item {item_id} in org {org_id}"),
                    )),
                },
                "PUT" => {
                    let obj = match parse_object(body) {
                        Ok(o) => o,
                        Err(r) => return Ok(r),
                    };
                    let item = match build_item(kind, item_id, &obj) {
                        Ok(v) => v,
                        Err(r) => return Ok(r),
                    };
                    st.put_new(&key, &item)?;
                    Ok(Response::json(200, &item))
                }
                _ => not_allowed("GET, PUT"),
            }
        }
        _ => Ok(no_route()),
    }
}

fn no_route() -> Response {
    problem(404, "NOT_FOUND", "no such admin endpoint")
}

fn org_not_found(org_id: &str) -> Response {
    problem(
        404,
        "ORG_NOT_FOUND",
        &format!("org {org_id} does not exist (create it with PUT /admin/v1/orgs/{org_id})"),
    )
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Ids in admin paths: 1–128 of letters, digits, `.`, `_`, `-` (they become key segments).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

fn check_id(field: &str, id: &str) -> Result<(), Response> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(invalid(
            field,
            "INVALID_ID",
            "1 to 128 letters, digits, '.', '_' or '-'",
        ))
    }
}

fn check_org(st: &Store<'_>, org_id: &str) -> Result<Result<(), Response>, StoreError> {
    if let Err(r) = check_id("orgId", org_id) {
        return Ok(Err(r));
    }
    Ok(match org(st, org_id)? {
        Some(_) => Ok(()),
        None => Err(org_not_found(org_id)),
    })
}

fn invalid(field: &str, code: &str, message: &str) -> Response {
    Problem::field(field, code, message).into()
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(problem(
            400,
            "INVALID_JSON",
            "the body must be a JSON object",
        )),
        Err(e) => Err(problem(
            400,
            "INVALID_JSON",
            &format!("the body is not JSON: {e}"),
        )),
    }
}

/// Typed reads of optional body fields; the first wrong one becomes a 400 naming it.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    fn string(&self, name: &str) -> Result<Option<String>, Response> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(name, "INVALID_TYPE", "must be a string")),
        }
    }

    fn parsed<T: FromStr>(&self, name: &str, allowed: &str) -> Result<Option<T>, Response> {
        match self.string(name)? {
            None => Ok(None),
            Some(s) => s
                .parse::<T>()
                .map(Some)
                .map_err(|_| invalid(name, "INVALID_ENUM", &format!("must be one of {allowed}"))),
        }
    }

    fn boolean(&self, name: &str, default: bool) -> Result<bool, Response> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(invalid(name, "INVALID_TYPE", "must be true or false")),
        }
    }

    fn string_list(&self, name: &str) -> Result<Vec<String>, Response> {
        match self.get(name) {
            None => Ok(vec![]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(invalid(name, "INVALID_TYPE", "must be a list of strings")),
                })
                .collect(),
            Some(_) => Err(invalid(name, "INVALID_TYPE", "must be a list of strings")),
        }
    }

    /// A free-form JSON object (absent: empty).
    fn object(&self, name: &str) -> Result<Map<String, Value>, Response> {
        match self.get(name) {
            None => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(invalid(name, "INVALID_TYPE", "must be a JSON object")),
        }
    }

    fn positive(&self, name: &str) -> Result<Option<u64>, Response> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(invalid(
                    name,
                    "INVALID_NUMBER",
                    "must be a positive integer",
                )),
            },
        }
    }
}

fn enum_list<T: Copy + std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn build_item(kind: &str, id: &str, obj: &Map<String, Value>) -> Result<Value, Response> {
    let f = Fields(obj);
    let os_list = enum_list(OsType::ALL);
    let gpu_list = enum_list(GpuType::ALL);
    let os = |f: &Fields| -> Result<OsType, Response> {
        Ok(f.parsed::<OsType>("osType", &os_list)?
            .unwrap_or(OsType::Windows))
    };
    let gpu = |f: &Fields| -> Result<GpuType, Response> {
        Ok(f.parsed::<GpuType>("gpuType", &gpu_list)?
            .unwrap_or(GpuType::None))
    };
    let value = match kind {
        "provider-instances" => to_json(&ProviderInstance {
            id: id.to_owned(),
            provider_label: f
                .parsed::<ProviderLabel>("providerLabel", &enum_list(ProviderLabel::ALL))?
                .unwrap_or(ProviderLabel::Azure),
            region: f.string("region")?,
        }),
        "gallery-images" => {
            let granted_to = f.string_list("grantedTo")?;
            if let Some(bad) = granted_to.iter().find(|g| !valid_id(g)) {
                return Err(invalid(
                    "grantedTo",
                    "INVALID_ID",
                    &format!("{bad:?} is not a valid provider instance id"),
                ));
            }
            let prepared_by = f.string("preparedBy")?;
            if prepared_by.as_deref().is_some_and(|p| !valid_id(p)) {
                return Err(invalid(
                    "preparedBy",
                    "INVALID_ID",
                    "must be the id of the partner org that prepared the image",
                ));
            }
            to_json(&GalleryImage {
                id: id.to_owned(),
                os_type: os(&f)?,
                gpu_type: gpu(&f)?,
                granted_to,
                prepared_by,
                metadata: f.object("metadata")?,
                app_scan: f.object("appScan")?,
            })
        }
        "vms" => to_json(&Vm {
            id: id.to_owned(),
            provider_instance_id: f.string("providerInstanceId")?,
            os_type: os(&f)?,
            gpu_type: gpu(&f)?,
        }),
        "instances" => {
            let instance_type = match f.string("instanceType")?.as_deref() {
                None | Some("CloudDesktop") => InstanceType::CloudDesktop,
                Some("WuyingServer") => InstanceType::WuyingServer,
                Some(_) => {
                    return Err(invalid(
                        "instanceType",
                        "INVALID_ENUM",
                        "must be one of CloudDesktop, WuyingServer",
                    ));
                }
            };
            let os_type = match f.string("osType")? {
                None => OsType::Windows,
                Some(s) => vocab::instance_os_type(&s).ok_or_else(|| {
                    invalid(
                        "osType",
                        "INVALID_ENUM",
                        &format!("must be one of {}", vocab::INSTANCE_OS_TYPES),
                    )
                })?,
            };
            to_json(&Instance {
                id: id.to_owned(),
                instance_type,
                os_type,
                centralized_image: f.boolean("centralizedImage", true)?,
                physical_node: f.boolean("physicalNode", true)?,
                base_image_configured: f.boolean("baseImageConfigured", true)?,
                sub_instances: f.string_list("subInstances")?,
            })
        }
        _ => to_json(&Region { id: id.to_owned() }),
    };
    Ok(value)
}

fn put_org(st: &Store<'_>, org_id: &str, body: &[u8]) -> Answer {
    let obj = match parse_object(body) {
        Ok(o) => o,
        Err(r) => return Ok(r),
    };
    let name = match Fields(&obj).string("name") {
        Ok(n) => n,
        Err(r) => return Ok(r),
    };
    let partners = match Fields(&obj).get("partners") {
        None => None,
        Some(_) => match Fields(&obj).string_list("partners") {
            Ok(p) => Some(p),
            Err(r) => return Ok(r),
        },
    };
    if let Some(bad) = partners.iter().flatten().find(|p| !valid_id(p)) {
        return Ok(invalid(
            "partners",
            "INVALID_ID",
            &format!("{bad:?} is not a valid org id"),
        ));
    }
    let now = Timestamp(st.now_ms());
    let existing = org(st, org_id)?;
    // Absent `partners` keeps the org's partners (re-seeding an org keeps them); `[]` clears.
    let partners = partners
        .or_else(|| existing.as_ref().map(|o| o.partners.clone()))
        .unwrap_or_default();
    let created = existing.is_none();
    let record = Org {
        id: org_id.to_owned(),
        name,
        partners,
        created_at: existing.map(|o| o.created_at).unwrap_or(now),
        updated_at: now,
    };
    st.put_new(&keys::org(org_id), &record)?;
    Ok(Response::json(
        if created { 201 } else { 200 },
        &to_json(&record),
    ))
}

/// `PUT /admin/v1/shared-images/{id}`: an image the platform shares with every org
/// (`crate::platform`): `name` (required on creation, 1–128 characters), `description`,
/// `osType`, `gpuType` (Horizon's names, default `WINDOWS`, `NONE`).
fn put_shared_image(st: &Store<'_>, id: &str, body: &[u8]) -> Answer {
    let obj = match parse_object(body) {
        Ok(o) => o,
        Err(r) => return Ok(r),
    };
    let f = Fields(&obj);
    let parsed = (|| -> Result<_, Response> {
        let name = f.string("name")?;
        let description = f.string("description")?;
        let os_type = f
            .parsed::<OsType>("osType", &enum_list(OsType::ALL))?
            .unwrap_or(OsType::Windows);
        let gpu_type = f
            .parsed::<GpuType>("gpuType", &enum_list(GpuType::ALL))?
            .unwrap_or(GpuType::None);
        Ok((name, description, os_type, gpu_type))
    })();
    let (name, description, os_type, gpu_type) = match parsed {
        Ok(p) => p,
        Err(r) => return Ok(r),
    };
    let existing = crate::platform::image(st, id)?;
    let name = match name.or_else(|| existing.map(|i| i.name)) {
        Some(n) if !n.is_empty() && n.chars().count() <= 128 => n,
        _ => {
            return Ok(invalid(
                "name",
                "REQUIRED",
                "a shared image needs a name of 1-128 characters",
            ));
        }
    };
    let (img, created) = crate::platform::put(
        st,
        &crate::platform::SharedImage {
            id: id.to_owned(),
            name,
            description,
            os_type,
            gpu_type,
        },
    )?;
    Ok(Response::json(
        if created { 201 } else { 200 },
        &to_json(&img),
    ))
}

fn put_simulation(st: &Store<'_>, body: &[u8]) -> Answer {
    let obj = match parse_object(body) {
        Ok(o) => o,
        Err(r) => return Ok(r),
    };
    match simulation_from(&obj) {
        Ok(sim) => {
            st.put_new(&keys::simulation(), &sim)?;
            Ok(Response::json(200, &to_json(&sim)))
        }
        Err(r) => Ok(r),
    }
}

fn simulation_from(obj: &Map<String, Value>) -> Result<Simulation, Response> {
    let f = Fields(obj);
    let seed = match f.get("seed") {
        None => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid("seed", "INVALID_NUMBER", "must be a non-negative integer"))?,
    };
    let failure_rate = match f.get("failureRate") {
        None => 0.0,
        Some(v) => match v.as_f64() {
            Some(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                return Err(invalid(
                    "failureRate",
                    "OUT_OF_RANGE",
                    "must be a number from 0 to 1",
                ));
            }
        },
    };
    let failing_steps = match f.get("failingSteps") {
        None => vec![],
        Some(v) => serde_json::from_value::<Vec<FailRule>>(v.clone()).map_err(|e| {
            invalid(
                "failingSteps",
                "INVALID_VALUE",
                &format!(
                    "must be a list of {{sourceId, step, attempts?, subject?, code?, stall?}}: {e}"
                ),
            )
        })?,
    };
    let max_attempts =
        match f.positive("maxAttempts")? {
            None => None,
            Some(n) => Some(u32::try_from(n).map_err(|_| {
                invalid("maxAttempts", "OUT_OF_RANGE", "must be at most 4294967295")
            })?),
        };
    Ok(Simulation {
        seed,
        failure_rate,
        failing_steps,
        step_ms: f.positive("stepMs")?,
        step_timeout_ms: f.positive("stepTimeoutMs")?,
        max_attempts,
        backoff_ms: f.positive("backoffMs")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::MemoryKv;

    const TOKEN: &str = "admin-secret";

    pub(super) fn call(st: &Store<'_>, method: &str, path: &str, body: &str) -> Response {
        let headers = vec![("Authorization".to_owned(), format!("Bearer {TOKEN}"))];
        handle(st, Some(TOKEN), method, path, &headers, body.as_bytes())
    }

    pub(super) fn body(r: &Response) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    pub(super) fn setup() -> (MemoryKv, FakeEnv) {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(1_800_000_000_000));
        assert_eq!(
            call(
                &Store::new(&kv, &env),
                "PUT",
                "/admin/v1/orgs/o1",
                r#"{"name":"Org 1"}"#
            )
            .status,
            201
        );
        (kv, env)
    }

    #[test]
    fn without_a_configured_token_every_call_is_503() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        for configured in [None, Some(""), Some("  ")] {
            let r = handle(
                &Store::new(&kv, &env),
                configured,
                "PUT",
                "/admin/v1/orgs/o1",
                &[],
                b"{}",
            );
            assert_eq!(r.status, 503);
            assert!(body(&r)["detail"].as_str().unwrap().contains("admin_token"));
        }
        assert!(kv.keys().is_empty());
    }

    #[test]
    fn a_missing_or_wrong_token_is_401() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let wrong = vec![("authorization".to_owned(), "Bearer nope".to_owned())];
        for headers in [vec![], wrong] {
            let r = handle(
                &Store::new(&kv, &env),
                Some(TOKEN),
                "PUT",
                "/admin/v1/orgs/o1",
                &headers,
                b"",
            );
            assert_eq!(r.status, 401);
            assert!(
                r.headers
                    .iter()
                    .any(|(n, v)| n == "content-type" && v == "application/problem+json")
            );
        }
        assert!(kv.keys().is_empty());
    }

    #[test]
    fn orgs_are_created_then_updated() {
        let (kv, env) = setup();
        env.advance_ms(1000);
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1",
            r#"{"name":"Renamed"}"#,
        );
        assert_eq!(r.status, 200);
        let o = org(&Store::new(&kv, &env), "o1").unwrap().unwrap();
        assert_eq!(o.name.as_deref(), Some("Renamed"));
        assert!(o.updated_at > o.created_at);
        assert_eq!(
            call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o1", "").status,
            200
        );
        assert_eq!(
            call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o2", "").status,
            404
        );
    }

    #[test]
    fn orgs_take_partners_and_gallery_images_their_preparer() {
        let (kv, env) = setup();
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1",
            r#"{"partners":["msp-1"]}"#,
        );
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["partners"], serde_json::json!(["msp-1"]));
        // A PUT without `partners` keeps them; `[]` clears them.
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1",
            r#"{"name":"n"}"#,
        );
        assert_eq!(body(&r)["partners"], serde_json::json!(["msp-1"]));
        assert_eq!(
            org(&Store::new(&kv, &env), "o1").unwrap().unwrap().partners,
            vec!["msp-1".to_owned()]
        );
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o2",
            r#"{"partners":[]}"#,
        );
        assert_eq!(body(&r)["partners"], serde_json::json!([]));
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/gallery-images/g-msp",
            r#"{"grantedTo":["pi-1"],"preparedBy":"msp-1","metadata":{"k":"v"},"appScan":{"apps":["a"]}}"#,
        );
        assert_eq!(r.status, 200);
        let g = crate::sim::gallery_image(&Store::new(&kv, &env), "o1", "g-msp")
            .unwrap()
            .unwrap();
        assert_eq!(g.prepared_by.as_deref(), Some("msp-1"));
        assert_eq!(g.metadata["k"], "v");
        assert_eq!(g.app_scan["apps"], serde_json::json!(["a"]));
        for (path, b, field) in [
            ("/admin/v1/orgs/o1", r#"{"partners":"msp-1"}"#, "partners"),
            ("/admin/v1/orgs/o1", r#"{"partners":["a b"]}"#, "partners"),
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"preparedBy":"a b"}"#,
                "preparedBy",
            ),
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"metadata":[1]}"#,
                "metadata",
            ),
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"appScan":"x"}"#,
                "appScan",
            ),
        ] {
            let r = call(&Store::new(&kv, &env), "PUT", path, b);
            assert_eq!(r.status, 400, "{b}");
            assert_eq!(body(&r)["errors"][0]["field"], field, "{b}");
        }
    }

    #[test]
    fn shared_images_are_put_and_read_by_the_platform() {
        let (kv, env) = setup();
        let path = "/admin/v1/shared-images/sys-1";
        assert_eq!(call(&Store::new(&kv, &env), "GET", path, "").status, 404);
        let r = call(&Store::new(&kv, &env), "PUT", path, "{}");
        assert_eq!(r.status, 400);
        assert_eq!(body(&r)["errors"][0]["field"], "name");
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            path,
            r#"{"osType":"DOS","name":"n"}"#,
        );
        assert_eq!(body(&r)["errors"][0]["field"], "osType");
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            path,
            r#"{"name":"Windows 11 system","osType":"WINDOWS"}"#,
        );
        assert_eq!(r.status, 201);
        assert_eq!(body(&r)["orgId"], crate::platform::ORG);
        assert_eq!(body(&r)["status"], "AVAILABLE");
        // Again: an update that keeps the name when none is given.
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            path,
            r#"{"description":"d"}"#,
        );
        assert_eq!(r.status, 200);
        assert_eq!(body(&r)["name"], "Windows 11 system");
        assert_eq!(body(&r)["versionCount"], 1);
        assert_eq!(call(&Store::new(&kv, &env), "GET", path, "").status, 200);
        assert_eq!(
            call(
                &Store::new(&kv, &env),
                "PUT",
                "/admin/v1/shared-images/a~b",
                "{}"
            )
            .status,
            400
        );
        // No admin org can be the platform.
        assert_eq!(
            call(
                &Store::new(&kv, &env),
                "PUT",
                "/admin/v1/orgs/~platform",
                "{}"
            )
            .status,
            400
        );
    }

    #[test]
    fn tokens_are_shown_once_and_authenticate_the_org() {
        let (kv, env) = setup();
        let r = call(
            &Store::new(&kv, &env),
            "POST",
            "/admin/v1/orgs/o1/tokens",
            "",
        );
        assert_eq!(r.status, 201);
        let token = body(&r)["token"].as_str().unwrap().to_owned();
        assert_eq!(
            auth::org_for_token(&Store::new(&kv, &env), &token)
                .unwrap()
                .as_deref(),
            Some("o1")
        );
        let r = call(
            &Store::new(&kv, &env),
            "POST",
            "/admin/v1/orgs/nobody/tokens",
            "",
        );
        assert_eq!(r.status, 404);
    }

    #[test]
    fn access_keys_are_minted_for_an_org() {
        let (kv, env) = setup();
        let r = call(
            &Store::new(&kv, &env),
            "POST",
            "/admin/v1/orgs/o1/access-keys",
            "",
        );
        assert_eq!(r.status, 201);
        let b = body(&r);
        let id = b["accessKeyId"].as_str().unwrap();
        let rec = auth::access_key(&Store::new(&kv, &env), id)
            .unwrap()
            .unwrap();
        assert_eq!(rec.org_id, "o1");
        assert_eq!(
            rec.access_key_secret,
            b["accessKeySecret"].as_str().unwrap()
        );
    }

    #[test]
    fn inventory_items_take_demo_defaults() {
        let (kv, env) = setup();
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/gallery-images/gal-1",
            r#"{"grantedTo":["pi-1"]}"#,
        );
        assert_eq!(r.status, 200);
        let g = crate::sim::gallery_image(&Store::new(&kv, &env), "o1", "gal-1")
            .unwrap()
            .unwrap();
        assert_eq!(
            (g.os_type, g.gpu_type, g.granted_to),
            (OsType::Windows, GpuType::None, vec!["pi-1".to_owned()])
        );
        assert_eq!(
            call(
                &Store::new(&kv, &env),
                "PUT",
                "/admin/v1/orgs/o1/instances/i-1",
                ""
            )
            .status,
            200
        );
        let i = crate::sim::instance(&Store::new(&kv, &env), "o1", "i-1")
            .unwrap()
            .unwrap();
        assert_eq!(i.instance_type, InstanceType::CloudDesktop);
        assert!(i.centralized_image && i.physical_node && i.base_image_configured);
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/instances/i-2",
            r#"{"instanceType":"WuyingServer","physicalNode":false,"subInstances":["s-1"]}"#,
        );
        assert_eq!(r.status, 200);
        let i = crate::sim::instance(&Store::new(&kv, &env), "o1", "i-2")
            .unwrap()
            .unwrap();
        assert_eq!(i.instance_type, InstanceType::WuyingServer);
        assert!(!i.physical_node);
        assert_eq!(i.sub_instances, vec!["s-1".to_owned()]);
        for (path, b) in [
            (
                "/admin/v1/orgs/o1/provider-instances/pi-1",
                r#"{"providerLabel":"AZURE","region":"westeurope"}"#,
            ),
            (
                "/admin/v1/orgs/o1/vms/vm-1",
                r#"{"providerInstanceId":"pi-1","osType":"SERVER"}"#,
            ),
            ("/admin/v1/orgs/o1/regions/cn-hangzhou", "{}"),
        ] {
            assert_eq!(
                call(&Store::new(&kv, &env), "PUT", path, b).status,
                200,
                "{path}"
            );
            assert_eq!(
                call(&Store::new(&kv, &env), "GET", path, "").status,
                200,
                "{path}"
            );
        }
        assert_eq!(
            crate::sim::vm(&Store::new(&kv, &env), "o1", "vm-1")
                .unwrap()
                .unwrap()
                .os_type,
            OsType::Server
        );
        assert!(
            crate::sim::region(&Store::new(&kv, &env), "o1", "cn-hangzhou")
                .unwrap()
                .is_some()
        );
        assert!(
            crate::sim::provider_instance(&Store::new(&kv, &env), "o1", "pi-1")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn validation_errors_name_the_field() {
        let (kv, env) = setup();
        for (path, b, field) in [
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"osType":"windows"}"#,
                "osType",
            ),
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"gpuType":1}"#,
                "gpuType",
            ),
            (
                "/admin/v1/orgs/o1/gallery-images/g",
                r#"{"grantedTo":"pi"}"#,
                "grantedTo",
            ),
            (
                "/admin/v1/orgs/o1/instances/i",
                r#"{"instanceType":"Laptop"}"#,
                "instanceType",
            ),
            (
                "/admin/v1/orgs/o1/instances/i",
                r#"{"physicalNode":"yes"}"#,
                "physicalNode",
            ),
            (
                "/admin/v1/orgs/o1/provider-instances/p",
                r#"{"providerLabel":"AWS"}"#,
                "providerLabel",
            ),
            ("/admin/v1/orgs/o1/vms/bad%2Fid", "{}", "id"),
            ("/admin/v1/orgs/o!/vms/v", "{}", "orgId"),
            (
                "/admin/v1/simulation",
                r#"{"failureRate":1.5}"#,
                "failureRate",
            ),
            ("/admin/v1/simulation", r#"{"stepMs":0}"#, "stepMs"),
            (
                "/admin/v1/simulation",
                r#"{"failingSteps":[{"step":"x"}]}"#,
                "failingSteps",
            ),
        ] {
            let r = call(&Store::new(&kv, &env), "PUT", path, b);
            assert_eq!(r.status, 400, "{path} {b}");
            assert_eq!(body(&r)["errors"][0]["field"], json!(field), "{path} {b}");
        }
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/vms/v",
            "[1]",
        );
        assert_eq!(
            (r.status, body(&r)["code"].clone()),
            (400, json!("INVALID_JSON"))
        );
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/orgs/o1/vms/v",
            "{",
        );
        assert_eq!(r.status, 400);
    }

    #[test]
    fn simulation_settings_are_stored_and_read_back() {
        let (kv, env) = setup();
        let r = call(
            &Store::new(&kv, &env),
            "PUT",
            "/admin/v1/simulation",
            r#"{"seed":7,"failureRate":0.25,"stepMs":100,"maxAttempts":2,
                "failingSteps":[{"sourceId":"gal-1","step":"replicating","code":"X"}]}"#,
        );
        assert_eq!(r.status, 200);
        let s = Simulation::load(&Store::new(&kv, &env)).unwrap();
        assert_eq!((s.seed, s.failure_rate, s.step_ms), (7, 0.25, Some(100)));
        assert_eq!(s.max_attempts, Some(2));
        assert_eq!(s.failing_steps[0].code.as_deref(), Some("X"));
        let got = call(&Store::new(&kv, &env), "GET", "/admin/v1/simulation", "");
        assert_eq!(body(&got)["seed"], json!(7));
    }

    #[test]
    fn unknown_paths_and_methods_are_refused() {
        let (kv, env) = setup();
        assert_eq!(
            call(&Store::new(&kv, &env), "GET", "/admin/v1/nope", "").status,
            404
        );
        assert_eq!(
            call(
                &Store::new(&kv, &env),
                "GET",
                "/admin/v1/orgs/o1/widgets/w",
                ""
            )
            .status,
            404
        );
        let r = call(&Store::new(&kv, &env), "DELETE", "/admin/v1/orgs/o1", "");
        assert_eq!(r.status, 405);
        assert!(r.headers.iter().any(|(n, _)| n == "allow"));
        let big = "x".repeat(MAX_BODY + 1);
        assert_eq!(
            call(&Store::new(&kv, &env), "PUT", "/admin/v1/orgs/o1", &big).status,
            413
        );
    }

    #[test]
    fn a_busy_store_is_503_with_retry_after() {
        let (kv, env) = setup();
        kv.fail_next(10);
        let r = call(&Store::new(&kv, &env), "GET", "/admin/v1/orgs/o1", "");
        assert_eq!(r.status, 503);
        assert!(
            r.headers
                .iter()
                .any(|(n, v)| n == "retry-after" && v == "1")
        );
    }
}
