//! The engine bench's backlog writer: our host in-process on the replicas' Redis, its clock
//! frozen at the backlog's one due instant.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use catalog_e2e::demo;
use spin_local_host::{App, AppOptions, BackendConfig, KvSetup};

use crate::ADMIN;

/// Threads writing the backlog.
const WRITERS: usize = 4;
/// A write stops early unless it will be done this long before the backlog is due.
const GUARD: Duration = Duration::from_secs(2);

/// Our host in-process on the replicas' Redis, with `step_ms` = 1, writing backlogs.
pub struct Seeder {
    pub app: App,
    pub tokens: Vec<String>,
    /// Backlogs written so far (their images get distinct names).
    runs: std::cell::Cell<usize>,
    /// When set, a backlog is Add Versions dealt round-robin to these images (an index
    /// into `tokens`, the image id) rather than new images.
    pub onto: std::cell::RefCell<Option<Vec<(usize, String)>>>,
}

impl Seeder {
    pub fn start(redis_url: &str, manifest: &Path, orgs: &[String]) -> anyhow::Result<Seeder> {
        let mut options = AppOptions::new(manifest);
        options.kv = KvSetup::Backend(BackendConfig::Redis {
            url: redis_url.to_owned(),
        });
        for (name, value) in [
            ("admin_token", ADMIN),
            ("secrets_key", catalog_model::secrets::TEST_KEY),
            ("step_ms", "1"),
            ("rest_rate_limit", "0"),
            ("rpc_rate_limit", "0"),
            // The big-images part writes Add Versions onto images already at 1 000 versions,
            // past the default quota; the largest quota the contract allows leaves room.
            ("quota_versions", "4096"),
            // The throughput runs put up to 750 new images in each org (full run): room.
            ("quota_images", "10000"),
            // A backlog is hundreds of operations running in each org at once.
            ("quota_operations", "5000"),
        ] {
            options.variables.insert(name.into(), value.into());
        }
        let app = App::start(options)?;
        let http = reqwest::blocking::Client::new();
        let base = app.base_url();
        let tokens = orgs
            .iter()
            .map(|org| {
                demo::seed(&http, &base, ADMIN, org)
                    .map(|c| c.token)
                    .map_err(anyhow::Error::msg)
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Seeder {
            app,
            tokens,
            runs: std::cell::Cell::new(0),
            onto: std::cell::RefCell::new(None),
        })
    }

    /// Writes up to `n` gallery copies (one operation each) over the orgs, the clock frozen
    /// at `due`: every first transition is due at `due` (`step_ms` = 1), in one bucket.
    ///
    /// Stops early once it would not be done [`GUARD`] before `due`: after a first slice of
    /// the backlog (an eighth) by the rate measured so far, before it by the clock. The lead
    /// comes from an earlier write's rate, and a loaded machine can be slower than that; the
    /// caller then lets the replicas work off what was written and tries again with a lead
    /// from this write's rate.
    pub fn write(&self, n: usize, due: SystemTime) -> anyhow::Result<Written> {
        let run = self.runs.get();
        self.runs.set(run + 1);
        self.app.clock().set(due);
        let base = self.app.base_url();
        let http = reqwest::blocking::Client::new();
        let tokens = &self.tokens;
        let onto = self.onto.borrow().clone();
        let onto = &onto;
        let started = Instant::now();
        let deadline = (started + due.duration_since(SystemTime::now()).unwrap_or_default())
            .checked_sub(GUARD)
            .unwrap_or(started);
        let slice = (n / 8).max(4 * WRITERS);
        let done = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let late = || {
            let (d, spent) = (done.load(Ordering::SeqCst), started.elapsed());
            let end = if d >= slice {
                spent.mul_f64(n as f64 / d as f64)
            } else {
                spent
            };
            started + end > deadline
        };
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (base, http, done, stop, late) = (&base, &http, &done, &stop, &late);
                    s.spawn(move || -> anyhow::Result<()> {
                        for i in (w..n).step_by(WRITERS) {
                            if stop.load(Ordering::SeqCst) || late() {
                                stop.store(true, Ordering::SeqCst);
                                break;
                            }
                            match onto {
                                None => {
                                    let token = &tokens[i % tokens.len()];
                                    crate::sig_image(http, base, token, &format!("e{run}-{i}"))?;
                                }
                                Some(images) => {
                                    let (t, image) = &images[i % images.len()];
                                    add_version(http, base, &tokens[*t], image)?;
                                }
                            }
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a writer panicked")))
                })
                .collect::<anyhow::Result<Vec<()>>>()
        })?;
        Ok(Written {
            ops: done.into_inner(),
            took: started.elapsed(),
        })
    }
}

/// What one [`Seeder::write`] did.
pub struct Written {
    /// Operations written: all `n`, or fewer if it stopped early.
    pub ops: usize,
    /// How long the writing took.
    pub took: Duration,
}

impl Written {
    /// Operations written a second (counting at least one, so never zero).
    pub fn rate(&self) -> f64 {
        self.ops.max(1) as f64 / self.took.as_secs_f64().max(1e-3)
    }
}

/// One Add Version (a gallery copy) onto `image`.
fn add_version(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    image: &str,
) -> anyhow::Result<()> {
    let r = http
        .post(format!("{base}/imagemgmt/v1/images/{image}/versions"))
        .bearer_auth(token)
        .json(&crate::add_version_body())
        .send()?;
    anyhow::ensure!(r.status().as_u16() == 201, "Add Version: {}", r.status());
    Ok(())
}
