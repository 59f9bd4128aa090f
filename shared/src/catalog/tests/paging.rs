//! Listing pages in O(page) (`catalog::index`, `catalog::listing`): what a page holds and
//! its total across creates, deletes and races, and what a page costs in store calls
//! whatever the org holds or ever held.

use super::*;
use crate::catalog::index::GAP_GRACE_MS;
use crate::catalog::listing::{
    Order, Scope, Window, index_image, mark_deleting, page, slot_counter, unindex_image,
};
use crate::env::FakeEnv;
use crate::keys;
use crate::records::Store;
use crate::store::{KeyValue, MemoryKv};
use crate::testutil::SharedEnv;

const T0: i64 = 1_760_000_000_000;
const OWN: Scope = Scope {
    own: true,
    shared: true,
    hide_deleting: false,
};
const RPC: Scope = Scope {
    own: true,
    shared: true,
    hide_deleting: true,
};

/// Writes image `id` of org `o1` and indexes it, as `write_new_image` does.
fn create(st: &Store<'_>, id: &str) {
    let mut img = sample_image();
    img.id = id.into();
    st.put_new(&keys::image("o1", id), &img).unwrap();
    index_image(st, "o1", id).unwrap();
}

/// What the end of an image's deletion does to the index and the record.
fn delete(st: &Store<'_>, id: &str) {
    unindex_image(st, "o1", id).unwrap();
    st.delete(&keys::image("o1", id)).unwrap();
}

fn ids(p: &crate::catalog::listing::Page) -> Vec<String> {
    p.images.iter().map(|i| i.id.clone()).collect()
}

fn name(i: usize) -> String {
    format!("img-{i:05}")
}

/// Every page of size `s`, concatenated, and the totals they claimed.
fn walk(st: &Store<'_>, scope: Scope, order: Order, s: usize) -> (Vec<String>, Vec<u64>) {
    let (mut all, mut totals) = (Vec::new(), Vec::new());
    for n in 0.. {
        let p = page(st, "o1", scope, order, n * s as u64, s).unwrap();
        totals.push(p.total);
        if p.images.is_empty() {
            break;
        }
        all.extend(ids(&p));
    }
    (all, totals)
}

#[test]
fn pages_follow_creates_and_deletes_in_creation_order() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    for i in 0..200 {
        create(&st, &name(i));
    }
    // Every third one deleted, across chunk boundaries (64 slots each).
    for i in (0..200).step_by(3) {
        delete(&st, &name(i));
    }
    let live: Vec<String> = (0..200).filter(|i| i % 3 != 0).map(name).collect();
    let (all, totals) = walk(&st, OWN, Order::Index, 7);
    assert_eq!(all, live);
    assert!(totals.iter().all(|t| *t == live.len() as u64), "{totals:?}");
    // Newest first is the exact reverse, page by page.
    let (rev, _) = walk(&st, OWN, Order::Reverse, 10);
    assert_eq!(rev, live.iter().rev().cloned().collect::<Vec<_>>());
    // A page in the middle, and past the end.
    let p = page(&st, "o1", OWN, Order::Index, 60, 5).unwrap();
    assert_eq!(ids(&p), live[60..65].to_vec());
    assert!(
        page(&st, "o1", OWN, Order::Index, 500, 5)
            .unwrap()
            .images
            .is_empty()
    );
    // New images go last; deleting everything empties the listing.
    create(&st, "img-late");
    let p = page(&st, "o1", OWN, Order::Reverse, 0, 1).unwrap();
    assert_eq!((ids(&p), p.total), (vec!["img-late".to_owned()], 134));
    for id in live.iter().chain([&"img-late".to_owned()]) {
        delete(&st, id);
    }
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!((p.images.len(), p.total), (0, 0));
}

