//! A local DynamoDB for the real runtime's `aws_dynamo` store: moto's server
//! (`tests/dynamo/moto.py`, from the venv `./dev test` makes at `target/dynamo-venv`),
//! started in a process group of its own on a free loopback port with an empty table, and
//! stopped on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One moto server; its table is empty at start.
pub struct MotoServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_DYNAMODB`.
    pub endpoint: String,
}

/// The table `tests/dynamo/moto.py` creates (string partition key `PK`).
pub const TABLE: &str = "image-catalog";

impl MotoServer {
    pub fn start() -> MotoServer {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = root.join("target/dynamo-venv/bin/python");
        assert!(
            python.exists(),
            "no moto venv at target/dynamo-venv: ./dev test makes it (tests/dynamo/requirements.txt)"
        );
        let mut cmd = Command::new(python);
        cmd.arg(root.join("tests/dynamo/moto.py"))
            .args(["--table", TABLE])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().expect("starting tests/dynamo/moto.py");
        let stdout = child.stdout.take().expect("moto's stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("AWS_ENDPOINT_URL_DYNAMODB=") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let endpoint = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| {
                let _ = child.kill();
                panic!("moto did not announce its endpoint within 60 s")
            });
        MotoServer { child, endpoint }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
