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

#[test]
fn fifty_concurrent_add_versions_get_fifty_distinct_numbers() {
    let w = World::new();
    let (img, v1) = first_version(&w.sig_image("win"));
    let env = SharedEnv {
        seed: std::sync::atomic::AtomicU64::new(7),
    };
    let names = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        for t in 0..5 {
            let (kv, settings, token) = (&w.kv, &w.settings, &w.token);
            let (env, names, img, v1) = (&env, &names, &img, &v1);
            s.spawn(move || {
                for i in 0..10 {
                    let mut body = sig_version(if (t + i) % 2 == 0 { "MAJOR" } else { "MINOR" });
                    body["sourceVersionId"] = json!(v1);
                    let req = ApiRequest {
                        method: "POST".into(),
                        path: format!("{BASE}/images/{img}/versions"),
                        query: String::new(),
                        headers: vec![("authorization".into(), format!("Bearer {token}"))],
                        body: body.to_string().into_bytes(),
                    };
                    // A client retries a 503 (contended record), as Retry-After says.
                    let st = &Store::new(kv, env);
                    let mut r = handle(st, settings, &req);
                    while r.status == 503 {
                        r = handle(st, settings, &req);
                    }
                    assert_eq!(r.status, 201, "{}", r.json_body());
                    let n = r.json_body()["versionName"].as_str().unwrap().to_owned();
                    names.lock().unwrap().push(n);
                }
            });
        }
    });
    let mut names = names.into_inner().unwrap();
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
    let env = SharedEnv {
        seed: std::sync::atomic::AtomicU64::new(11),
    };
    let made = std::sync::Mutex::new(vec![v1]);
    std::thread::scope(|s| {
        for _ in 0..5 {
            let (kv, settings, token) = (&w.kv, &w.settings, &w.token);
            let (env, made, img) = (&env, &made, &img);
            s.spawn(move || {
                for _ in 0..20 {
                    let req = ApiRequest {
                        method: "POST".into(),
                        path: format!("{BASE}/images/{img}/versions"),
                        query: String::new(),
                        headers: vec![("authorization".into(), format!("Bearer {token}"))],
                        body: sig_version("MAJOR").to_string().into_bytes(),
                    };
                    let st = &Store::new(kv, env);
                    let mut r = handle(st, settings, &req);
                    while r.status == 503 {
                        r = handle(st, settings, &req);
                    }
                    assert_eq!(r.status, 201, "{}", r.status);
                    let id = r.json_body()["versionId"].as_str().unwrap().to_owned();
                    made.lock().unwrap().push(id);
                }
            });
        }
    });
    let mut made = made.into_inner().unwrap();
    let image = w.stored_image(&img);
    let mut listed = pages::all_ids(&w.st(), "o1", &image).unwrap();
    assert_eq!(image.version_count, 101);
    assert_eq!(image.version_pages.len(), 1);
    made.sort();
    listed.sort();
    assert_eq!(listed, made);
    let prefix = format!("org/o1/image/{img}/page/");
    let stored_pages =
        w.kv.keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .count();
    assert_eq!(stored_pages, 1);
}
