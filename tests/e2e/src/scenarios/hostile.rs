//! Hostile input through the REST door (and the RPC door's cross-org checks): another
//! org's records are never revealed or changed, oversize and deep bodies are refused,
//! garbage methods, paths, headers and bodies never get a 5xx or an empty answer, and
//! neither do correctly signed RPC calls with garbage parameters. Huge bodies are refused
//! unread, in bounded memory, on every door that reads one.

use crate::{Answer, Door, Harness, first_version, operation_path, seed_at};
use serde_json::{Value, json};

fn no_data_of(what: &str, a: &Answer, secrets: &[&str]) {
    assert!(
        a.status == 404 || a.status == 403,
        "{what}: another org got {} {}",
        a.status,
        a.body
    );
    let text = a.body.to_string();
    for s in secrets {
        assert!(!text.contains(s), "{what}: the answer reveals {s}: {text}");
    }
}

pub fn another_org_can_neither_see_nor_change_anything_through_rest(h: &Harness) {
    let sig = h.sig_image("secret-sig");
    let (image, version) = first_version(&sig);
    let op = operation_path(&sig).expect("Operation-Location");
    let vm = h.vm_image("secret-vm");
    let (vm_image, vm_version) = first_version(&vm);
    let secrets = [
        image.as_str(),
        version.as_str(),
        "secret-sig",
        "secret-vm",
        h.org.as_str(),
    ];
    let add = json!({"osType": "WINDOWS", "gpuType": "NONE", "sourceType": "AZURE_SIG",
        "versionType": "MAJOR", "providerInstanceId": "pi-1",
        "assetDetails": {"data": {"sourceImageVersionId": "g-1",
            "isClientAccessLicenseApplicable": true, "multiSession": true}}});
    let v = format!("/images/{image}/versions/{version}");
    let vmv = format!("/images/{vm_image}/versions/{vm_version}");
    let attempts: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/images/{image}"), None),
        (
            "PATCH",
            format!("/images/{image}"),
            Some(json!({"name": "stolen"})),
        ),
        ("DELETE", format!("/images/{image}"), None),
        (
            "POST",
            format!("/images/{image}/versions"),
            Some(add.clone()),
        ),
        ("GET", format!("/images/{image}/versions"), None),
        ("GET", v.clone(), None),
        ("PATCH", v.clone(), Some(json!({"description": "stolen"}))),
        (
            "POST",
            format!("{vmv}?action=publish"),
            Some(json!({"replicas": [{"providerInstanceId": "pi-1"}]})),
        ),
        ("POST", format!("{v}/republish"), Some(json!({}))),
        (
            "POST",
            format!("{v}/clone?action=clone-version"),
            Some(json!({})),
        ),
        (
            "POST",
            format!("{v}/clone?action=clone-image"),
            Some(json!({"imageName": "stolen"})),
        ),
        ("DELETE", v.clone(), None),
        ("DELETE", format!("{v}?force=true"), None),
        ("GET", format!("{v}/copies"), None),
        ("GET", op.clone(), None),
    ];
    for (method, path, body) in &attempts {
        let a = h.send(
            method,
            &format!("/imagemgmt/v1{path}"),
            Some(&h.other_token),
            &[],
            body.clone(),
        );
        no_data_of(&format!("{method} {path}"), &a, &secrets);
        // Naming the victim org with one's own token is refused too.
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut body = body.clone();
        if let Some(b) = body.as_mut().and_then(Value::as_object_mut) {
            b.insert("orgId".into(), json!(h.org));
        }
        let a = h.send(
            method,
            &format!("/imagemgmt/v1{path}{sep}org_id={}", h.org),
            Some(&h.other_token),
            &[],
            body,
        );
        no_data_of(&format!("{method} {path} naming {}", h.org), &a, &secrets);
    }
    // The other org's list does not show them.
    let list = h.send(
        "GET",
        "/imagemgmt/v1/images",
        Some(&h.other_token),
        &[],
        None,
    );
    assert_eq!(list.status, 200, "{}", list.body);
    for s in &secrets {
        assert!(!list.body.to_string().contains(s), "list reveals {s}");
    }
    // Nothing changed for the owner.
    let mine = h.rest("GET", &format!("/images/{image}"), None);
    assert_eq!(mine.status, 200);
    assert_eq!(mine.str("name"), "secret-sig");
    assert_eq!(mine.body["versionCount"], 1, "{}", mine.body);
    assert_eq!(h.rest("GET", &v, None).status, 200);
    let vm_now = h.rest("GET", &vmv, None);
    assert_ne!(
        vm_now.str("status"),
        "PUBLISH_IN_PROGRESS",
        "{}",
        vm_now.body
    );
    // No token, a wrong token: 401, never data.
    for bearer in [None, Some("not-a-token")] {
        let a = h.send(
            "GET",
            &format!("/imagemgmt/v1/images/{image}"),
            bearer,
            &[],
            None,
        );
        assert_eq!(a.status, 401, "{}", a.body);
    }
}