#[test]
fn shared_images_come_first_in_index_order_and_last_newest_first() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    for id in ["sys-a", "sys-b"] {
        let shared = crate::catalog::platform::SharedImage {
            id: id.into(),
            name: id.into(),
            description: None,
            os_type: OsType::Windows,
            gpu_type: GpuType::None,
        };
        crate::catalog::platform::put(&st, &shared).unwrap();
    }
    for i in 0..5 {
        create(&st, &name(i));
    }
    let (all, totals) = walk(&st, OWN, Order::Index, 3);
    let mut want = vec!["sys-a".to_owned(), "sys-b".to_owned()];
    want.extend((0..5).map(name));
    assert_eq!(all, want);
    assert_eq!(totals[0], 7);
    let (rev, _) = walk(&st, OWN, Order::Reverse, 3);
    assert_eq!(rev, want.iter().rev().cloned().collect::<Vec<_>>());
    let own_only = Scope {
        shared: false,
        ..OWN
    };
    assert_eq!(
        page(&st, "o1", own_only, Order::Index, 0, 9).unwrap().total,
        5
    );
}

#[test]
fn images_being_deleted_are_neither_shown_nor_counted_by_the_rpc_listing() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    for i in 0..4 {
        create(&st, &name(i));
    }
    mark_deleting(&st, "o1", &name(1), true).unwrap();
    let p = page(&st, "o1", RPC, Order::Reverse, 0, 10).unwrap();
    assert_eq!(ids(&p), vec![name(3), name(2), name(0)]);
    assert_eq!(p.total, 3);
    // The REST door still lists it (as DELETING) until its deletion ends.
    assert_eq!(page(&st, "o1", OWN, Order::Index, 0, 10).unwrap().total, 4);
    delete(&st, &name(1));
    assert_eq!(
        page(&st, "o1", RPC, Order::Reverse, 0, 10).unwrap().total,
        3
    );
    assert_eq!(page(&st, "o1", OWN, Order::Index, 0, 10).unwrap().total, 3);
}

/// Store calls of a page of 10 (the first and the last, averaged), the org's images seeded through the index.
fn page_calls(live: usize, deleted: usize) -> u64 {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    for i in 0..live + deleted {
        create(&st, &name(i));
    }
    for i in 0..deleted {
        delete(&st, &name(i * (live + deleted) / deleted.max(1)));
    }
    let before = kv.ops();
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!((p.images.len(), p.total), (10, live as u64));
    let last = page(&st, "o1", OWN, Order::Index, live as u64 - 10, 10).unwrap();
    assert_eq!(last.images.len(), 10);
    (kv.ops() - before) / 2
}

#[test]
fn a_page_costs_the_same_store_calls_whatever_the_org_holds_or_held() {
    // Counter and directory, ten slots and ten images, the platform's counter.
    let small = page_calls(10, 0);
    assert_eq!(small, 2 + 2 * 10 + 1);
    assert_eq!(page_calls(10_000, 0), small);
    assert_eq!(page_calls(100, 5_000), small);
}

#[test]
fn concurrent_creates_and_deletes_never_lose_or_repeat_an_entry() {
    let (kv, env) = (MemoryKv::with_redis_cas_quirk(), SharedEnv::at(T0));
    let st = Store::new(&kv, &env);
    // 100 images to delete, created first; 4 threads create 50 each while 4 threads
    // delete 25 each (every deletion sets a bit in the one directory record).
    for i in 0..100 {
        create(&st, &name(i));
    }
    std::thread::scope(|s| {
        for t in 0..4 {
            let (kv, env) = (&kv, &env);
            s.spawn(move || {
                let st = Store::new(kv, env);
                for i in 0..50 {
                    create(&st, &name(1_000 + t * 50 + i));
                }
            });
            s.spawn(move || {
                let st = Store::new(kv, env);
                for i in 0..25 {
                    delete(&st, &name(t * 25 + i));
                }
            });
        }
    });
    let (mut all, totals) = walk(&st, OWN, Order::Index, 9);
    assert!(totals.iter().all(|t| *t == 200), "{totals:?}");
    all.sort();
    let want: Vec<String> = (1_000..1_200).map(name).collect();
    assert_eq!(all, want);
}

