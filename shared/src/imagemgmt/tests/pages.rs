//! Images of many versions: the record stays bounded (`catalog::pages`), what a client
//! sees does not change.

use super::*;
use crate::catalog::pages::{MAX_PAGES, PAGE, PageRef, VersionPage};
use crate::time::Timestamp;

/// Adds `n` MAJOR versions to `img`, moving the clock so no rate limit is met; their ids.
fn add_many(w: &World, img: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            w.env.advance_ms(700);
            w.major_version(img)
        })
        .collect()
}

fn total(w: &World, img: &str) -> u64 {
    let r = w.call("GET", &format!("/images/{img}/versions?size=1"), None);
    assert_eq!(r.status, 200, "{}", r.json_body());
    r.json_body()["totalElements"].as_u64().unwrap()
}

#[test]
fn an_image_of_many_versions_keeps_a_bounded_record_and_lists_them_all() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let added = add_many(&w, &img, 2 * PAGE + 10);
    let newest = added.last().unwrap().clone();
    assert!(w.reaches(
        400,
        &format!("/images/{img}/versions/{newest}"),
        "AVAILABLE"
    ));
    assert!(w.reaches(50, &format!("/images/{img}/versions/{v1}"), "AVAILABLE"));

    let stored = w.stored_image(&img);
    assert_eq!(stored.version_pages.len(), 2);
    assert!(stored.version_ids.len() <= PAGE);
    assert_eq!(stored.version_count as usize, 2 * PAGE + 11);
    let bytes = serde_json::to_vec(&stored).unwrap().len();
    assert!(bytes < 16 * 1024, "image record of {bytes} bytes");
    assert_eq!(total(&w, &img), 2 * PAGE as u64 + 11);
    let body = w.call("GET", &format!("/images/{img}"), None).json_body();
    assert_eq!(body["status"], "AVAILABLE");
    // The pages are the record's own business.
    for internal in ["versionPages", "tailSpan", "pagedSummary"] {
        assert!(body.get(internal).is_none(), "{internal}");
    }
    assert_eq!(stored.paged_summary.total() as usize, 2 * PAGE);

    // The oldest version lives in the first page: deleting it shrinks that page.
    let r = w.call("DELETE", &format!("/images/{img}/versions/{v1}"), None);
    assert_eq!(r.status, 202, "{}", r.json_body());
    assert!(w.gone(50, &format!("/images/{img}/versions/{v1}")));
    let stored = w.stored_image(&img);
    assert_eq!(stored.version_pages[0].count as usize, PAGE - 1);
    assert_eq!(stored.version_count as usize, 2 * PAGE + 10);
    assert_eq!(total(&w, &img), 2 * PAGE as u64 + 10);
    // MAJOR without a source still finds the newest version.
    let b = w.add_version(&img, sig_version("MAJOR")).json_body();
    let history = b["versionHistory"].as_array().unwrap();
    assert_eq!(history.len(), crate::catalog::MAX_VERSION_HISTORY);
    let newest_name = w
        .call("GET", &format!("/images/{img}/versions/{newest}"), None)
        .json_body()["name"]
        .clone();
    assert_eq!(history.last(), Some(&newest_name));

    // A page of the listing reads the image, its pages and that page's versions only.
    let version_reads = |q: &str| {
        let read = std::cell::Cell::new(0usize);
        let kv = crate::testutil::Hooked {
            inner: &w.kv,
            before: |_: crate::testutil::Call, keys: &str| {
                let versions = keys.split(',').filter(|k| k.contains("/version/")).count();
                read.set(read.get() + versions);
            },
        };
        let r = handle(
            &Store::new(&kv, &w.env),
            &w.settings,
            &w.req("GET", &format!("/images/{img}/versions?{q}"), None),
        );
        assert_eq!(r.status, 200, "{}", r.json_body());
        (read.get(), r.json_body())
    };
    let (read, page) = version_reads("size=1");
    assert_eq!(page["totalElements"], 2 * PAGE as u64 + 11);
    assert_eq!(page["content"][0]["name"], "2.0.0");
    assert_eq!(read, 1, "version records read for a page of one");
    let (_, last) = version_reads("size=5&sort=createdAt,desc");
    assert_eq!(last["content"][0]["name"], b["versionName"]);
    // Under the bound a sort by name reads them all; past it, it is refused, naming the
    // field (the count faked: pages the listing would have to read).
    let r = w.call(
        "GET",
        &format!("/images/{img}/versions?sort=name,desc&size=1"),
        None,
    );
    assert_eq!(r.json_body()["content"][0]["name"], b["versionName"]);
    w.edit_image(&img, |i| {
        i.version_pages.push(PageRef {
            id: "p-fake".into(),
            count: 200,
            span: [Timestamp(0); 2],
        })
    });
    let r = w.call(
        "GET",
        &format!("/images/{img}/versions?sort=name,asc"),
        None,
    );
    assert_eq!(error_fields(&r), vec!["sort"], "{}", r.json_body());
    let r = w.call(
        "GET",
        &format!("/images/{img}/versions?search=status%20%24eq%20AVAILABLE"),
        None,
    );
    assert_eq!(error_fields(&r), vec!["search"], "{}", r.json_body());
}

