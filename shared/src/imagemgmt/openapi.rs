//! `GET /imagemgmt/v1/openapi.json`: the OpenAPI 3.1 description of this door. Kept true by
//! tests that validate real responses of the dispatcher against these schemas.

use crate::imagemgmt::idem::MAX_KEY_LEN;
use crate::imagemgmt::input::{MAX_DESCRIPTION, MAX_ID};
use crate::imagemgmt::query::{ListSpec, MAX_PAGE, MAX_SIZE};
use crate::imagemgmt::service::{COPY_LIST, IMAGE_LIST, VERSION_LIST};
use crate::vocab::*;
use serde_json::{Value, json};
use vendor::{ADD_VERSION_SOURCES, PATCH_REFUSED, submit_failed_response, version_type_but_patch};

mod schemas;
mod vendor;

use schemas::{merge, schemas};

// Request schemas are exactly as strict as the parsers in `input`, `query` and `idem` (and
// use their limits), so every request the document allows is accepted unless the records'
// state refuses it (404, 409, 412, 422). The rules JSON Schema cannot state across a query
// parameter and the body (a create's `action` vs `sourceStreamType`, clone-image's
// `imageName`) are in the descriptions. The server is more lenient than the document in
// places (it ignores unknown fields, treats `null` as absent, and accepts a marker given
// as a bare name string): clients that follow the document never depend on that.

/// An image or marker name.
fn name_schema() -> Value {
    json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"})
}

/// An id the caller supplies (provider instances, gallery versions, VMs, orgs).
fn id_schema() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": "^[A-Za-z0-9_.:-]+$"})
}

fn description_schema() -> Value {
    json!({"type": "string", "maxLength": MAX_DESCRIPTION})
}

/// `sort=field[,asc|desc]` over the listing's sortable fields.
fn sort_schema(spec: &ListSpec) -> Value {
    json!({
        "type": "string",
        "pattern": format!("^({})(,(asc|desc))?$", spec.sort_fields.join("|")),
        "examples": [format!("{},desc", spec.sort_fields[0])]
    })
}

/// `search=field $eq value` over the listing's searchable fields.
fn search_schema(spec: &ListSpec) -> Value {
    json!({
        "type": "string",
        "pattern": format!("^({}) \\$eq .*$", spec.search_fields.join("|")),
        "examples": [format!("{} $eq AVAILABLE", spec.search_fields[0])]
    })
}

fn names<T: std::fmt::Display>(all: &[T]) -> Value {
    json!(all.iter().map(|v| v.to_string()).collect::<Vec<_>>())
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

fn nullable_enum(name: &str) -> Value {
    json!({ "anyOf": [r(name), {"type": "null"}] })
}

fn page(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["content", "number", "size", "numberOfElements", "totalElements",
                     "totalPages", "first", "last", "empty"],
        "properties": {
            "content": {"type": "array", "items": r(item)},
            "number": {"type": "integer", "minimum": 0},
            "size": {"type": "integer", "minimum": 1, "maximum": 100},
            "numberOfElements": {"type": "integer", "minimum": 0},
            "totalElements": {"type": "integer", "minimum": 0},
            "totalPages": {"type": "integer", "minimum": 0},
            "first": {"type": "boolean"},
            "last": {"type": "boolean"},
            "empty": {"type": "boolean"}
        }
    })
}

fn problem_response(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/problem+json": {"schema": r("Problem")}}
    })
}

fn ok(desc: &str, schema: Value, op_location: bool) -> Value {
    let mut v = json!({
        "description": desc,
        "content": {"application/json": {"schema": schema}}
    });
    if op_location {
        v["headers"] = json!({
            "Operation-Location": {
                "description": "the operation behind this answer",
                "schema": {"type": "string"}
            }
        });
    }
    v
}

fn errors(codes: &[u16]) -> Value {
    let mut m = serde_json::Map::new();
    // Every authenticated call counts against the org's rate limit (crate::ratelimit).
    let throttled = codes.contains(&401).then_some(&429);
    for c in codes.iter().chain(throttled) {
        let d = match c {
            400 => "bad request (errors[] names each failing field)",
            401 => "missing or unknown bearer token",
            403 => {
                "org_id / orgId differs from the token's org, or a platform-shared image is read-only"
            }
            404 => "not found (also: another org's record)",
            409 => "conflict",
            412 => "precondition failed (If-Match, or the version's status)",
            413 => "body over 256 KiB",
            422 => "unprocessable (status forbids, or Idempotency-Key reused)",
            429 => {
                "TOO_MANY_REQUESTS: the org's rate limit; SCAN_LIMIT_REACHED: its budget of records read by searches, filters and sorts (scan_rate_limit); retry after Retry-After seconds"
            }
            503 => "store busy: retry after Retry-After seconds",
            _ => "error",
        };
        m.insert(c.to_string(), problem_response(d));
    }
    Value::Object(m)
}

