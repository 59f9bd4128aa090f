//! A small closed-loop HTTP/1.1 load generator, over keep-alive connections or with a
//! new connection per request (`Connection: close`).
//!
//! Each worker thread sends its next request as soon as the previous answer is complete.
//! Keep-alive is the path runtime fact R5 is about (a response head flushed before its
//! body makes the body wait for the client's delayed ACK); `Connection: close` shows what
//! a client that never reuses a connection sees (a fresh connection ACKs at once).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One request to repeat.
#[derive(Clone, Debug)]
pub struct Target {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Target {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: "GET",
            path: path.into(),
            headers: vec![],
            body: vec![],
        }
    }
}

#[derive(Clone, Debug)]
pub struct Report {
    pub requests: usize,
    pub errors: usize,
    pub non_2xx: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
}

impl Report {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    /// Prints the row's figures; a failed or non-2xx request fails the run.
    pub fn logged_clean(self, label: &str) -> anyhow::Result<Report> {
        eprintln!(
            "{label}: {:.0} req/s, p50 {:?}, p99 {:?}, errors {}, non-2xx {}",
            self.rps(),
            self.p50,
            self.p99,
            self.errors,
            self.non_2xx
        );
        anyhow::ensure!(
            self.errors == 0 && self.non_2xx == 0,
            "{label}: {} errors, {} non-2xx answers",
            self.errors,
            self.non_2xx
        );
        Ok(self)
    }
}

/// How a worker uses connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connections {
    /// One connection per worker, reused for every request.
    KeepAlive,
    /// A new connection per request, sent with `Connection: close`; the time includes
    /// the connect.
    Close,
}

/// Sends `per_worker` requests on each of `workers` keep-alive connections; `make`
/// builds the i-th request of a worker (so a benchmark can vary keys or bodies).
pub fn run(
    addr: SocketAddr,
    workers: usize,
    per_worker: usize,
    make: impl Fn(usize, usize) -> Target + Send + Sync,
) -> std::io::Result<Report> {
    run_with(addr, Connections::KeepAlive, workers, per_worker, make)
}

/// [`run`] with either way of using connections.
pub fn run_with(
    addr: SocketAddr,
    connections: Connections,
    workers: usize,
    per_worker: usize,
    make: impl Fn(usize, usize) -> Target + Send + Sync,
) -> std::io::Result<Report> {
    let start = Instant::now();
    let results: Vec<std::io::Result<(Vec<Duration>, usize, usize)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let make = &make;
                s.spawn(move || match connections {
                    Connections::KeepAlive => worker(addr, per_worker, |i| make(w, i)),
                    Connections::Close => close_worker(addr, per_worker, |i| make(w, i)),
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("worker panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let mut latencies = Vec::new();
    let (mut errors, mut non_2xx) = (0, 0);
    for r in results {
        let (l, e, n) = r?;
        latencies.extend(l);
        errors += e;
        non_2xx += n;
    }
    latencies.sort();
    let pct = |p: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    Ok(Report {
        requests: latencies.len(),
        errors,
        non_2xx,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
    })
}

fn worker(
    addr: SocketAddr,
    count: usize,
    make: impl Fn(usize) -> Target,
) -> std::io::Result<(Vec<Duration>, usize, usize)> {
    let mut conn = Conn::connect(addr)?;
    let mut latencies = Vec::with_capacity(count);
    let (mut errors, mut non_2xx) = (0, 0);
    for i in 0..count {
        let target = make(i);
        let t0 = Instant::now();
        match conn.send(&target) {
            Ok(status) => {
                latencies.push(t0.elapsed());
                if !(200..300).contains(&status) {
                    non_2xx += 1;
                }
            }
            Err(_) => {
                errors += 1;
                conn = Conn::connect(addr)?;
            }
        }
    }
    Ok((latencies, errors, non_2xx))
}

/// A worker of [`Connections::Close`]: connect, send, read the answer (timed), then wait
/// for the server to close, so the connection's TIME_WAIT stays on the server's side and
/// thousands of connections a second cannot run the client out of ports.
fn close_worker(
    addr: SocketAddr,
    count: usize,
    make: impl Fn(usize) -> Target,
) -> std::io::Result<(Vec<Duration>, usize, usize)> {
    let mut latencies = Vec::with_capacity(count);
    let (mut errors, mut non_2xx) = (0, 0);
    for i in 0..count {
        let target = make(i);
        let t0 = Instant::now();
        let answer = Conn::connect(addr).and_then(|mut conn| {
            conn.close = true;
            let status = conn.send(&target)?;
            let took = t0.elapsed();
            conn.wait_closed()?;
            Ok((status, took))
        });
        match answer {
            Ok((status, took)) => {
                latencies.push(took);
                if !(200..300).contains(&status) {
                    non_2xx += 1;
                }
            }
            Err(_) => errors += 1,
        }
    }
    Ok((latencies, errors, non_2xx))
}

/// One connection (keep-alive unless `close`).
pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    host: String,
    /// Ask the server to close after the answer (`Connection: close`).
    close: bool,
    /// The last answer's `Retry-After` in seconds, if it had one.
    pub retry_after_s: Option<u64>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr)?;
        // The client sends each request in one write; leaving Nagle on would only
        // delay the client, not measure the server.
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            reader: BufReader::new(stream.try_clone()?),
            writer: stream,
            host: addr.to_string(),
            close: false,
            retry_after_s: None,
        })
    }

    /// Sends one request and reads the whole answer; returns its status.
    pub fn send(&mut self, t: &Target) -> std::io::Result<u16> {
        let mut req = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            t.method,
            t.path,
            self.host,
            t.body.len()
        );
        for (k, v) in &t.headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if self.close {
            req.push_str("connection: close\r\n");
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(&t.body);
        self.writer.write_all(&bytes)?;
        self.read_response()
    }

    /// Reads until the server closes the connection; anything more than the answer, or
    /// no close within 5 s, is an error (the server ignored `Connection: close`).
    fn wait_closed(&mut self) -> std::io::Result<()> {
        self.reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        if rest.is_empty() {
            Ok(())
        } else {
            Err(std::io::Error::other("bytes after the answer"))
        }
    }

    fn read_response(&mut self) -> std::io::Result<u16> {
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length: Option<usize> = None;
        let mut chunked = false;
        self.retry_after_s = None;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "content-length" {
                    length = v.trim().parse().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                } else if k == "retry-after" {
                    self.retry_after_s = v.trim().parse().ok();
                }
            }
        }
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim(), 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
            }
        } else if let Some(n) = length {
            let mut body = vec![0; n];
            self.reader.read_exact(&mut body)?;
        }
        Ok(status)
    }
}
