//! Issue 10, item 5: markers carry `errorDetailsParameters`; the document lists every value
//! the vendor lists (and refuses, as the server does, those the server refuses); Add
//! Version's documented 500 "Failed to submit add version request".

use super::openapi::{conforms, request_errors};
use super::*;
use crate::imagemgmt::submit::{SUBMIT_FAILED_CODE, SUBMIT_FAILED_DETAIL};
use crate::store::{CasOutcome, KeyValue, StoreError};
use crate::vocab::{SourceType, VersionType};

#[test]
fn markers_carry_error_details_parameters() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    let mut body = sig_version("MAJOR");
    body["markers"] = json!([{"name": "HRLite"}]);
    let add = w.add_version(&img, body);
    assert_eq!(add.status, 201);
    let b = add.json_body();
    assert_eq!(b["markers"][0]["name"], json!("HRLite"));
    assert_eq!(b["markers"][0]["errorDetailsParameters"], json!({}));
    let got = w.call("GET", &format!("/images/{img}"), None).json_body();
    assert_eq!(got["markers"][0]["errorDetailsParameters"], json!({}));
    let v = b["versionId"].as_str().unwrap_or_default();
    let got = w
        .call("GET", &format!("/images/{img}/versions/{v}"), None)
        .json_body();
    assert_eq!(got["markers"][0]["errorDetailsParameters"], json!({}));
    // A marker stored before the field existed reads as empty.
    let m: crate::catalog::Marker = serde_json::from_value(json!({
        "id": "m", "orgId": "o1", "imageId": "i", "versionId": "v", "name": "n",
        "status": "AVAILABLE", "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    assert!(m.error_details_parameters.is_empty());
}

#[test]
fn the_document_lists_every_vendor_value_and_refuses_what_the_server_refuses() {
    use crate::imagemgmt::input::{CloneRequest, CreateAction, ImageCatalogRequest};
    let doc = crate::imagemgmt::openapi::document();
    let schemas = &doc["components"]["schemas"];
    let all_types: Vec<Value> = VersionType::ALL
        .iter()
        .map(|t| json!(t.to_string()))
        .collect();
    assert!(all_types.contains(&json!("PATCH")));
    for schema in ["VersionCreateTO", "ImageCatalogRequest", "CloneRequest"] {
        let p = &schemas[schema]["properties"]["versionType"];
        assert_eq!(p["enum"], json!(all_types), "{schema}");
        let why = p["description"].as_str().unwrap_or_default();
        assert!(
            why.contains("PATCH") && why.contains("400"),
            "{schema}: {why}"
        );
    }
    let sources = &schemas["VersionCreateTO"]["properties"]["sourceType"];
    assert_eq!(sources["$ref"], json!("#/components/schemas/SourceType"));
    assert_eq!(
        schemas["SourceType"]["enum"].as_array().map(Vec::len),
        Some(SourceType::ALL.len())
    );
    // PATCH: listed, refused by the document exactly as by the parsers (400 UNSUPPORTED).
    let image = json!({"streamName": "m", "osType": "WINDOWS",
        "sourceStreamType": "AZURE_MARKET_PLACE", "versionType": "PATCH"});
    assert!(ImageCatalogRequest::parse(&image, CreateAction::Import).is_err());
    assert!(!request_errors(&doc, "ImageCatalogRequest", &image).is_empty());
    let mut major = image.clone();
    major["versionType"] = json!("MAJOR");
    assert!(ImageCatalogRequest::parse(&major, CreateAction::Import).is_ok());
    assert_eq!(
        request_errors(&doc, "ImageCatalogRequest", &major),
        Vec::<String>::new()
    );
    let clone = json!({"versionType": "PATCH"});
    assert!(CloneRequest::parse(&clone, None).is_err());
    assert!(!request_errors(&doc, "CloneRequest", &clone).is_empty());
    assert!(request_errors(&doc, "CloneRequest", &json!({"versionType": "MINOR"})).is_empty());
    let mut other_source = sig_version("MAJOR");
    other_source["sourceType"] = json!("UPLOADED");
    assert!(!request_errors(&doc, "VersionCreateTO", &other_source).is_empty());
    // And the server's answer is the documented one.
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("p"));
    let r = w.add_version(&img, sig_version("PATCH"));
    assert_eq!(r.status, 400);
    assert_eq!(r.json_body()["errors"][0]["code"], json!("UNSUPPORTED"));
}

/// A store that refuses (not transiently) every write to a key containing `part`.
struct RefusingWrites<'a> {
    inner: &'a MemoryKv,
    part: &'static str,
}

impl RefusingWrites<'_> {
    fn check(&self, key: &str) -> Result<(), StoreError> {
        if key.contains(self.part) {
            return Err(StoreError::Unavailable(
                "the store refused the write".into(),
            ));
        }
        Ok(())
    }
}

impl KeyValue for RefusingWrites<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.check(key)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError> {
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, k: &str, e: &[u8], n: &[u8]) -> Result<CasOutcome, StoreError> {
        self.check(k)?;
        self.inner.compare_and_swap(k, e, n)
    }
}

#[test]
fn a_version_that_cannot_be_recorded_is_the_documented_500() {
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    let kv = RefusingWrites {
        inner: &w.kv,
        part: "/version/",
    };
    let req = w.req(
        "POST",
        &format!("/images/{img}/versions"),
        Some(sig_version("MAJOR")),
    );
    let r = handle(&Store::new(&kv, &w.env), &w.settings, &req);
    assert_eq!(r.status, 500);
    assert_eq!(r.get_header("retry-after"), None);
    let b = r.json_body();
    assert_eq!(b["code"], json!(SUBMIT_FAILED_CODE));
    assert!(
        b["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(SUBMIT_FAILED_DETAIL)),
        "{b}"
    );
    // The kind of failure, not the backend's words (those go to the component's log).
    assert!(!b.to_string().contains("refused the write"), "{b}");
    let doc = crate::imagemgmt::openapi::document();
    conforms(&doc, "/images/{imageId}/versions", "post", &r);
    // Nothing is listed: the image still has its one version.
    assert_eq!(w.stored_image(&img).version_ids.len(), 1);
}
