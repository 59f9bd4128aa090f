//! The OpenAPI document against the parsers and the real responses, with a small
//! JSON-schema check.

use super::*;

/// A small JSON-schema check (the subset the document uses): `$ref`, `type` (also lists),
/// `required`, `properties`, `items`, `enum`, `const`, `allOf`, `anyOf`, `oneOf` (as
/// `anyOf`; see [`request_errors`]), `pattern`, `minLength`, `maxLength`, `uniqueItems`,
/// `additionalProperties: false`.
fn check(doc: &Value, schema: &Value, v: &Value, path: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        return check(doc, &doc["components"]["schemas"][name], v, path, errs);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, s, v, path, errs);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(any) = schema.get(key).and_then(Value::as_array) {
            let ok = any.iter().any(|s| {
                let mut e = Vec::new();
                check(doc, s, v, path, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{path}: matches none of {key}"));
            }
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match v {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            errs.push(format!("{path}: {actual} is not {types:?}"));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        errs.push(format!("{path}: {v} not in enum"));
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for f in req.iter().filter_map(Value::as_str) {
            if v.get(f).is_none() {
                errs.push(format!("{path}: missing {f}"));
            }
        }
    }
    if let (Some(props), Some(obj)) = (
        schema.get("properties").and_then(Value::as_object),
        v.as_object(),
    ) {
        for (k, s) in props {
            if let Some(x) = obj.get(k) {
                check(doc, s, x, &format!("{path}.{k}"), errs);
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check(doc, items, x, &format!("{path}[{i}]"), errs);
        }
    }
    if let Some(c) = schema.get("const")
        && c != v
    {
        errs.push(format!("{path}: {v} is not {c}"));
    }
    if let Some(s) = v.as_str() {
        if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
            match regex::Regex::new(p) {
                Ok(re) if re.is_match(s) => {}
                Ok(_) => errs.push(format!("{path}: {s:?} does not match {p}")),
                Err(e) => errs.push(format!("{path}: bad pattern {p}: {e}")),
            }
        }
        let n = s.chars().count() as u64;
        if schema
            .get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
            || schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| n > m)
        {
            errs.push(format!("{path}: length {n} out of bounds"));
        }
    }
    if let Some(arr) = v.as_array()
        && schema.get("uniqueItems") == Some(&Value::Bool(true))
        && arr.iter().enumerate().any(|(i, x)| arr[..i].contains(x))
    {
        errs.push(format!("{path}: items repeat"));
    }
    if let (Some(Value::Bool(false)), Some(obj), Some(props)) = (
        schema.get("additionalProperties"),
        v.as_object(),
        schema.get("properties").and_then(Value::as_object),
    ) && let Some(k) = obj.keys().find(|k| !props.contains_key(*k))
    {
        errs.push(format!("{path}: unexpected {k}"));
    }
}

/// Checks `body` against a request schema of the document; `oneOf` must match exactly one.
pub(super) fn request_errors(doc: &Value, schema: &str, body: &Value) -> Vec<String> {
    let s = &doc["components"]["schemas"][schema];
    let mut errs = Vec::new();
    check(doc, s, body, "$", &mut errs);
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        let n = one
            .iter()
            .filter(|b| {
                let mut e = Vec::new();
                check(doc, b, body, "$", &mut e);
                e.is_empty()
            })
            .count();
        if n != 1 {
            errs.push(format!("$: matches {n} of oneOf"));
        }
    }
    errs
}

