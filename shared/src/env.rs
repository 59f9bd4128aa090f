//! The environment port: time, randomness and waiting, supplied by the component
//! (WASI wall clock and random) or by a test (`FakeEnv`, in `env/fake.rs`: time moves
//! without sleeping; compiled only for tests and with the `testing` feature).

#[cfg(any(test, feature = "testing"))]
mod fake;
#[cfg(any(test, feature = "testing"))]
pub use fake::FakeEnv;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Env {
    /// The wall-clock time (`wasi:clocks/wall-clock`; the local host lets tests move it).
    fn now_ms(&self) -> Millis;
    /// 64 random bits (`wasi:random`), for ids, tokens and write tokens.
    fn random_u64(&self) -> u64;
    /// Waits before a retry of a transient store error (a real pause in a component;
    /// a no-op that only records the wait in tests).
    fn pause_ms(&self, ms: u64);
}
