use super::*;
use crate::catalog::{derive_image_status, derive_status};
use crate::vocab::VersionStatus as V;

/// A fixed pseudo-random run of statuses (xorshift), so every split is tried on many shapes.
fn statuses(seed: u64, n: usize) -> Vec<V> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            V::ALL[(x % V::ALL.len() as u64) as usize]
        })
        .collect()
}

fn summary_of(run: &[V], from: usize) -> Summary {
    let mut s = Summary::default();
    for (i, st) in run.iter().enumerate() {
        s.push(&format!("v{}", from + i), *st);
    }
    s
}

#[test]
fn summaries_of_pages_compose_into_the_summary_of_every_version() {
    for seed in 1..200u64 {
        let run = statuses(seed, (seed % 9) as usize + 1);
        let whole = summary_of(&run, 0);
        for cut in 0..=run.len() {
            let (a, b) = run.split_at(cut);
            let parts = summary_of(a, 0).then(&summary_of(b, cut));
            assert_eq!(parts, whole, "seed {seed} cut {cut}");
            for deleting in [false, true] {
                assert_eq!(
                    derive_status(deleting, &parts),
                    derive_image_status(deleting, &run),
                    "seed {seed} cut {cut}"
                );
            }
        }
    }
}

#[test]
fn an_available_version_in_an_old_page_keeps_the_image_available_and_online() {
    let old = summary_of(&[V::Available, V::Failed], 0);
    let tail = summary_of(&[V::Failed, V::Deleting], 2);
    let all = old.then(&tail);
    assert_eq!(
        derive_status(false, &all),
        crate::vocab::ImageStatus::Available
    );
    assert_eq!(all.newest_online.as_deref(), Some("v0"));
    assert_eq!(all.total(), 4);
}

#[test]
fn unknown_statuses_are_not_counted() {
    let ids: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let statuses = [("b".to_owned(), V::ImportComplete)].into_iter().collect();
    let s = Summary::of(&ids, &statuses);
    assert_eq!(s.total(), 1);
    assert_eq!(s.first, Some(V::ImportComplete));
}

#[test]
fn a_version_keeps_only_its_newest_status_history() {
    let mut v: crate::catalog::Version = serde_json::from_value(serde_json::json!({
        "id": "v", "streamId": "i", "orgId": "o", "name": "1.0.0", "versionType": "MAJOR",
        "sourceType": "AZURE_SIG", "state": "NOT_READY", "status": "PENDING",
        "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
    }))
    .unwrap();
    for n in 0..(crate::catalog::MAX_STATUS_HISTORY as i64 + 10) {
        v.record_status(crate::catalog::StatusEntry {
            status: V::Available,
            asset_status: None,
            at: Timestamp(n),
        });
    }
    assert_eq!(v.status_history.len(), crate::catalog::MAX_STATUS_HISTORY);
    assert_eq!(v.status_history[0].at, Timestamp(10));
}

mod refresh {
    use super::*;
    use crate::env::FakeEnv;
    use crate::store::MemoryKv;

    fn page_ref(id: &str, span: [i64; 2], page: &VersionPage) -> PageRef {
        PageRef {
            id: id.into(),
            count: page.ids.len() as u32,
            span: [Timestamp(span[0]), Timestamp(span[1])],
        }
    }

    fn page(ids: &[&str], s: V) -> VersionPage {
        VersionPage {
            ids: ids.iter().map(|i| (*i).to_owned()).collect(),
            statuses: ids.iter().map(|i| ((*i).to_owned(), s)).collect(),
        }
    }

    /// An image of org `o` with id `i` naming `refs`.
    fn image(refs: Vec<PageRef>) -> Image {
        let mut img: Image = serde_json::from_value(serde_json::json!({
            "id": "i", "orgId": "o", "name": "n", "osType": "WINDOWS", "gpuType": "NONE",
            "sourceType": "AZURE_SIG", "status": "AVAILABLE",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        img.version_pages = refs;
        img
    }

    fn stored(st: &Store<'_>, page: &str) -> Option<VersionPage> {
        st.get(&keys::version_page("o", "i", page))
            .unwrap()
            .map(|s| s.value)
    }

    #[test]
    fn a_moved_version_is_shown_in_the_page_holding_it_and_every_page_is_summarized_afresh() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let st = Store::new(&kv, &env);
        let (a, b) = (
            page(&["a1", "a2"], V::Available),
            page(&["b1"], V::Available),
        );
        st.put_new(&keys::version_page("o", "i", "pa"), &a).unwrap();
        st.put_new(&keys::version_page("o", "i", "pb"), &b).unwrap();
        // Overlapping spans: both pages are candidates for a version made at 15.
        let mut img = image(vec![
            page_ref("pa", [0, 20], &a),
            page_ref("pb", [10, 30], &b),
        ]);
        let moved = [Moved {
            id: "a2",
            status: Some(V::Failed),
            created_at: Some(Timestamp(15)),
        }];
        let emptied = refresh(&st, &mut img, &moved).unwrap();
        assert!(emptied.is_empty());
        assert_eq!(stored(&st, "pa").unwrap().statuses["a2"], V::Failed);
        assert_eq!(
            stored(&st, "pb"),
            Some(b),
            "the other candidate is left as it was"
        );
        let whole = &img.paged_summary;
        assert_eq!((whole.count(&[V::Failed]), whole.total()), (1, 3));
        assert_eq!(whole.newest_online.as_deref(), Some("b1"));

        // Gone (no creation time known): removed from its page; an emptied page is dropped.
        let gone = [Moved {
            id: "b1",
            status: None,
            created_at: None,
        }];
        let emptied = refresh(&st, &mut img, &gone).unwrap();
        assert_eq!(emptied, vec!["pb".to_owned()]);
        assert_eq!(img.version_pages.len(), 1);
        assert_eq!(img.paged_summary.total(), 2);
    }

    #[test]
    fn a_version_in_no_page_changes_no_page() {
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let st = Store::new(&kv, &env);
        let a = page(&["a1"], V::Available);
        st.put_new(&keys::version_page("o", "i", "pa"), &a).unwrap();
        let mut img = image(vec![page_ref("pa", [0, 20], &a)]);
        let moved = [Moved {
            id: "elsewhere",
            status: Some(V::Disabled),
            created_at: None,
        }];
        let emptied = refresh(&st, &mut img, &moved).unwrap();
        assert!(emptied.is_empty());
        assert_eq!(stored(&st, "pa"), Some(a));
        let counted = (img.version_pages[0].count, img.paged_summary.total());
        assert_eq!(counted, (1, 1));
    }

    #[test]
    fn counts_come_from_the_pages_as_stored() {
        // An earlier round removed `a2` from its page and lost the image's swap: the image
        // still counts it, and a retry finds it in no page.
        let (kv, env) = (MemoryKv::new(), FakeEnv::at(0));
        let st = Store::new(&kv, &env);
        let before = page(&["a1", "a2"], V::Available);
        let after = page(&["a1"], V::Available);
        st.put_new(&keys::version_page("o", "i", "pa"), &after)
            .unwrap();
        let mut img = image(vec![page_ref("pa", [0, 20], &before)]);
        let gone = [Moved {
            id: "a2",
            status: None,
            created_at: None,
        }];
        refresh(&st, &mut img, &gone).unwrap();
        let counted = (img.version_pages[0].count, img.paged_summary.total());
        assert_eq!(counted, (1, 1));
    }
}
