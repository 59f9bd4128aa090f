//! Guest stdout/stderr, one line at a time, prefixed with `[component-id]` like Spin;
//! every line (and the host's own error lines) is also kept for tests.
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Where log lines go.
#[derive(Clone, Default)]
pub struct Logs {
    lines: Arc<Mutex<Vec<String>>>,
    /// Don't echo to the process's stdout/stderr (tests that want a quiet run).
    quiet: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Logs {
    pub fn new(quiet: bool) -> Logs {
        Logs {
            lines: Arc::default(),
            quiet,
        }
    }

    /// Every line logged so far, as printed (`[component] text`).
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn line(&self, stream: Stream, line: String) {
        if !self.quiet {
            // Whole lines in one write, so concurrent guests don't interleave.
            let _ = match stream {
                Stream::Stdout => std::io::stdout()
                    .lock()
                    .write_all(format!("{line}\n").as_bytes()),
                Stream::Stderr => std::io::stderr()
                    .lock()
                    .write_all(format!("{line}\n").as_bytes()),
            };
        }
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// A host error about a component (stderr).
    pub(crate) fn error(&self, component: &str, message: &str) {
        self.line(Stream::Stderr, format!("[{component}] error: {message}"));
    }

    pub(crate) fn guest_stream(&self, component: &str, stream: Stream) -> GuestOutput {
        GuestOutput {
            logs: self.clone(),
            prefix: format!("[{component}] "),
            stream,
        }
    }
}

/// A WASI stdout/stderr for one component.
pub(crate) struct GuestOutput {
    logs: Logs,
    prefix: String,
    stream: Stream,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            logs: self.logs.clone(),
            prefix: self.prefix.clone(),
            stream: self.stream,
            pending: Vec::new(),
        })
    }
}

struct LineWriter {
    logs: Logs,
    prefix: String,
    stream: Stream,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        self.logs.line(
            self.stream,
            format!("{}{}", self.prefix, text.trim_end_matches('\r')),
        );
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        // A last line without a newline is still printed when the instance ends.
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.emit(&rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_are_prefixed_and_split() {
        let logs = Logs::new(true);
        {
            let mut w = Pin::from(logs.guest_stream("comp", Stream::Stdout).async_stream());
            w.write_all(b"one\ntw").await.unwrap();
            w.write_all(b"o\nthree").await.unwrap();
        }
        assert_eq!(
            logs.lines(),
            vec!["[comp] one", "[comp] two", "[comp] three"]
        );
    }
}
