//! DeleteImage: refused while a task runs, then the image is gone from the list; unknown
//! and foreign images do not exist; a delete racing a distribution sees it.

use super::*;

#[test]
fn delete_refuses_while_capturing_then_deletes_and_the_list_forgets_it() {
    let w = World::new();
    let d = w.capture("ecd-1", "del");
    let id = d["ImageId"].as_str().unwrap();
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
    w.settle_available(id);
    let (s, b) = w.call("DeleteImage", &[("ImageId", id)]);
    assert_eq!((s, b["Data"].clone()), (200, json!(true)), "{b}");
    assert!(w.listed(id).is_none());
    assert_eq!(w.list(&[])["Count"], json!(0));
    assert_error(
        w.call("DeleteImage", &[("ImageId", id)]),
        400,
        "Image.NotExist",
    );
    // The delete operation removes the records in the background.
    assert!(w.run_until(|w| rest_as(w, "o1", "GET", &format!("/images/{id}"), None).status == 404));
}

#[test]
fn delete_of_an_unknown_or_foreign_image_is_not_exist() {
    let w = World::new();
    assert_error(
        w.call("DeleteImage", &[("ImageId", "imgc-nope")]),
        400,
        "Image.NotExist",
    );
    assert_error(
        w.call("DeleteImage", &[("ImageId", "a/b")]),
        400,
        "Image.NotExist",
    );
    let (_, b) = w.other_org_captures("theirs");
    let theirs = b["Data"]["ImageId"].as_str().unwrap();
    assert_error(
        w.call("DeleteImage", &[("ImageId", theirs)]),
        400,
        "Image.NotExist",
    );
}

#[test]
fn a_delete_racing_a_distribution_start_sees_it() {
    let w = World::new();
    let d = w.capture("ecd-1", "race");
    let id = d["ImageId"].as_str().unwrap().to_owned();
    w.settle_available(&id);
    let ctx = w.ctx("o1");
    // The delete read the image (its token) before the distribution changed it.
    let seen = ctx.live_image(&id).unwrap().unwrap();
    let (s, _) = w.distribute(&id, &[("DestinationRegionList.1", "cn-beijing")]);
    assert_eq!(s, 200);
    let r = crate::catalog::deletion::start_image_deletion(
        &ctx.st,
        &ctx.settings.ops,
        "o1",
        &id,
        Some(&seen.value),
    );
    assert_eq!(
        r,
        Err(crate::catalog::deletion::DeleteRefusal::PreconditionFailed)
    );
    // Through the door, the retry sees the distribution.
    assert_error(
        w.call("DeleteImage", &[("ImageId", &id)]),
        400,
        "ImageUpdateFailed.NotAllow",
    );
}