#[test]
fn slots_of_the_earlier_index_are_listed_and_repaired_on_read() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    // As the earlier index wrote them: a counter and slots, no directory, no slot number;
    // img-00001's record was deleted and its slot left behind.
    for i in 0..4 {
        let mut img = sample_image();
        img.id = name(i);
        st.put_new(&keys::image("o1", &name(i)), &img).unwrap();
        let n = st.counter_next(&keys::image_count("o1")).unwrap();
        st.put_new(&keys::image_slot("o1", n), &name(i)).unwrap();
    }
    st.delete(&keys::image("o1", &name(1))).unwrap();
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!(ids(&p), vec![name(0), name(2), name(3)]);
    // The reader marked the stale slot and deleted it: the total is exact from now on.
    assert!(kv.get(&keys::image_slot("o1", 2)).unwrap().is_none());
    let p = page(&st, "o1", OWN, Order::Index, 1, 10).unwrap();
    assert_eq!((ids(&p), p.total), (vec![name(2), name(3)], 3));
    // An image of the earlier index (no slot number) is deleted like any other: its slot
    // stays behind, and the next listing marks it.
    assert_eq!(st.counter_read(&slot_counter("o1", &name(0))).unwrap(), 0);
    delete(&st, &name(0));
    page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!(page(&st, "o1", OWN, Order::Index, 0, 10).unwrap().total, 2);
}

#[test]
fn a_gap_left_by_a_dead_create_is_marked_after_its_grace_and_a_late_writer_reclaims_it() {
    let (kv, env) = (MemoryKv::new(), FakeEnv::at(T0));
    let st = Store::new(&kv, &env);
    create(&st, &name(0));
    // Slot 2 elected by a create that never writes it; slot 3 by one that writes late.
    st.counter_next(&keys::image_count("o1")).unwrap();
    st.counter_next(&keys::image_count("o1")).unwrap();
    create(&st, &name(4));
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    // In flight as far as a reader knows: skipped, still counted.
    assert_eq!((ids(&p), p.total), (vec![name(0), name(4)], 4));
    env.advance_ms(GAP_GRACE_MS);
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!(ids(&p), vec![name(0), name(4)]);
    assert_eq!(page(&st, "o1", OWN, Order::Index, 0, 10).unwrap().total, 2);
    // The late writer of slot 3, as `index_image` ends: its slot is listed again.
    let mut img = sample_image();
    img.id = name(3);
    st.put_new(&keys::image("o1", &name(3)), &img).unwrap();
    st.put_new(&keys::image_slot("o1", 3), &name(3)).unwrap();
    assert_eq!(page(&st, "o1", OWN, Order::Index, 0, 10).unwrap().total, 2);
    // (What index_image does after writing its slot.)
    let dir: crate::catalog::index::IndexDir =
        st.get(&keys::image_index("o1")).unwrap().unwrap().value;
    assert!(dir.holes.get(&0).is_some_and(|m| m & 0b110 == 0b110));
    crate::catalog::index::reclaim(&st, "o1", 3).unwrap();
    let p = page(&st, "o1", OWN, Order::Index, 0, 10).unwrap();
    assert_eq!((ids(&p), p.total), (vec![name(0), name(3), name(4)], 3));
}

#[test]
fn a_window_keeps_the_page_of_a_long_stream_in_bounded_memory() {
    let mut w = Window::new(40, 10, |a: &u32, b: &u32| b.cmp(a));
    for i in 0..10_000u32 {
        w.push((i * 7_919) % 10_000);
    }
    let (items, total) = w.finish();
    assert_eq!(total, 10_000);
    assert_eq!(items, (9_950..9_960).rev().collect::<Vec<u32>>());
}