pub fn another_org_can_neither_see_nor_delete_a_capture_through_rpc(h: &Harness) {
    let base = h.base_url();
    let mine = Door::new(
        base.clone(),
        seed_at(&h.http, &base, &format!("{}-rpc-a", h.org)),
    );
    let theirs = Door::new(
        base.clone(),
        seed_at(&h.http, &base, &format!("{}-rpc-b", h.org)),
    );
    let now = h.now_secs();
    let a = mine.rpc(
        "CreateImageByInstance",
        &[
            ("InstanceId", "ecd-demo"),
            ("InstanceType", "CloudDesktop"),
            ("ImageName", "rpc-secret"),
        ],
        now,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let id = a.body["Data"]["ImageId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!id.is_empty(), "{}", a.body);
    let list = theirs.rpc("ListImage", &[("ImageId", &id)], now);
    assert_eq!(list.status, 200, "{}", list.body);
    assert!(
        !list.body.to_string().contains("rpc-secret"),
        "{}",
        list.body
    );
    let del = theirs.rpc("DeleteImage", &[("ImageId", &id)], now);
    assert_eq!(del.body["Code"], "Image.NotExist", "{}", del.body);
    // The REST door of the other org does not see it either.
    let rest = theirs.rest("GET", &format!("/images/{id}"), None);
    assert_eq!(rest.status, 404, "{}", rest.body);
    // Still there for its owner.
    let list = mine.rpc("ListImage", &[("ImageId", &id)], now);
    assert!(
        list.body.to_string().contains("rpc-secret"),
        "{}",
        list.body
    );
}

pub fn oversize_deep_and_non_json_bodies_are_refused(h: &Harness) {
    let created = h.sig_image("limits");
    let (image, _) = first_version(&created);
    let big = format!("{{\"description\": \"{}\"}}", "x".repeat(300 * 1024));
    let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
    let deep_obj = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    for path in [
        "/images?action=copy-existing-image".to_owned(),
        format!("/images/{image}/versions"),
    ] {
        let cases: [(&str, &[u8], u16); 4] = [
            ("oversize", big.as_bytes(), 413),
            ("deep array", deep.as_bytes(), 400),
            ("deep object", deep_obj.as_bytes(), 400),
            ("not JSON", b"{\"streamName\": ", 400),
        ];
        for (what, body, status) in cases {
            let a = raw(
                h,
                "POST",
                &format!("/imagemgmt/v1{path}"),
                &[("content-type", "application/json")],
                body.to_vec(),
            );
            assert_eq!(a.status, status, "{what} {path}: {}", a.body);
            assert!(a.body.is_object(), "{what}: {:?}", a.body);
            assert!(
                a.header("content-type")
                    .unwrap_or_default()
                    .contains("problem+json"),
                "{what}: {:?}",
                a.headers
            );
        }
    }
    // The PATCH endpoints too.
    let a = raw(
        h,
        "PATCH",
        &format!("/imagemgmt/v1/images/{image}"),
        &[("content-type", "application/json")],
        big.into_bytes(),
    );
    assert_eq!(a.status, 413, "{}", a.body);
}

/// Bodies far past the limit (256 KiB) through every door that reads one, sent from a
/// generator (never held by the client): 256 MB with a `content-length`, chunked, and with
/// `expect: 100-continue`, then ten 64 MB bodies at once. Each gets the door's 413 in a
/// moment, the runtime never reads past the limit (a declared length over it is not read
/// at all: no `100 Continue` goes out), it closes the connection instead of draining the
/// rest, and the serving process (our host, or `spin up`'s HTTP trigger) grows by less
/// than [`GROWTH_LIMIT_KB`] at its peak.
pub fn huge_bodies_are_refused_unread_in_bounded_memory(h: &Harness) {
    let admin = format!("Bearer {}", crate::ADMIN_TOKEN);
    let token = format!("Bearer {}", h.token);
    let doors: [Door413; 4] = [
        // No token: the size is refused before authentication.
        Door413::rest("/imagemgmt/v1/images?action=copy-existing-image", None),
        Door413::rest(
            "/imagemgmt/v1/images?action=copy-existing-image",
            Some(&token),
        ),
        Door413 {
            method: "PUT",
            path: format!("/admin/v1/orgs/{}-huge", h.org),
            auth: Some(admin),
            code: ("code", "BODY_TOO_LARGE"),
        },
        Door413 {
            method: "POST",
            path: "/".into(),
            auth: None,
            code: ("Code", "RequestEntityTooLarge"),
        },
    ];
    let pids = serving_processes(h);
    let meter = Meter::start(&pids);
    let started = std::time::Instant::now();
    let mut slowest = (std::time::Duration::ZERO, String::new());
    for door in &doors {
        for framing in [Framing::Length, Framing::Chunked, Framing::Expect] {
            let sent = stream_body(h, door, HUGE, framing);
            let what = door.check(&sent, HUGE, framing);
            slowest = slowest.max((sent.took, what));
        }
    }
    let serial = started.elapsed();
    let started = std::time::Instant::now();
    let all: Vec<(usize, Framing, Streamed)> = std::thread::scope(|s| {
        let running: Vec<_> = (0..10)
            .map(|i| {
                // Every door gets both framings.
                let framing = [Framing::Length, Framing::Chunked][(i / doors.len()) % 2];
                let door = &doors[i % doors.len()];
                (
                    i,
                    framing,
                    s.spawn(move || stream_body(h, door, LARGE, framing)),
                )
            })
            .collect();
        running
            .into_iter()
            .map(|(i, f, t)| (i, f, t.join().expect("sender thread")))
            .collect()
    });
    for (i, framing, sent) in &all {
        let what = doors[i % doors.len()].check(sent, LARGE, *framing);
        slowest = slowest.max((sent.took, what));
    }
    let concurrent = started.elapsed();
    let growth = meter.stop();
    eprintln!(
        "huge bodies on {}: {} of 256 MB one by one in {serial:.2?}, ten of 64 MB at once in \
         {concurrent:.2?}; the slowest 413: {}; the serving process: {}",
        if h.target().is_real() {
            "real Spin"
        } else {
            "our host"
        },
        doors.len() * 3,
        slowest.1,
        growth.text,
    );
    assert!(
        growth.kb < GROWTH_LIMIT_KB,
        "the serving process grew too much (limit {GROWTH_LIMIT_KB} KiB): {}",
        growth.text
    );
}

const HUGE: u64 = 256 << 20;
const LARGE: u64 = 64 << 20;
/// The most the serving process may grow (its peak over its start).
const GROWTH_LIMIT_KB: u64 = 32 * 1024;
/// Past this many bytes accepted by the server, it was reading on instead of closing
/// (the limit is 256 KiB; loopback socket buffers hold a few MB).
const READ_ON_BYTES: u64 = 24 << 20;

/// How a body is framed.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Framing {
    /// `content-length`, the body sent right after the head.
    Length,
    /// `transfer-encoding: chunked`: the server learns the size only by reading.
    Chunked,
    /// `content-length` and `expect: 100-continue`: the body is sent only on `100 Continue`.
    Expect,
}

/// A door and the 413 it answers.
struct Door413 {
    method: &'static str,
    path: String,
    auth: Option<String>,
    /// The field of its error document and the code there.
    code: (&'static str, &'static str),
}

impl Door413 {
    fn rest(path: &str, auth: Option<&str>) -> Door413 {
        Door413 {
            method: "POST",
            path: path.into(),
            auth: auth.map(str::to_owned),
            code: ("code", "BODY_TOO_LARGE"),
        }
    }

    /// Checks the answer; returns what was sent and how long the answer took.
    fn check(&self, sent: &Streamed, size: u64, framing: Framing) -> String {
        let what = format!(
            "{} {} ({} token) {} MB {framing:?}: sent {} bytes in {:.2?}",
            self.method,
            self.path,
            if self.auth.is_some() { "a" } else { "no" },
            size >> 20,
            sent.sent,
            sent.took
        );
        let answer = sent
            .answer
            .as_ref()
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        // With `expect: 100-continue` a `100` here would mean the body was being read: the
        // runtime sends one when the guest first reads the body.
        assert_eq!(answer.status, 413, "{what}: {answer:?}");
        assert_eq!(answer.body[self.code.0], self.code.1, "{what}: {answer:?}");
        assert!(
            answer.closes,
            "{what}: the connection is kept open: {answer:?}"
        );
        assert!(
            sent.sent < READ_ON_BYTES,
            "{what}: the server read on past the limit"
        );
        assert!(
            sent.took < std::time::Duration::from_secs(5),
            "{what}: the 413 came late"
        );
        what
    }
}

/// What one raw request got.
struct Streamed {
    answer: Result<RawAnswer, String>,
    /// Body bytes (framing included) the server's socket accepted before the end.
    sent: u64,
    /// Until the answer was read.
    took: std::time::Duration,
}

#[derive(Debug)]
struct RawAnswer {
    status: u16,
    /// `connection: close`.
    closes: bool,
    body: Value,
}

/// Sends `size` bytes of body to `door` over a raw connection (a writer thread feeds it
/// from a fixed 64 KiB chunk while the answer is read), so the answer is seen even while
/// the body is still going out.
fn stream_body(h: &Harness, door: &Door413, size: u64, framing: Framing) -> Streamed {
    use std::io::Write;
    use std::net::{Shutdown, TcpStream};
    let base = h.base_url();
    let addr = base.trim_start_matches("http://");
    let started = std::time::Instant::now();
    let mut conn = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let timeout = Some(std::time::Duration::from_secs(30));
    conn.set_read_timeout(timeout).expect("read timeout");
    conn.set_write_timeout(timeout).expect("write timeout");
    let mut head = format!(
        "{} {} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n",
        door.method, door.path
    );
    if let Some(auth) = &door.auth {
        head.push_str(&format!("authorization: {auth}\r\n"));
    }
    match framing {
        Framing::Length => head.push_str(&format!("content-length: {size}\r\n")),
        Framing::Chunked => head.push_str("transfer-encoding: chunked\r\n"),
        Framing::Expect => head.push_str(&format!(
            "content-length: {size}\r\nexpect: 100-continue\r\n"
        )),
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes()).expect("request head");
    let writer = conn.try_clone().expect("clone the connection");
    let feeding = std::thread::spawn(move || match framing {
        Framing::Expect => 0,
        _ => feed(writer, size, framing == Framing::Chunked),
    });
    let answer = read_answer(&mut conn);
    let took = started.elapsed();
    // Whatever the server did not refuse by now is not waited for.
    let _ = conn.shutdown(Shutdown::Both);
    let sent = feeding.join().expect("writer thread");
    Streamed { answer, sent, took }
}

/// Writes `size` body bytes (`chunked`: framed as chunks) until done or refused; returns
/// the bytes (framing included) the connection accepted.
fn feed(mut conn: std::net::TcpStream, size: u64, chunked: bool) -> u64 {
    use std::io::Write;
    const CHUNK: usize = 64 * 1024;
    let data = [b'x'; CHUNK];
    let mut sent = 0u64;
    let mut left = size;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        let framed = if chunked {
            let mut f = format!("{n:x}\r\n").into_bytes();
            f.extend_from_slice(&data[..n]);
            f.extend_from_slice(b"\r\n");
            f
        } else {
            data[..n].to_vec()
        };
        if conn.write_all(&framed).is_err() {
            return sent;
        }
        sent += framed.len() as u64;
        left -= n as u64;
    }
    if chunked && conn.write_all(b"0\r\n\r\n").is_ok() {
        sent += 5;
    }
    sent
}