/// `304 Not Modified`: `If-None-Match` names the current `ETag`; no body.
fn not_modified() -> Value {
    json!({
        "description": "not modified: If-None-Match matches the ETag (no body)",
        "headers": {"ETag": {"schema": {"type": "string"}}}
    })
}

/// `HEAD` of a resource: `GET`'s status and headers, never a body (RFC 9110 §9.3.2).
fn head(operation_id: &str, if_none_match: &Value, codes: &[u16]) -> Value {
    let mut responses = serde_json::Map::new();
    responses.insert(
        "200".into(),
        json!({"description": "as GET, without the body", "headers": {"ETag": {"schema": {"type": "string"}}}}),
    );
    responses.insert("304".into(), not_modified());
    let throttled = codes.contains(&401).then_some(&429);
    for c in codes.iter().chain(throttled) {
        responses.insert(
            c.to_string(),
            json!({"description": "as GET, without the body"}),
        );
    }
    json!({
        "operationId": operation_id,
        "parameters": [if_none_match],
        "responses": responses
    })
}

fn with(base: Value, codes: &[u16]) -> Value {
    merge(base, errors(codes))
}

fn param(name: &str, inn: &str, schema: Value, required: bool) -> Value {
    json!({"name": name, "in": inn, "required": required, "schema": schema})
}

fn paging_params(spec: &ListSpec) -> Vec<Value> {
    vec![
        param(
            "page",
            "query",
            json!({"type": "integer", "minimum": 0, "maximum": MAX_PAGE, "default": 0}),
            false,
        ),
        param(
            "size",
            "query",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_SIZE, "default": 20}),
            false,
        ),
        param("sort", "query", sort_schema(spec), false),
        param("search", "query", search_schema(spec), false),
        param("org_id", "query", json!({"type": "string"}), false),
    ]
}

fn body(schema: &str) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": r(schema)}}})
}

/// The document as served, generated from [`document`] and kept in the repository: a
/// component instance lives for one request, so building the document per request cost
/// more than every other GET (see BENCHMARKS.md). `served_document_is_current` holds the
/// two equal; after changing [`document`], regenerate with
/// `UPDATE_OPENAPI=1 cargo test -p catalog-model served_document`.
pub const SERVED: &[u8] = include_bytes!("openapi.json");

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "image-catalog imagemgmt API",
            "version": "1.0.0",
            "description": "Horizon Cloud next-gen compatible image management. Every 201/202 names its background operation in Operation-Location."
        },
        "servers": [{"url": "/imagemgmt/v1"}],
        "security": [{"bearer": []}],
        "paths": paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas(),
        }
    })
}

