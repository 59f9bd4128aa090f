//! A TCP proxy that delays every chunk it forwards, in both directions: a store across a
//! network, for replicas on one machine. Each chunk read is written `delay` after it
//! arrived (order kept), so every request/answer round trip to the store costs about
//! `2 × delay` more, while many connections (and pipelined chunks) are delayed side by side.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A running proxy; stops accepting on drop (open connections end with their peers).
pub struct DelayProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl DelayProxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr, delay: Duration) -> anyhow::Result<DelayProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                pipe(client, server, delay);
                pipe(s2, c2, delay);
            }
        });
        Ok(DelayProxy { port, stop })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Forwards `from` to `to`, each chunk `delay` after it was read: a reader thread stamps
/// the chunks, a writer thread sends each at its time.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        for (at, chunk) in rx {
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

/// The mean round trip of a Redis `PING` to `addr` over one connection (`n` in a row).
pub fn ping_rtt(addr: SocketAddr, n: u32) -> anyhow::Result<Duration> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_nodelay(true)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 64];
    let start = Instant::now();
    for _ in 0..n.max(1) {
        conn.write_all(b"PING\r\n")?;
        let mut got = 0;
        while !buf[..got].ends_with(b"\r\n") {
            let r = conn.read(&mut buf[got..])?;
            anyhow::ensure!(r > 0, "redis closed the connection");
            got += r;
        }
        anyhow::ensure!(
            &buf[..got] == b"+PONG\r\n",
            "PING answered {:?}",
            &buf[..got]
        );
    }
    Ok(start.elapsed() / n.max(1))
}

/// Pings Redis at `addr` every 20 ms in the background, for the round trip the replicas
/// see while they work (a loaded machine wakes the proxy's threads late, so the delay it
/// adds grows with the load).
pub struct RttProbe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<(Duration, u32)>>,
}

impl RttProbe {
    pub fn start(addr: SocketAddr) -> RttProbe {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut sum, mut n) = (Duration::ZERO, 0u32);
            while !stopping.load(Ordering::SeqCst) {
                sum += ping_rtt(addr, 1)?;
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok((sum, n))
        });
        RttProbe { stop, handle }
    }

    /// The mean round trip since the start.
    pub fn finish(self) -> anyhow::Result<Duration> {
        self.stop.store(true, Ordering::SeqCst);
        let (sum, n) = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the probe panicked"))??;
        Ok(sum / n.max(1))
    }
}