/// Reads the first answer, its body by `content-length` (a `100 Continue` is an answer
/// here: nothing is sent on it, and it means the server went on to read the body).
fn read_answer(conn: &mut std::net::TcpStream) -> Result<RawAnswer, String> {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {} bytes", buf.len())),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{e} after {} bytes", buf.len())),
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
    };
    let length: usize = header("content-length:")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < end + length {
        match conn.read(&mut chunk) {
            Ok(0) => return Err(format!("body cut short: {head}")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{e} in the body: {head}")),
        }
    }
    Ok(RawAnswer {
        status,
        closes: header("connection:").is_some_and(|v| v == "close"),
        body: serde_json::from_slice(&buf[end..end + length]).unwrap_or(Value::Null),
    })
}

/// The process that serves `h`'s requests: this one (our host runs in the test process),
/// or `spin up`'s HTTP trigger. (Not its cron trigger: that process still grows by itself
/// in its first seconds, by up to 18 MB measured, whatever the requests.)
fn serving_processes(h: &Harness) -> Vec<u32> {
    match h.target() {
        crate::Target::Local(_) => vec![std::process::id()],
        crate::Target::Real(spin) => vec![
            spin.http_process()
                .unwrap_or_else(|| panic!("no `spin trigger http` in {:?}", spin.processes())),
        ],
        crate::Target::Remote(base) => {
            panic!("the serving process of {base} is not ours to measure")
        }
    }
}

