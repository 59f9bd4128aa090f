//! Names cross the doors safely (issue 10, item 7; the mapping is `imagemgmt::names`): an
//! RPC name the REST rules refuse is served by the REST door in a mapped, valid form; a REST
//! name is shown unchanged by the RPC door.

use super::*;

#[test]
fn an_rpc_name_the_rest_rules_refuse_is_served_mapped_by_the_rest_door() {
    let w = World::new();
    let long = format!("golden image (v1) {}", "x".repeat(100));
    let d = w.capture("ecd-1", &long);
    let id = d["ImageId"].as_str().unwrap_or_default().to_owned();
    let shown = crate::imagemgmt::names::rest_name(&long).into_owned();
    assert_eq!(&shown[..20], "golden-image--v1--xx");
    assert_eq!(shown.chars().count(), 64);
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}"), None);
    assert_eq!(
        (r.status, r.json_body()["name"].clone()),
        (200, json!(shown))
    );
    assert!(crate::imagemgmt::input::ImageName::parse(&shown).is_ok());
    // The REST list shows and searches the same name.
    let found = rest_as(
        &w,
        "o1",
        "GET",
        &format!("/images?search=name%20$eq%20{shown}"),
        None,
    );
    assert_eq!(found.status, 200);
    assert_eq!(found.json_body()["content"][0]["id"], json!(id));
    // The RPC door keeps the name as given.
    assert_eq!(w.listed(&id).unwrap_or_default()["ImageName"], json!(long));

    // A REST rename is seen by both doors as is.
    let r = rest_as(
        &w,
        "o1",
        "PATCH",
        &format!("/images/{id}"),
        Some(json!({"name": "golden_v1"})),
    );
    assert_eq!(
        (r.status, r.json_body()["name"].clone()),
        (200, json!("golden_v1"))
    );
    assert_eq!(
        w.listed(&id).unwrap_or_default()["ImageName"],
        json!("golden_v1")
    );
}

#[test]
fn a_rest_name_is_shown_unchanged_by_the_rpc_door() {
    let w = World::new();
    // Every REST name is an RPC name: at most 64 of letters, digits, `_`, `-`.
    let d = w.capture("ecd-1", "Win11_golden-2");
    let id = d["ImageId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        w.listed(&id).unwrap_or_default()["ImageName"],
        json!("Win11_golden-2")
    );
    let r = rest_as(&w, "o1", "GET", &format!("/images/{id}"), None);
    assert_eq!(r.json_body()["name"], json!("Win11_golden-2"));
}
