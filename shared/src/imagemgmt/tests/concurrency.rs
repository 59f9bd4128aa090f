//! Concurrent writers: version numbers stay unique under contention.

use super::*;

/// An `Env` that threads can share (FakeEnv is single-threaded).
struct SharedEnv {
    seed: std::sync::atomic::AtomicU64,
}

impl Env for SharedEnv {
    fn now_ms(&self) -> i64 {
        T0
    }
    fn random_u64(&self) -> u64 {
        let z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::SeqCst);
        let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pause_ms(&self, _: u64) {}
}

/// `threads` clients each sending `per` Add Versions to `img` at once (body `body(t, i)`),
/// retrying a 503 as `Retry-After` says; every 201 body.
fn add_concurrently(
    w: &World,
    img: &str,
    (threads, per): (usize, usize),
    seed: u64,
    body: impl Fn(usize, usize) -> Value + Sync,
) -> Vec<Value> {
    let env = SharedEnv {
        seed: std::sync::atomic::AtomicU64::new(seed),
    };
    let made = std::sync::Mutex::new(Vec::new());
    // The world's own clock is not shared between threads; its store, settings and token are.
    let (kv, settings, token) = (&w.kv, &w.settings, &w.token);
    std::thread::scope(|s| {
        for t in 0..threads {
            let (env, made, body) = (&env, &made, &body);
            s.spawn(move || {
                for i in 0..per {
                    let req = ApiRequest {
                        method: "POST".into(),
                        path: format!("{BASE}/images/{img}/versions"),
                        query: String::new(),
                        headers: vec![("authorization".into(), format!("Bearer {token}"))],
                        body: body(t, i).to_string().into_bytes(),
                    };
                    let st = &Store::new(kv, env);
                    let mut r = handle(st, settings, &req);
                    while r.status == 503 {
                        r = handle(st, settings, &req);
                    }
                    assert_eq!(r.status, 201, "{}", r.json_body());
                    made.lock().unwrap().push(r.json_body());
                }
            });
        }
    });
    made.into_inner().unwrap()
}

#[test]
fn fifty_concurrent_add_versions_get_fifty_distinct_numbers() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let made = add_concurrently(&w, &img, (5, 10), 7, |t, i| {
        let mut body = sig_version(if (t + i) % 2 == 0 { "MAJOR" } else { "MINOR" });
        body["sourceVersionId"] = json!(v1);
        body
    });
    let mut names: Vec<String> = made
        .iter()
        .map(|b| b["versionName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names.len(), 50);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 50, "duplicate version numbers: {names:?}");
    let image = w.stored_image(&img);
    assert_eq!(image.version_count, 51);
    assert_eq!(image.version_ids.len(), 51);
}

#[test]
fn concurrent_add_versions_across_a_page_seal_lose_none_and_leave_no_stray_page() {
    use crate::catalog::pages;
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let made = add_concurrently(&w, &img, (5, 20), 11, |_, _| sig_version("MAJOR"));
    let mut made: Vec<String> = made
        .iter()
        .map(|b| b["versionId"].as_str().unwrap().to_owned())
        .chain([v1])
        .collect();
    let image = w.stored_image(&img);
    let mut listed = pages::all_ids(&w.st(), "o1", &image).unwrap();
    assert_eq!(image.version_count, 101);
    assert_eq!(image.version_pages.len(), 1);
    made.sort();
    listed.sort();
    assert_eq!(listed, made);
    assert_eq!(w.stored_pages(&img), 1);
}