/// The peak resident size of some processes, from a start: each process's peak (VmHWM,
/// reset at the start through `/proc/PID/clear_refs`) and, where that cannot be reset, the
/// highest of their summed resident sizes sampled every 2 ms.
struct Meter {
    /// `(pid, VmRSS at the start in KiB)`.
    before: Vec<(u32, u64)>,
    /// Every peak could be reset.
    reset: bool,
    sampled: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<()>,
}

/// What a [`Meter`] saw.
struct Growth {
    /// Summed peak over summed start, in KiB.
    kb: u64,
    /// One line: the start, each process's growth, how the peak was measured.
    text: String,
}

impl Meter {
    fn start(pids: &[u32]) -> Meter {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let reset = pids
            .iter()
            .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok());
        let before: Vec<(u32, u64)> = pids
            .iter()
            .map(|pid| (*pid, rss_kb(&[*pid], "VmRSS")))
            .collect();
        let sampled = std::sync::Arc::new(AtomicU64::new(0));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let sampler = {
            let (pids, sampled, stop) = (pids.to_vec(), sampled.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    sampled.fetch_max(rss_kb(&pids, "VmRSS"), Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            })
        };
        Meter {
            before,
            reset,
            sampled,
            stop,
            sampler,
        }
    }

    fn stop(self) -> Growth {
        use std::sync::atomic::Ordering;
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.join();
        let start: u64 = self.before.iter().map(|(_, kb)| kb).sum();
        let sampled = self.sampled.load(Ordering::Relaxed);
        let (peak, each) = if self.reset {
            let each: Vec<String> = self
                .before
                .iter()
                .map(|(pid, kb)| {
                    let grew = rss_kb(&[*pid], "VmHWM").saturating_sub(*kb);
                    format!("{pid} +{grew} KiB")
                })
                .collect();
            let pids: Vec<u32> = self.before.iter().map(|(pid, _)| *pid).collect();
            (rss_kb(&pids, "VmHWM").max(sampled), each.join(", "))
        } else {
            (sampled, "peaks not resettable: sampled".into())
        };
        let kb = peak.saturating_sub(start);
        Growth {
            kb,
            text: format!("{} MiB at the start, peak +{kb} KiB ({each})", start / 1024),
        }
    }
}

