//! Replicas of the app, each its own process on one Redis: our host (`spin-local up
//! --spin-compat`, the binary built beside this bench) or the real Spin (`spin up` with the
//! trigger-cron plugin, [`RealSpin`]). Each runs its own cron (every 2 s, as `spin.toml`
//! says) and serves HTTP on its own port.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use catalog_e2e::real_spin::{Pace, RealSpin, SpinOptions, SpinStore};
use catalog_e2e::scheduler::Scheduler;
use serde_json::Value;

/// How long a replica may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Real Spin (`SPIN_BIN`, or `spin` on `PATH` with trigger-cron).
    Spin,
    /// Our host in `--spin-compat` mode.
    Host,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Spin => "real Spin",
            Runtime::Host => "our host (spin-compat)",
        }
    }
}

/// What drives a replica's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// Its own cron triggers (two ticks every 2 s, `spin.toml`).
    Cron,
    /// No cron trigger: two callers of `POST /admin/v1/engine/tick` in a tight loop of
    /// single ticks (two, as the cron's two triggers), as a platform without cron runs it.
    Http,
}

/// Concurrent tick callers of a [`Driver::Http`] replica.
pub const HTTP_CALLERS: usize = 2;

/// One replica, stopped on drop.
pub enum Replica {
    Spin(Box<RealSpin>),
    Host {
        child: Option<Child>,
        base_url: String,
        dir: PathBuf,
        /// The tick callers of a [`Driver::Http`] replica.
        scheduler: Option<Scheduler>,
    },
}

impl Replica {
    /// Serves `manifest` on `runtime` with the `default` store on Redis at `redis_url` and the
    /// given variables; returns once `/healthz` answers 200.
    pub fn start(
        runtime: Runtime,
        manifest: &Path,
        redis_url: &str,
        variables: &[(String, String)],
        dir: &Path,
        driver: Driver,
    ) -> anyhow::Result<Replica> {
        std::fs::create_dir_all(dir)?;
        match runtime {
            Runtime::Spin => {
                let mut opts = SpinOptions::new(manifest.to_path_buf());
                opts.store = SpinStore::Redis {
                    url: redis_url.to_owned(),
                };
                opts.variables = variables.to_vec();
                if driver == Driver::Http {
                    opts.without_cron = Some(Pace::SingleTicks);
                    opts.callers = HTTP_CALLERS;
                }
                Ok(Replica::Spin(Box::new(RealSpin::start(&opts)?)))
            }
            Runtime::Host => {
                let bin = host_binary()?;
                let port = std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port();
                let config = dir.join("runtime-config.toml");
                std::fs::write(
                    &config,
                    format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{redis_url}\"\n"),
                )?;
                let log = std::fs::File::create(dir.join("spin-local.log"))?;
                let mut cmd = Command::new(&bin);
                cmd.arg("up")
                    .arg("--from")
                    .arg(manifest)
                    .args(["--listen", &format!("127.0.0.1:{port}")])
                    .arg("--runtime-config-file")
                    .arg(&config)
                    .arg("--state-dir")
                    .arg(dir)
                    .arg("--spin-compat");
                if driver == Driver::Http {
                    cmd.arg("--no-cron");
                }
                for (name, value) in variables {
                    cmd.arg("--variable").arg(format!("{name}={value}"));
                }
                // As the README asks of a Redis store (R8), and as `RealSpin` sets it.
                if !variables.iter().any(|(n, _)| n == "store_batch_reads") {
                    cmd.arg("--variable").arg("store_batch_reads=false");
                }
                let child = cmd
                    .stdin(Stdio::null())
                    .stdout(log.try_clone()?)
                    .stderr(log)
                    .spawn()
                    .map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
                let base_url = format!("http://127.0.0.1:{port}");
                let mut replica = Replica::Host {
                    child: Some(child),
                    base_url: base_url.clone(),
                    dir: dir.to_path_buf(),
                    scheduler: None,
                };
                replica.wait_ready()?;
                if driver == Driver::Http
                    && let Replica::Host { scheduler, .. } = &mut replica
                {
                    let admin = variables
                        .iter()
                        .find(|(n, _)| n == "admin_token")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    let bases = vec![base_url; HTTP_CALLERS];
                    *scheduler = Some(Scheduler::start(&bases, &admin, Pace::SingleTicks));
                }
                Ok(replica)
            }
        }
    }

    pub fn base_url(&self) -> String {
        match self {
            Replica::Spin(s) => s.base_url(),
            Replica::Host { base_url, .. } => base_url.clone(),
        }
    }

    /// The end of the replica's logs (its own output and, on Spin, every component's).
    pub fn log_tail(&self, lines: usize) -> String {
        match self {
            Replica::Spin(s) => s.log_tail(lines),
            Replica::Host { dir, .. } => {
                let text = std::fs::read_to_string(dir.join("spin-local.log")).unwrap_or_default();
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
        }
    }

    /// Pauses (`SIGSTOP`) or resumes (`SIGCONT`) every process of the replica: a paused
    /// replica neither ticks nor serves, so one set of replicas serves runs with 1, 2 and 3
    /// active without restarting (each start compiles every component).
    pub fn set_paused(&self, paused: bool) {
        let pids = match self {
            Replica::Spin(s) => s.processes(),
            Replica::Host { child, .. } => child.iter().map(Child::id).collect(),
        };
        let sig = if paused { "-STOP" } else { "-CONT" };
        for pid in pids {
            let _ = Command::new("kill")
                .args([sig, &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// How many lines of the replica's logs mention `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log_tail(usize::MAX / 2)
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let url = format!("{}/healthz", self.base_url());
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Replica::Host {
                child: Some(child), ..
            } = self
                && let Ok(Some(status)) = child.try_wait()
            {
                anyhow::bail!("spin-local exited ({status}):\n{}", self.log_tail(40));
            }
            if let Ok(resp) = http.get(&url).send()
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                anyhow::bail!(
                    "{url} did not answer within {START_TIMEOUT:?}:\n{}",
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // A paused process would not act on TERM.
        self.set_paused(false);
        if let Replica::Host {
            child: Some(child),
            scheduler,
            ..
        } = self
        {
            // The callers first: a call the app's stop cuts is no failure, but stopping
            // them first keeps their log quiet.
            drop(scheduler.take());
            // Our own child, by its id: TERM, then KILL if it lingers.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `spin-local`, built beside this bench (`cargo build [--release] -p spin-local-host`, the
/// bench's own profile).
fn host_binary() -> anyhow::Result<PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("spin-local");
    anyhow::ensure!(
        bin.exists(),
        "{} is missing: cargo build -p spin-local-host in the bench's profile (--release for a full run)",
        bin.display()
    );
    Ok(bin)
}

/// `GET /healthz`'s `engine` counters (shown to the admin token): transitions and purges so far.
pub fn engine_counts(http: &reqwest::blocking::Client, base: &str) -> anyhow::Result<(i64, i64)> {
    let resp = http
        .get(format!("{base}/healthz"))
        .bearer_auth(crate::ADMIN)
        .send()?;
    let status = resp.status();
    let body: Value = resp.json()?;
    anyhow::ensure!(status.as_u16() == 200, "/healthz answered {status}: {body}");
    let n = |k: &str| body["engine"][k].as_i64();
    match (n("advanced"), n("purged")) {
        (Some(a), Some(p)) => Ok((a, p)),
        _ => anyhow::bail!("/healthz has no engine counters (components too old?): {body}"),
    }
}
