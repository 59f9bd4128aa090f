//! The real Spin runtime (`spin up` with the trigger-cron plugin) as a test fixture.
//!
//! Our host (`tests/host`) is fast and can move the clock and inject faults; the real
//! runtime is the truth. Suites that need neither run here too: [`RealSpin::start`] serves
//! a manifest under `spin up` on a free loopback port with its own state directory (so
//! its SQLite store is fresh) or a Redis runtime config, and stops the whole process
//! group (`spin up` runs each trigger as a child process) when dropped.
//!
//! Which `spin`: `SPIN_BIN` if set, else `spin` on `PATH` when it has the `trigger-cron`
//! plugin. `.ci/run` and `./dev test` install one from the runtime kept beside the
//! repository. [`RealSpin::binary`] is `None` when there is none, and the real-runtime
//! tests then fail saying so (they are `#[ignore]`d in a plain `cargo test`).
//!
//! Nothing here builds: run `spin build` (or `./dev test`, which does) first, so the
//! `.wasm` files `spin.toml` names exist.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::scheduler::Pace;
use crate::scheduler::Scheduler;

/// How long `spin up` may take to answer `/healthz` (it compiles every component first).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopped `spin up` may take to end before its group is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The key-value backend of the app's `default` store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpinStore {
    /// Spin's default: a SQLite file in the state directory.
    Sqlite,
    /// `[key_value_store.default] type = "redis"` at this URL.
    Redis { url: String },
    /// `type = "aws_dynamo"`, the table [`crate::moto::TABLE`] of a local DynamoDB at this
    /// endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, dummy credentials; R12).
    Dynamo { endpoint: String },
}

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct SpinOptions {
    pub manifest: PathBuf,
    pub store: SpinStore,
    /// `SPIN_VARIABLE_<NAME>` values (names as in `spin.toml`, lower case).
    pub variables: Vec<(String, String)>,
    /// A state directory to use (and keep); `None`: a fresh one, removed on drop.
    pub state_dir: Option<PathBuf>,
    /// `None`: every component, the cron trigger advancing the engine. `Some(pace)`: every
    /// component but the cron ones (`spin up --component-id`, what a SpinApp's
    /// `components` list does on a platform without a cron trigger), the engine driven
    /// over HTTP by a [`Scheduler`] at that pace, started once the app answers.
    pub without_cron: Option<Pace>,
    /// How many callers the external scheduler runs at once (1; 2 matches the two cron
    /// triggers of `spin.toml`).
    pub callers: usize,
}

impl SpinOptions {
    pub fn new(manifest: PathBuf) -> SpinOptions {
        SpinOptions {
            manifest,
            store: SpinStore::Sqlite,
            variables: Vec::new(),
            state_dir: None,
            without_cron: None,
            callers: 1,
        }
    }

    /// The same app with no cron trigger, driven over HTTP at `pace`.
    pub fn without_cron(mut self, pace: Pace) -> SpinOptions {
        self.without_cron = Some(pace);
        self
    }