/// The sum of `field` (kB) in `/proc/PID/status` over `pids` (a process gone counts 0).
fn rss_kb(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix(field)?
                    .trim_start_matches(':')
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
        })
        .sum()
}

/// A request with the test org's token (or none), raw body.
fn raw(h: &Harness, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Answer {
    let auth = format!("Bearer {}", h.token);
    let mut all = vec![("authorization", auth.as_str())];
    all.extend_from_slice(headers);
    crate::try_send(&h.http, &h.base_url(), method, path, &all, Some(body))
        .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"))
}

/// xorshift64*: a fixed-seed generator, so a failing case replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// Printable ASCII or percent-escaped junk for a path segment.
    fn segment(&mut self) -> String {
        let len = self.below(40);
        (0..len)
            .map(|_| match self.below(6) {
                0 => format!("%{:02X}", self.below(256)),
                1 => self
                    .pick(&["..", "%00", "%2F", "~", "$", ";", "é", "{}", "'"])
                    .to_string(),
                _ => char::from(b'!' + self.below(94) as u8).to_string(),
            })
            .filter(|s| s != "/" && s != "?" && s != "#" && s != "%")
            .collect()
    }
    fn json(&mut self, depth: usize) -> Value {
        match self.below(if depth > 4 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => json!(self.next().is_multiple_of(2)),
            2 => json!(self.next() as i64),
            // Any f64 bit pattern (NaN and infinities become null).
            3 => json!(f64::from_bits(self.next())),
            4 => json!(self.segment()),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth + 1)).collect()),
            _ => {
                let keys = [
                    "streamName",
                    "osType",
                    "gpuType",
                    "sourceType",
                    "sourceStreamType",
                    "versionType",
                    "providerInstanceId",
                    "assetDetails",
                    "data",
                    "replicas",
                    "markers",
                    "description",
                    "name",
                    "orgId",
                    "sourceVersionId",
                    "imageName",
                    "additionalReplicas",
                    "vmId",
                    "sourceImageVersionId",
                    "multiSession",
                ];
                let mut m = serde_json::Map::new();
                for _ in 0..self.below(6) {
                    let k = self.pick(&keys).to_string();
                    m.insert(k, self.json(depth + 1));
                }
                Value::Object(m)
            }
        }
    }
}