/// The document's request schemas against the parsers, on the bodies this suite and the
/// README send (allowed by both) and on bodies each parser refuses (refused by both).
/// Generated requests (tests/fuzz) check the same agreement at scale.
#[test]
fn request_schemas_agree_with_the_parsers() {
    use crate::imagemgmt::input::{
        CloneRequest, CreateAction, ImageCatalogRequest, PublishRequest, VersionCreateTO,
        VersionPatch,
    };
    let doc = crate::imagemgmt::openapi::document();
    let sig_image = json!({
        "streamName": "win11", "osType": "WINDOWS", "sourceStreamType": "AZURE_SIG",
        "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}
    });
    let vm_image = json!({
        "streamName": "vm", "osType": "WINDOWS", "sourceStreamType": "AZURE_CUSTOM_VM",
        "providerInstanceId": "pi-1", "assetDetails": {"data": {"vmId": "vm-1"}}
    });
    let market =
        json!({"streamName": "m", "osType": "WVD", "sourceStreamType": "AZURE_MARKET_PLACE"});
    let mut minor = sig_version("MINOR");
    minor["sourceVersionId"] = json!("ver-1");
    let vm_version = json!({
        "sourceType": "AZURE_CUSTOM_VM", "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"vmId": "vm-2"}}, "markers": [{"name": "HRLite"}]
    });
    let allowed: Vec<(&str, Value, Result<(), Problem>)> = vec![
        (
            "ImageCatalogRequest",
            sig_image.clone(),
            ImageCatalogRequest::parse(&sig_image, CreateAction::CopyExistingImage).map(drop),
        ),
        (
            "ImageCatalogRequest",
            vm_image.clone(),
            ImageCatalogRequest::parse(&vm_image, CreateAction::ImportCustomVm).map(drop),
        ),
        (
            "ImageCatalogRequest",
            market.clone(),
            ImageCatalogRequest::parse(&market, CreateAction::Import).map(drop),
        ),
        (
            "VersionCreateTO",
            sig_version("MAJOR"),
            VersionCreateTO::parse(&sig_version("MAJOR")).map(drop),
        ),
        (
            "VersionCreateTO",
            minor.clone(),
            VersionCreateTO::parse(&minor).map(drop),
        ),
        (
            "VersionCreateTO",
            vm_version.clone(),
            VersionCreateTO::parse(&vm_version).map(drop),
        ),
    ];
    for (schema, body, parsed) in allowed {
        assert_eq!(
            request_errors(&doc, schema, &body),
            Vec::<String>::new(),
            "{body}"
        );
        assert!(parsed.is_ok(), "{body}: {parsed:?}");
    }
    let others = [
        (
            "VersionPatch",
            json!({"markers": [{"name": "a"}, {"name": "b"}], "description": "d"}),
        ),
        (
            "PublishRequest",
            json!({"replicas": [{"providerInstanceId": "pi-2"}], "timeZone": "Europe/Paris"}),
        ),
        (
            "CloneRequest",
            json!({"imageName": "copy", "versionType": "MINOR"}),
        ),
    ];
    for (schema, body) in &others {
        assert_eq!(
            request_errors(&doc, schema, body),
            Vec::<String>::new(),
            "{body}"
        );
    }
    assert!(VersionPatch::parse(&others[0].1).is_ok());
    assert!(PublishRequest::parse(&others[1].1).is_ok());
    assert!(CloneRequest::parse(&others[2].1, Some("clone-image")).is_ok());

    let mut no_source = sig_version("MAJOR");
    no_source["assetDetails"]["data"] = json!({"mspOrgId": "p"});
    let mut unlicensed = sig_image.clone();
    unlicensed["assetDetails"]["data"] = json!({"sourceImageVersionId": "g-1"});
    let refused: Vec<(&str, Value, bool)> = vec![
        (
            "VersionCreateTO",
            sig_version("PATCH"),
            VersionCreateTO::parse(&sig_version("PATCH")).is_err(),
        ),
        (
            "VersionCreateTO",
            sig_version("MINOR"),
            VersionCreateTO::parse(&sig_version("MINOR")).is_err(),
        ),
        (
            "VersionCreateTO",
            no_source.clone(),
            VersionCreateTO::parse(&no_source).is_err(),
        ),
        (
            "ImageCatalogRequest",
            unlicensed.clone(),
            ImageCatalogRequest::parse(&unlicensed, CreateAction::CopyExistingImage).is_err(),
        ),
        (
            "VersionPatch",
            json!({"markers": [{"name": "a b"}]}),
            VersionPatch::parse(&json!({"markers": [{"name": "a b"}]})).is_err(),
        ),
        (
            "VersionPatch",
            json!({"markers": [{"name": "a"}, {"name": "a"}]}),
            VersionPatch::parse(&json!({"markers": [{"name": "a"}, {"name": "a"}]})).is_err(),
        ),
        (
            "PublishRequest",
            json!({"timeZone": ""}),
            PublishRequest::parse(&json!({"timeZone": ""})).is_err(),
        ),
    ];
    for (schema, body, parser_refused) in refused {
        assert!(parser_refused, "the parser should refuse {body}");
        assert!(
            !request_errors(&doc, schema, &body).is_empty(),
            "the document should refuse {body}"
        );
    }
}