#[test]
fn a_page_whose_versions_are_all_deleted_is_dropped() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let added = add_many(&w, &img, PAGE);
    let newest = added.last().unwrap().clone();
    assert!(w.reaches(
        300,
        &format!("/images/{img}/versions/{newest}"),
        "AVAILABLE"
    ));
    let stored = w.stored_image(&img);
    assert_eq!(stored.version_pages.len(), 1);
    let page_id = stored.version_pages[0].id.clone();
    let paged: Vec<String> = std::iter::once(v1)
        .chain(added[..PAGE - 1].to_vec())
        .collect();
    for v in &paged {
        w.env.advance_ms(700);
        let r = w.call("DELETE", &format!("/images/{img}/versions/{v}"), None);
        assert_eq!(r.status, 202, "{}", r.json_body());
    }
    let last = paged.last().unwrap();
    assert!(w.gone(100, &format!("/images/{img}/versions/{last}")));
    assert!(w.run_until(20, |w| w.stored_image(&img).version_pages.is_empty()));
    let page_key = keys::version_page("o1", &img, &page_id);
    assert!(w.st().get::<VersionPage>(&page_key).unwrap().is_none());
    assert_eq!(w.stored_image(&img).version_count, 1);
    assert_eq!(total(&w, &img), 1);
}

#[test]
fn a_full_image_refuses_a_new_version_with_409_and_keeps_nothing() {
    let mut w = World::new();
    // The record's own bound, behind any quota (`quota_versions` stops at 4 096).
    w.settings.quotas.versions = u32::MAX;
    let (img, _) = first_version(&w.sig_image("win"));
    w.edit_image(&img, |i| {
        i.version_ids = (0..PAGE).map(|n| format!("v-{n}")).collect();
        i.version_pages = (0..MAX_PAGES)
            .map(|n| PageRef {
                id: format!("p-{n}"),
                count: PAGE as u32,
                span: [Timestamp(0); 2],
            })
            .collect();
    });
    let before = w.stored_image(&img);
    let r = w.add_version(&img, sig_version("MAJOR"));
    assert_eq!(problem(&r), (409, "VERSION_LIMIT_REACHED".to_owned()));
    assert_eq!(w.stored_image(&img), before);
}

#[test]
fn markers_past_the_bound_are_refused_with_409() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let names: Vec<String> = (0..crate::catalog::MAX_MARKERS)
        .map(|n| format!("m{n}"))
        .collect();
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": names})),
    );
    assert!(r.status < 300, "{}", r.status);
    let r = w.call(
        "PATCH",
        &format!("/images/{img}/versions/{v1}"),
        Some(json!({"markers": ["one-more"]})),
    );
    assert_eq!(problem(&r), (409, "MARKER_LIMIT_REACHED".to_owned()));
    let mut body = sig_version("MAJOR");
    body["markers"] = json!(["another"]);
    assert_eq!(
        problem(&w.add_version(&img, body)),
        (409, "MARKER_LIMIT_REACHED".to_owned())
    );
    assert_eq!(
        w.stored_image(&img).markers.len(),
        crate::catalog::MAX_MARKERS
    );
}

#[test]
fn deleting_an_image_of_many_versions_deletes_every_version_and_page() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let added = add_many(&w, &img, PAGE + 1);
    let newest = added.last().unwrap().clone();
    assert!(w.reaches(
        300,
        &format!("/images/{img}/versions/{newest}"),
        "AVAILABLE"
    ));
    let page_id = w.stored_image(&img).version_pages[0].id.clone();
    let r = w.call("DELETE", &format!("/images/{img}"), None);
    assert_eq!(r.status, 202, "{}", r.status);
    assert!(w.gone(100, &format!("/images/{img}")));
    let st = w.st();
    assert!(
        st.get::<VersionPage>(&keys::version_page("o1", &img, &page_id))
            .unwrap()
            .is_none()
    );
    for v in std::iter::once(&v1).chain(&added) {
        assert!(
            st.get::<Version>(&keys::version("o1", v))
                .unwrap()
                .is_none(),
            "{v}"
        );
    }
}

#[test]
fn a_sealer_that_loses_its_swap_leaves_no_stray_page() {
    use crate::testutil::{Call, Hooked};
    let w = World::new();
    let (img, _) = first_version(&w.sig_image("win"));
    add_many(&w, &img, PAGE - 1);
    let image_key = keys::image("o1", &img);
    let cut_in = std::cell::Cell::new(true);
    // Another Add Version seals the same full tail and wins, just before this one swaps.
    let hooked = Hooked {
        inner: &w.kv,
        before: |call: Call, key: &str| {
            if call == Call::Swap && key == image_key && cut_in.replace(false) {
                assert_eq!(w.add_version(&img, sig_version("MAJOR")).status, 201);
            }
        },
    };
    let req = w.req(
        "POST",
        &format!("/images/{img}/versions"),
        Some(sig_version("MAJOR")),
    );
    let r = handle(&Store::new(&hooked, &w.env), &w.settings, &req);
    assert_eq!(r.status, 201, "{}", r.status);
    assert!(!cut_in.get(), "the other request never cut in");
    let image = w.stored_image(&img);
    assert_eq!(
        (image.version_count as usize, image.version_pages.len()),
        (PAGE + 2, 1)
    );
    let prefix = format!("org/o1/image/{img}/page/");
    let stored_pages =
        w.kv.keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .count();
    assert_eq!(stored_pages, 1);
}

#[test]
fn the_version_quota_refuses_one_more_and_keeps_nothing() {
    let mut w = World::new();
    w.settings.quotas.versions = 3;
    let (img, _) = first_version(&w.sig_image("win"));
    add_many(&w, &img, 2);
    let before = w.kv.keys();
    let r = w.add_version(&img, sig_version("MAJOR"));
    assert_eq!(problem(&r), (409, "VERSION_QUOTA_EXCEEDED".into()));
    assert_eq!(w.kv.keys(), before, "a refused Add Version records nothing");
    assert_eq!(total(&w, &img), 3);
}