pub fn garbage_methods_paths_headers_and_bodies_never_get_a_5xx_or_an_empty_answer(h: &Harness) {
    let created = h.sig_image("fuzz");
    let (image, version) = first_version(&created);
    let op = operation_path(&created).unwrap_or_default();
    let templates = [
        "/imagemgmt/v1/images".to_owned(),
        "/imagemgmt/v1/images?action={x}".to_owned(),
        "/imagemgmt/v1/images?page={x}&size={x}&sort={x}&search={x}".to_owned(),
        format!("/imagemgmt/v1/images/{image}"),
        "/imagemgmt/v1/images/{x}".to_owned(),
        format!("/imagemgmt/v1/images/{image}/versions"),
        format!("/imagemgmt/v1/images/{image}/versions?sort={{x}}&page={{x}}"),
        format!("/imagemgmt/v1/images/{image}/versions/{version}"),
        format!("/imagemgmt/v1/images/{image}/versions/{version}?action={{x}}"),
        format!("/imagemgmt/v1/images/{image}/versions/{{x}}/copies"),
        format!("/imagemgmt/v1/images/{image}/versions/{version}/clone?action={{x}}"),
        format!("/imagemgmt/v1/images/{image}/versions/{version}/republish"),
        format!("/imagemgmt/v1{op}"),
        "/imagemgmt/v1/operations/{x}".to_owned(),
        "/imagemgmt/v1/{x}/{x}".to_owned(),
        "/imagemgmt/v1/openapi.json".to_owned(),
        "/{x}".to_owned(),
        "/admin/v1/{x}".to_owned(),
        "/healthz".to_owned(),
    ];
    // Weighted towards the methods the API serves, so most cases reach its parsers.
    let methods = [
        "GET", "GET", "POST", "POST", "POST", "POST", "PATCH", "PATCH", "DELETE", "PUT", "HEAD",
        "OPTIONS", "FOO",
    ];
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/problem+json",
        "multipart/form-data; boundary=x",
        "",
    ];
    let mut rng = Rng(0x5EED_CAFE_F00D_0001);
    let auth_ok = format!("Bearer {}", h.token);
    let cases = 600;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut skipped = 0;
    for case in 0..cases {
        let method = *rng.pick(&methods);
        let mut path = rng.pick(&templates).clone();
        while path.contains("{x}") {
            let seg = rng.segment();
            path = path.replacen("{x}", &seg, 1);
        }
        let mut headers: Vec<(String, String)> = Vec::new();
        match rng.below(8) {
            0 => {}
            1 => headers.push(("authorization".into(), format!("Bearer {}", rng.segment()))),
            2 => headers.push(("authorization".into(), rng.segment())),
            _ => headers.push(("authorization".into(), auth_ok.clone())),
        }
        let ct = *rng.pick(&content_types);
        if !ct.is_empty() {
            headers.push(("content-type".into(), ct.into()));
        }
        for _ in 0..rng.below(3) {
            let name = *rng.pick(&[
                "idempotency-key",
                "if-match",
                "accept",
                "x-junk",
                "content-encoding",
                "x-acs-action",
            ]);
            let value = rng.segment();
            headers.push((name.into(), value));
        }
        let body: Vec<u8> = match rng.below(5) {
            0 => Vec::new(),
            1 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
            _ => rng.json(0).to_string().into_bytes(),
        };
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let what = format!(
            "case {case}: {method} {path} {headers:?} body {:?}",
            String::from_utf8_lossy(&body)
        );
        let a = match crate::try_send(&h.http, &h.base_url(), method, &path, &refs, Some(body)) {
            Ok(a) => a,
            // reqwest refuses to build some junk (e.g. an invalid header value): not the app's answer.
            Err(e) if e.contains("builder") => {
                skipped += 1;
                continue;
            }
            Err(e) => panic!("{what}: no answer: {e}"),
        };
        assert!(a.status < 500, "{what}: {} {}", a.status, a.body);
        if method != "HEAD" && a.status != 204 && a.status != 304 {
            assert!(!a.body.is_null(), "{what}: {} with an empty body", a.status);
        }
        *statuses.entry(a.status).or_default() += 1;
    }
    eprintln!("garbage: {cases} cases, {skipped} not sendable, statuses {statuses:?}");
    assert!(
        skipped < cases / 10,
        "too many cases could not be sent: {skipped}"
    );
    // And the store is still sound for the owner.
    let image_now = h.rest("GET", &format!("/images/{image}"), None);
    assert_eq!(image_now.status, 200, "{}", image_now.body);
}