fn paths() -> Value {
    let image_id = param("imageId", "path", json!({"type": "string"}), true);
    let version_id = param("versionId", "path", json!({"type": "string"}), true);
    // Printable ASCII without surrounding blanks: HTTP trims those, so " " would arrive empty.
    let idem = param(
        "Idempotency-Key",
        "header",
        json!({"type": "string", "maxLength": MAX_KEY_LEN, "pattern": "^[!-~]([ -~]*[!-~])?$"}),
        false,
    );
    // RFC 9110 §13: If-Match compares strongly (a weak tag never matches), If-None-Match
    // weakly: 304 on GET and HEAD, 412 on a write (`crate::conditional`).
    let if_match = param("If-Match", "header", json!({"type": "string"}), false);
    let if_none_match = param("If-None-Match", "header", json!({"type": "string"}), false);
    let org_q = param("org_id", "query", json!({"type": "string"}), false);
    let std_err = [400, 401, 403, 404, 503];
    let mut list_images_params = paging_params(&IMAGE_LIST);
    list_images_params.push(param("os", "query", json!({"type": "string"}), false));
    list_images_params.push(param("os_type", "query", r("OsType"), false));
    let mut list_versions_params = paging_params(&VERSION_LIST);
    list_versions_params.insert(0, image_id.clone());
    let mut copies_params = paging_params(&COPY_LIST);
    copies_params.insert(0, version_id.clone());
    copies_params.insert(0, image_id.clone());

    json!({
        "/images": {
            "get": {
                "operationId": "listImages",
                "parameters": list_images_params,
                "responses": with(json!({"200": ok("a page of images", r("ImagePage"), false)}), &std_err)
            },
            "post": {
                "operationId": "createImage",
                "parameters": [
                    param("action", "query", json!({"enum": ["import", "copy-existing-image", "import-custom-vm"], "default": "import"}), false),
                    idem.clone()
                ],
                "requestBody": body("ImageCatalogRequest"),
                "responses": with(json!({"201": ok("the image with its first version 1.0.0", r("ImageWithVersions"), true)}), &[400, 401, 403, 409, 413, 422, 503])
            }
        },
        "/images/{imageId}": {
            "parameters": [image_id.clone(), org_q.clone()],
            "get": {
                "operationId": "getImage",
                "parameters": [if_none_match.clone()],
                "responses": with(json!({"200": ok("the image (ETag header)", r("Image"), false), "304": not_modified()}), &std_err)
            },
            "head": head("headImage", &if_none_match, &std_err),
            "patch": {
                "operationId": "patchImage",
                "parameters": [idem.clone(), if_match.clone(), if_none_match.clone()],
                "requestBody": body("ImagePatch"),
                "responses": with(json!({"200": ok("the changed image", r("Image"), false)}), &[400, 401, 403, 404, 409, 412, 413, 422, 503])
            },
            "delete": {
                "operationId": "deleteImage",
                "parameters": [if_match.clone(), if_none_match.clone()],
                "responses": with(json!({"202": ok("deletion started", r("Image"), true)}), &[401, 403, 404, 409, 412, 503])
            }
        },
        "/images/{imageId}/versions": {
            "get": {
                "operationId": "listVersions",
                "parameters": list_versions_params,
                "responses": with(json!({"200": ok("a page of versions", r("VersionPage"), false)}), &std_err)
            },
            "post": {
                "operationId": "addVersion",
                "parameters": [image_id.clone(), idem.clone()],
                "requestBody": body("VersionCreateTO"),
                "responses": with(json!({
                    "201": ok("the new version, PENDING", r("VersionCreate"), true),
                    "500": submit_failed_response()
                }), &[400, 401, 403, 404, 409, 413, 422, 503])
            }
        },
        "/images/{imageId}/versions/{versionId}": {
            "parameters": [image_id.clone(), version_id.clone(), org_q.clone()],
            "get": {
                "operationId": "getVersion",
                "parameters": [if_none_match.clone()],
                "responses": with(json!({"200": ok("the version (ETag header)", r("Version"), false), "304": not_modified()}), &std_err)
            },
            "head": head("headVersion", &if_none_match, &std_err),
            "patch": {
                "operationId": "patchVersion",
                "parameters": [idem.clone(), if_match.clone(), if_none_match.clone()],
                "requestBody": body("VersionPatch"),
                "responses": with(json!({"202": ok("the version", r("Version"), true)}), &[400, 401, 403, 404, 409, 412, 413, 422, 503])
            },
            "post": {
                "operationId": "publishVersion",
                "parameters": [param("action", "query", json!({"enum": ["publish"]}), true), idem.clone()],
                "requestBody": body("PublishRequest"),
                "responses": with(json!({"201": ok("publishing started", r("Version"), true)}), &[400, 401, 403, 404, 412, 413, 422, 503])
            },
            "delete": {
                "operationId": "deleteVersion",
                "parameters": [param("force", "query", json!({"type": "boolean"}), false), if_match.clone(), if_none_match.clone()],
                "responses": with(json!({"202": ok("deletion started; the last version takes its image", r("Version"), true)}), &[400, 401, 403, 404, 409, 412, 422, 503])
            }
        },
        "/images/{imageId}/versions/{versionId}/republish": {
            "post": {
                "operationId": "republishVersion",
                "parameters": [image_id.clone(), version_id.clone(), idem.clone()],
                "requestBody": body("RepublishRequest"),
                "responses": with(json!({"202": ok("publishing started again", r("Version"), true)}), &[400, 401, 403, 404, 412, 413, 422, 503])
            }
        },
        "/images/{imageId}/versions/{versionId}/clone": {
            "post": {
                "operationId": "cloneVersion",
                "parameters": [image_id.clone(), version_id.clone(),
                    param("action", "query", json!({"enum": ["clone-version", "clone-image"], "default": "clone-version"}), false),
                    idem.clone()],
                "requestBody": body("CloneRequest"),
                "responses": with(json!({"201": ok("clone-version: the new Version; clone-image: the new ImageWithVersions", json!({"oneOf": [r("Version"), r("ImageWithVersions")]}), true)}), &[400, 401, 403, 404, 409, 413, 422, 503])
            }
        },
        "/images/{imageId}/versions/{versionId}/copies": {
            "get": {
                "operationId": "listCopies",
                "parameters": copies_params,
                "responses": with(json!({"200": ok("a page of assets", r("AssetPage"), false)}), &std_err)
            }
        },
        "/operations/{operationId}": {
            "get": {
                "operationId": "getOperation",
                "parameters": [param("operationId", "path", json!({"type": "string"}), true)],
                "responses": with(json!({"200": ok("the operation", r("Operation"), false)}), &std_err)
            }
        },
        "/openapi.json": {
            "get": {"operationId": "openapi", "security": [], "responses": {"200": {"description": "this document"}}}
        }
    })
}

#[cfg(test)]
mod served_tests {
    use super::*;

    #[test]
    fn served_document_is_current() {
        let built = document();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/imagemgmt/openapi.json");
        if std::env::var_os("UPDATE_OPENAPI").is_some() {
            let text = serde_json::to_vec(&built).expect("serialisable");
            std::fs::write(path, text).expect("writable");
            return;
        }
        let served: Value = serde_json::from_slice(SERVED).expect("openapi.json is JSON");
        assert!(
            served == built,
            "{path} is stale: regenerate it with UPDATE_OPENAPI=1 cargo test -p catalog-model served_document"
        );
    }
}
