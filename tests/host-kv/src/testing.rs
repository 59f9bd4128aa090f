//! Test fixtures shared with the host crate: a throwaway `redis-server`.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::KvError;

/// How long a fresh server may take to answer PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);
const ATTEMPTS: usize = 3;

/// A private `redis-server` on a free loopback port, without persistence; killed on drop.
#[derive(Debug)]
pub struct RedisServer {
    /// `redis://127.0.0.1:PORT`, ready for `BackendConfig::Redis`.
    pub url: String,
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// Starts a server, panicking with a message saying what to install when
    /// `redis-server` is missing: Redis tests must fail, not be skipped.
    pub fn start() -> RedisServer {
        match Self::try_start() {
            Ok(server) => server,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts a server and waits until it answers PING.
    pub fn try_start() -> Result<RedisServer, KvError> {
        let mut last = KvError("redis-server did not start".into());
        // The free port is found by binding and releasing it, so another process may
        // take it in between: retry on a fresh port.
        for _ in 0..ATTEMPTS {
            match Self::start_once("redis-server") {
                Ok(server) => return Ok(server),
                Err(e) if e.0.contains("apt-get install") => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_once(program: &str) -> Result<RedisServer, KvError> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| KvError(format!("no free loopback port: {e}")))?
            .port();
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                KvError(format!(
                    "cannot run {program} ({e}); the Redis tests need it: \
                     apt-get install -y redis-server"
                ))
            })?;
        let mut server = RedisServer {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            child,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), KvError> {
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| KvError(format!("redis url {}: {e}", self.url)))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(KvError(format!(
                    "redis-server on port {} exited at start: {status}",
                    self.port
                )));
            }
            let pong = client
                .get_connection_with_timeout(Duration::from_millis(200))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if matches!(pong.as_deref(), Ok("PONG")) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(KvError(format!(
                    "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
                    self.port
                )));
            }
            // Polling a starting process: there is no readiness event to wait on.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_server_says_what_to_install() {
        let e = RedisServer::start_once("redis-server-not-installed-here").unwrap_err();
        assert!(e.0.contains("apt-get install -y redis-server"), "{e}");
    }

    #[test]
    fn a_started_server_answers_and_dies_on_drop() {
        let server = RedisServer::start();
        let client = redis::Client::open(server.url.as_str()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let pong: String = redis::cmd("PING").query(&mut conn).unwrap();
        assert_eq!(pong, "PONG");
        drop(conn);
        drop(server);
        assert!(client.get_connection().is_err());
    }
}