pub(super) fn conforms(doc: &Value, path: &str, method: &str, resp: &ApiResponse) {
    let op = &doc["paths"][path][method];
    assert!(op.is_object(), "{method} {path} is not documented");
    let code = resp.status.to_string();
    let r = &op["responses"][&code];
    assert!(
        r.is_object(),
        "{method} {path}: status {code} not documented"
    );
    let ct = resp.get_header("content-type").unwrap_or("");
    let schema = &r["content"][ct]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path} {code}: {ct} not documented"
    );
    let mut errs = Vec::new();
    check(doc, schema, &resp.json_body(), "$", &mut errs);
    assert!(errs.is_empty(), "{method} {path} {code}: {errs:?}");
}

#[test]
fn real_responses_match_the_openapi_document() {
    let w = World::new();
    let mut r = w.req("GET", "/openapi.json", None);
    r.headers.clear();
    let doc_resp = w.send(&r);
    assert_eq!(doc_resp.status, 200);
    let doc = doc_resp.json_body();
    assert_eq!(doc["openapi"], "3.1.0");
    for p in [
        "/images",
        "/images/{imageId}",
        "/images/{imageId}/versions",
        "/images/{imageId}/versions/{versionId}",
        "/images/{imageId}/versions/{versionId}/republish",
        "/images/{imageId}/versions/{versionId}/clone",
        "/images/{imageId}/versions/{versionId}/copies",
        "/operations/{operationId}",
        "/openapi.json",
    ] {
        assert!(doc["paths"][p].is_object(), "{p}");
    }

    let create = w.call(
        "POST",
        "/images?action=import-custom-vm",
        Some(
            json!({"streamName": "vm", "osType": "WINDOWS", "providerInstanceId": "pi-1",
                    "assetDetails": {"data": {"vmId": "vm-1"}}}),
        ),
    );
    conforms(&doc, "/images", "post", &create);
    let (img, v1) = first_version(&create.json_body());
    conforms(&doc, "/images", "get", &w.call("GET", "/images", None));
    conforms(
        &doc,
        "/images",
        "get",
        &w.call("GET", "/images?size=0", None),
    );
    conforms(
        &doc,
        "/images",
        "post",
        &w.call("POST", "/images", Some(json!({}))),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "get",
        &w.call("GET", &format!("/images/{img}"), None),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "get",
        &w.call("GET", "/images/img-x", None),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "patch",
        &w.call(
            "PATCH",
            &format!("/images/{img}"),
            Some(json!({"description": "d"})),
        ),
    );
    let sig = w.sig_image("sig");
    let (sig_id, _) = first_version(&sig);
    let add = w.add_version(&sig_id, sig_version("MAJOR"));
    conforms(&doc, "/images/{imageId}/versions", "post", &add);
    conforms(
        &doc,
        "/images/{imageId}/versions",
        "post",
        &w.add_version(&sig_id, sig_version("PATCH")),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions",
        "get",
        &w.call("GET", &format!("/images/{sig_id}/versions"), None),
    );
    let vpath = format!("/images/{img}/versions/{v1}");
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "get",
        &w.call("GET", &vpath, None),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "post",
        &w.call("POST", &format!("{vpath}?action=publish"), Some(json!({}))),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}/copies",
        "get",
        &w.call("GET", &format!("{vpath}/copies"), None),
    );
    w.reaches(40, &vpath, "IMPORT_COMPLETE");
    let publish = w.call("POST", &format!("{vpath}?action=publish"), Some(json!({})));
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "post",
        &publish,
    );
    let loc = publish.get_header("operation-location").unwrap().to_owned();
    conforms(
        &doc,
        "/operations/{operationId}",
        "get",
        &w.call("GET", loc.strip_prefix(BASE).unwrap(), None),
    );
    conforms(
        &doc,
        "/images/{imageId}/versions/{versionId}",
        "patch",
        &w.call("PATCH", &vpath, Some(json!({"markers": ["HRLite"]}))),
    );
    conforms(
        &doc,
        "/images/{imageId}",
        "delete",
        &w.call("DELETE", &format!("/images/{sig_id}"), None),
    );
}
