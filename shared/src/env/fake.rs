//! [`FakeEnv`], the deterministic test double of the environment port (tests and the
//! `testing` feature only; components never compile it).

use super::{Env, Millis};

/// A deterministic environment for unit tests: time moves only when told to.
#[derive(Debug)]
pub struct FakeEnv {
    now: std::cell::Cell<Millis>,
    seed: std::cell::Cell<u64>,
    paused: std::cell::Cell<u64>,
}

impl FakeEnv {
    pub fn at(now_ms: Millis) -> Self {
        Self {
            now: std::cell::Cell::new(now_ms),
            seed: std::cell::Cell::new(0x9E37_79B9_7F4A_7C15),
            paused: std::cell::Cell::new(0),
        }
    }

    /// [`FakeEnv::at`] with its random numbers drawn from `seed` (tests that sample).
    pub fn seeded(now_ms: Millis, seed: u64) -> Self {
        let env = Self::at(now_ms);
        env.seed.set(seed);
        env
    }

    pub fn advance_ms(&self, ms: Millis) {
        self.now.set(self.now.get() + ms);
    }

    /// Total milliseconds the code under test asked to pause.
    pub fn paused_ms(&self) -> u64 {
        self.paused.get()
    }
}

impl Env for FakeEnv {
    fn now_ms(&self) -> Millis {
        self.now.get()
    }

    fn random_u64(&self) -> u64 {
        // splitmix64: deterministic, well spread, good enough for test ids.
        let mut z = self.seed.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        self.seed.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pause_ms(&self, ms: u64) {
        self.paused.set(self.paused.get() + ms);
    }
}
