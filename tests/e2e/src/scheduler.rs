//! An external scheduler: what drives the engine where no cron trigger runs (SpinKube's
//! containerd-shim-spin, edge platforms). It calls `POST /admin/v1/engine/tick` on each
//! replica from a thread of its own until dropped, as a Kubernetes CronJob or a platform's
//! HTTP scheduler would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

/// How the scheduler calls the tick route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// A tight loop of single ticks (one tick a call, the next call at once).
    SingleTicks,
    /// A call with `?seconds=N` after another: a scheduler firing once a minute with
    /// `seconds=55`, its gaps left out.
    Seconds(u32),
    /// Calls with `?seconds=5` that the client abandons after [`CUT_AFTER`]: every call is
    /// cut off mid-way (the app goes on ticking for it), and the next starts at once.
    CutOff,
    /// No scheduler: whoever started the app calls the tick route itself (the benchmark's
    /// call counts, which must see no tick but their own).
    Manual,
}

/// How long a [`Pace::CutOff`] call is waited for before the client goes away.
pub const CUT_AFTER: Duration = Duration::from_millis(700);

/// What the scheduler saw: calls answered 200, calls answered otherwise (with the first
/// such answer), calls cut off, and the transitions the answers report.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub transitions: AtomicU64,
    /// Calls the client abandoned mid-way ([`Pace::CutOff`]).
    pub cut: AtomicU64,
    pub first_failure: std::sync::Mutex<Option<String>>,
}

/// A running scheduler; stops (and joins its threads) on drop. A call under way when it is
/// dropped is abandoned: the client goes away mid-call, which must lose nothing.
pub struct Scheduler {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub tally: Arc<Tally>,
}

impl Scheduler {
    /// Starts one calling thread per base URL, with `token` as bearer.
    pub fn start(bases: &[String], token: &str, pace: Pace) -> Scheduler {
        let stop = Arc::new(AtomicBool::new(false));
        let tally = Arc::new(Tally::default());
        let query = match pace {
            Pace::SingleTicks | Pace::Manual => String::new(),
            Pace::Seconds(n) => format!("?seconds={n}"),
            Pace::CutOff => "?seconds=5".to_owned(),
        };
        let timeout = match pace {
            Pace::CutOff => CUT_AFTER,
            // Longer than the longest call (60 s); a single tick answers well within it.
            _ => Duration::from_secs(90),
        };
        let threads = bases
            .iter()
            .filter(|_| pace != Pace::Manual)
            .map(|base| {
                let url = format!("{base}/admin/v1/engine/tick{query}");
                let (stop, tally, token) = (stop.clone(), tally.clone(), token.to_owned());
                std::thread::spawn(move || call_until_stopped(&url, &token, timeout, &stop, &tally))
            })
            .collect();
        Scheduler {
            stop,
            threads,
            tally,
        }
    }

    /// The first answer that was not a 200, if any.
    pub fn first_failure(&self) -> Option<String> {
        self.tally
            .first_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn call_until_stopped(url: &str, token: &str, timeout: Duration, stop: &AtomicBool, tally: &Tally) {
    let http = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .build()
        .expect("an HTTP client");
    while !stop.load(Ordering::SeqCst) {
        let answer = http
            .post(url)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .map_err(|e| (e.is_timeout(), e.to_string()))
            .and_then(|r| {
                let status = r.status().as_u16();
                let body: Value = r.json().unwrap_or(Value::Null);
                if status == 200 {
                    Ok(body)
                } else {
                    Err((false, format!("{status} {body}")))
                }
            });
        match answer {
            Ok(body) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
                let n = body["transitions"].as_u64().unwrap_or(0);
                tally.transitions.fetch_add(n, Ordering::SeqCst);
            }
            // A call cut by the app's own stop is not the app's failure.
            Err(_) if stop.load(Ordering::SeqCst) => break,
            // A call the client gave up on by design (`Pace::CutOff`).
            Err((true, _)) if timeout == CUT_AFTER => {
                tally.cut.fetch_add(1, Ordering::SeqCst);
            }
            Err((_, why)) => {
                tally.failed.fetch_add(1, Ordering::SeqCst);
                let mut first = tally
                    .first_failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(format!("{url}: {why}"));
                drop(first);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A `seconds` call runs to its end (at most a minute) unless the app stops first;
        // the threads are detached rather than joined, so dropping never waits that long.
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}