/// Past the signature check: correctly signed calls of every action (and of unknown ones)
/// with junk, missing, repeated, huge and non-ASCII parameters. Each answer is the door's
/// JSON envelope with a 4xx or a 200, never a 5xx.
pub fn signed_rpc_calls_with_garbage_parameters_never_get_a_5xx(h: &Harness) {
    let base = h.base_url();
    let door = Door::new(
        base.clone(),
        seed_at(&h.http, &base, &format!("{}-rpc-fuzz", h.org)),
    );
    let now = h.now_secs();
    let actions = [
        "CreateImageByInstance",
        "CreateImageByInstance",
        "ListImage",
        "ListImage",
        "DeleteImage",
        "StartTaskForDistributeImage",
        "DescribeImages",
        "",
    ];
    let names = [
        "InstanceId",
        "InstanceType",
        "ImageName",
        "Description",
        "ImageId",
        "ImageId.1",
        "ImageType",
        "OsType",
        "Status",
        "PageNumber",
        "PageSize",
        "VersionId",
        "SubInstanceId",
        "DestinationRegionList",
        "DestinationRegionList.1",
        "DestinationRegionList.2",
        "SourceRegion",
        "TagList.1.Key",
        "TagList.1.Value",
        "TagList.0.Key",
        "AutoCleanUserdata",
        "ProductType",
        "DiskType",
        "BizType",
        "RetryType",
        "Version",
        "Action",
        "x",
    ];
    let mut rng = Rng(0x5EED_CAFE_F00D_0002);
    let cases = 400;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..cases {
        let action = *rng.pick(&actions);
        let params: Vec<(String, String)> = (0..rng.below(7))
            .map(|_| {
                let value = match rng.below(8) {
                    0 => String::new(),
                    1 => (rng.next() as i64).to_string(),
                    2 => rng
                        .pick(&["0", "-1", "1", "100", "99999999999999999999", "1.5"])
                        .to_string(),
                    3 => "x".repeat(rng.below(3000)),
                    4 => rng
                        .pick(&[
                            "ecd-1",
                            "CloudDesktop",
                            "WuyingServer",
                            "cn-hangzhou",
                            "AVAILABLE",
                            "true",
                            "é中文\u{0}",
                        ])
                        .to_string(),
                    _ => rng.segment(),
                };
                (rng.pick(&names).to_string(), value)
            })
            .collect();
        let refs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let what = format!("case {case}: {action} {params:?}");
        let a = door
            .try_rpc(action, &refs, now)
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        assert!(a.status < 500, "{what}: {} {}", a.status, a.body);
        assert!(
            a.body.get("RequestId").is_some(),
            "{what}: not the envelope: {} {}",
            a.status,
            a.body
        );
        *statuses.entry(a.status).or_default() += 1;
    }
    eprintln!("signed garbage: {cases} cases, statuses {statuses:?}");
    // The junk reached the actions, not just the parameter checks.
    assert!(
        statuses.get(&200).is_some_and(|n| *n >= cases / 20),
        "{statuses:?}"
    );
}