    pub fn variable(mut self, name: &str, value: &str) -> SpinOptions {
        self.variables.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One `spin up`, stopped (with its trigger processes) on drop.
pub struct RealSpin {
    child: Option<Child>,
    /// The external scheduler of an app without cron ([`SpinOptions::without_cron`]).
    scheduler: Option<Scheduler>,
    base_url: String,
    state_dir: PathBuf,
    owns_state: bool,
    log: PathBuf,
}

impl RealSpin {
    /// The `spin` to run: `SPIN_BIN`, else `spin` on `PATH` with trigger-cron installed.
    pub fn binary() -> Option<PathBuf> {
        if let Some(bin) = std::env::var_os("SPIN_BIN").filter(|b| !b.is_empty()) {
            return Some(PathBuf::from(bin));
        }
        let listed = Command::new("spin")
            .args(["plugins", "list", "--installed"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&listed.stdout);
        text.lines()
            .any(|l| l.starts_with("trigger-cron"))
            .then(|| PathBuf::from("spin"))
    }

    /// [`Self::binary`], or a panic that says how to get one.
    pub fn require_binary() -> PathBuf {
        Self::binary().unwrap_or_else(|| {
            panic!(
                "no real Spin: set SPIN_BIN to a `spin` 4.x launcher with the trigger-cron \
                 plugin, or put one on PATH (./dev test and .ci/run install the one kept \
                 beside the repository)"
            )
        })
    }

    /// Serves `opts.manifest` under `spin up` and waits until `/healthz` answers.
    pub fn start(opts: &SpinOptions) -> anyhow::Result<RealSpin> {
        let bin = Self::binary()
            .ok_or_else(|| anyhow::anyhow!("no real Spin (SPIN_BIN unset, no spin on PATH)"))?;
        let (state_dir, owns_state) = match &opts.state_dir {
            Some(dir) => (dir.clone(), false),
            None => (fresh_dir("real-spin")?, true),
        };
        std::fs::create_dir_all(&state_dir)?;
        let port = free_port()?;
        let base_url = format!("http://127.0.0.1:{port}");
        let log = state_dir.join("spin-up.log");
        let out = std::fs::File::create(&log)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("up")
            .arg("--from")
            .arg(&opts.manifest)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(&state_dir);
        if let SpinStore::Redis { url } = &opts.store {
            let config = state_dir.join("runtime-config.toml");
            std::fs::write(
                &config,
                format!("[key_value_store.default]\ntype = \"redis\"\nurl = \"{url}\"\n"),
            )?;
            cmd.arg("--runtime-config-file").arg(config);
            // As the README asks of a Redis store (R8), unless the test sets it itself.
            if !opts.variables.iter().any(|(n, _)| n == "store_batch_reads") {
                cmd.env("SPIN_VARIABLE_STORE_BATCH_READS", "false");
            }
        }
        if let SpinStore::Dynamo { endpoint } = &opts.store {
            let config = state_dir.join("runtime-config.toml");
            std::fs::write(
                &config,
                format!(
                    "[key_value_store.default]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\n\
                     table = \"{}\"\nconsistent_read = true\n",
                    crate::moto::TABLE
                ),
            )?;
            cmd.arg("--runtime-config-file").arg(config);
            cmd.env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
                .env("AWS_REGION", "us-east-1")
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test");
        }
        for (name, value) in &opts.variables {
            cmd.env(
                format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
                value,
            );
        }
        if opts.without_cron.is_some() {
            for component in http_components(&opts.manifest)? {
                cmd.args(["--component-id", &component]);
            }
        }
        // Its own process group, so stopping it also stops the trigger processes.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {}: {e}", bin.display()))?;
        let mut spin = RealSpin {
            child: Some(child),
            scheduler: None,
            base_url,
            state_dir,
            owns_state,
            log,
        };
        spin.wait_ready()?;
        if let Some(pace) = opts.without_cron {
            let admin = opts
                .variables
                .iter()
                .find(|(n, _)| n == "admin_token")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let bases = vec![spin.base_url.clone(); opts.callers.max(1)];
            spin.scheduler = Some(Scheduler::start(&bases, &admin, pace));
        }
        Ok(spin)
    }

    /// How many of the external scheduler's calls were cut off ([`Pace::CutOff`]).
    pub fn scheduler_cuts(&self) -> u64 {
        self.scheduler
            .as_ref()
            .map_or(0, |s| s.tally.cut.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The external scheduler's failed calls (an app without cron; `None` otherwise or
    /// when every call was answered 200), for the suites to assert on.
    pub fn scheduler_failure(&self) -> Option<String> {
        self.scheduler.as_ref().and_then(Scheduler::first_failure)
    }

    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// The process that serves the requests: `spin trigger http`, which `spin up` starts
    /// beside `spin trigger-cron` (and its plugin) in its process group.
    pub fn http_process(&self) -> Option<u32> {
        self.processes().into_iter().find(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.windows(2)
                .any(|w| w == [&b"trigger"[..], &b"http"[..]])
        })
    }

    /// The ids of every live process of this `spin up`: its own, and its triggers', all in
    /// its process group. Empty once stopped.
    pub fn processes(&self) -> Vec<u32> {
        let Some(group) = self.child.as_ref().map(Child::id) else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return vec![group];
        };
        let mut pids: Vec<u32> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| process_group(*pid) == Some(group))
            .collect();
        pids.sort_unstable();
        pids
    }

    /// The last `lines` lines of `spin up`'s own output and of every component log.
    pub fn log_tail(&self, lines: usize) -> String {
        let mut text = tail(&self.log, lines);
        if let Ok(entries) = std::fs::read_dir(self.state_dir.join("logs")) {
            let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                let t = tail(&f, lines);
                if !t.trim().is_empty() {
                    text.push_str(&format!("\n--- {} ---\n{t}", f.display()));
                }
            }
        }
        text
    }

    /// The lines of `spin up`'s output and of every component log that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> Vec<String> {
        let mut files = vec![self.log.clone()];
        if let Ok(entries) = std::fs::read_dir(self.state_dir.join("logs")) {
            files.extend(entries.flatten().map(|e| e.path()));
        }
        files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .flat_map(|text| {
                text.lines()
                    .filter(|l| l.contains(needle))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Stops `spin up` and its triggers now (also done on drop).
    pub fn stop(&mut self) {
        self.scheduler = None;
        if self.child.is_none() {
            return;
        }
        let pids = self.processes();
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal_group(&child, "-TERM");
        // The whole group gets its grace, not only `spin up`: the cron plugin can outlive
        // its parent by seconds (docs/runtime-facts.md R13).
        let deadline = Instant::now() + STOP_TIMEOUT;
        let _ = child.try_wait();
        while Instant::now() < deadline && pids.iter().any(|p| alive(*p)) {
            let _ = child.try_wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (a trigger that ignored TERM) is killed.
        end(child);
    }

    /// Kills `spin up` and its triggers at once (SIGKILL, no grace): a crashed host.
    pub fn kill(&mut self) {
        self.scheduler = None;
        if let Some(child) = self.child.take() {
            end(child);
        }
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()?;
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("{}/healthz", self.base_url);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                anyhow::bail!(
                    "spin up exited ({status}) before serving:\n{}",
                    self.log_tail(40)
                );
            }
            if let Ok(resp) = http.get(&url).send()
                && resp.status().as_u16() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                let tail = self.log_tail(40);
                self.stop();
                anyhow::bail!("spin up did not answer {url} in {START_TIMEOUT:?}:\n{tail}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RealSpin {
    fn drop(&mut self) {
        self.stop();
        if self.owns_state && !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.state_dir);
        }
    }
}

/// Sends `signal` to the child's whole process group (`spin up` and its triggers).
fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
}

/// The process group of `pid` (field 5 of `/proc/PID/stat`, after the command in parens).
fn process_group(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    after.split_whitespace().nth(2)?.parse().ok()
}

/// Whether `pid` is a live process (a zombie is not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, after) = stat.rsplit_once(')')?;
            after.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Every component of the manifest with an HTTP trigger: what a platform without a cron
/// trigger serves.
pub fn http_components(manifest: &Path) -> anyhow::Result<Vec<String>> {
    let m = spin_local_host::Manifest::load(manifest)?;
    let mut names: Vec<String> = m.http.iter().map(|t| t.component.clone()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// SIGKILL to the group, then reaps the child.
fn end(mut child: Child) {
    signal_group(&child, "-KILL");
    let _ = child.kill();
    let _ = child.wait();
}

/// A new empty directory under the system temp dir.
pub fn fresh_dir(prefix: &str) -> anyhow::Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
