//! Issue 24, item 4: the org's quota of operations running at once (`quota_operations`).
//! Past it every request that would start one is refused with 409
//! `OPERATION_QUOTA_EXCEEDED` and records nothing; a deletion is never refused for it; room
//! comes back as operations end.

use super::*;

#[test]
fn past_the_quota_of_running_operations_creates_are_refused_and_deletes_are_not() {
    let mut w = World::new();
    w.settings.quotas.operations = 2;
    let (a, a1) = first_version(&w.sig_image("one"));
    let (b, _) = first_version(&w.sig_image("two"));
    let before = w.kv.keys();
    let refused = [
        w.call(
            "POST",
            "/images?action=copy-existing-image",
            Some(sig_image_body("three")),
        ),
        w.call(
            "POST",
            &format!("/images/{a}/versions"),
            Some(sig_version("MAJOR")),
        ),
    ];
    for r in &refused {
        assert_eq!(problem(r), (409, "OPERATION_QUOTA_EXCEEDED".into()));
        let detail = r.json_body()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(detail.contains("quota_operations"), "{detail}");
    }
    assert_eq!(w.kv.keys(), before, "a refused request records nothing");
    // A deletion is not refused for the quota, and takes no room.
    assert_eq!(w.call("DELETE", &format!("/images/{b}"), None).status, 202);
    // Once image one's copy has ended, its room is free again.
    assert!(w.reaches(80, &format!("/images/{a}/versions/{a1}"), "AVAILABLE"));
    let r = w.call(
        "POST",
        "/images?action=copy-existing-image",
        Some(sig_image_body("three")),
    );
    assert_eq!(r.status, 201, "{}", r.json_body());
}
