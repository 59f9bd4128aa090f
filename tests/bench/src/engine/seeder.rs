//! The engine bench's backlog writer: our host in-process on the replicas' Redis, its clock
//! frozen at the backlog's one due instant.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use catalog_e2e::demo;
use spin_local_host::{App, AppOptions, BackendConfig, KvSetup};

use crate::ADMIN;

/// Threads writing the backlog.
const WRITERS: usize = 4;

/// Our host in-process on the replicas' Redis, with `step_ms` = 1, writing backlogs.
pub struct Seeder {
    pub app: App,
    tokens: Vec<String>,
    /// Backlogs written so far (their images get distinct names).
    runs: std::cell::Cell<usize>,
}

impl Seeder {
    pub fn start(redis_url: &str, manifest: &Path, orgs: &[String]) -> anyhow::Result<Seeder> {
        let mut options = AppOptions::new(manifest);
        options.kv = KvSetup::Backend(BackendConfig::Redis {
            url: redis_url.to_owned(),
        });
        for (name, value) in [
            ("admin_token", ADMIN),
            ("step_ms", "1"),
            ("rest_rate_limit", "0"),
            ("rpc_rate_limit", "0"),
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
        })
    }

    /// Writes `n` gallery copies (one operation each) over the orgs, the clock frozen at
    /// `due`: every first transition is due at `due` (`step_ms` = 1), in one bucket. Returns
    /// how long the writing took.
    pub fn write(&self, n: usize, due: SystemTime) -> anyhow::Result<Duration> {
        let run = self.runs.get();
        self.runs.set(run + 1);
        self.app.clock().set(due);
        let base = self.app.base_url();
        let http = reqwest::blocking::Client::new();
        let tokens = &self.tokens;
        let started = Instant::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..WRITERS)
                .map(|w| {
                    let (base, http) = (&base, &http);
                    s.spawn(move || -> anyhow::Result<()> {
                        for i in (w..n).step_by(WRITERS) {
                            let token = &tokens[i % tokens.len()];
                            crate::sig_image(http, base, token, &format!("e{run}-{i}"))?;
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
        Ok(started.elapsed())
    }
}
