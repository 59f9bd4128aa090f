//! The storage port: the key-value operations the model needs, as a trait.
//!
//! Components implement it over Spin's key-value API (`wasi:keyvalue` store, atomics,
//! batch); tests use `MemoryKv` (in `store/memory.rs`, compiled only for tests and with the
//! `testing` feature, never in a component). The trait is deliberately the intersection of
//! what Spin offers on every backend, so nothing here assumes more than the real runtime
//! gives (docs/runtime-facts.md).

#[cfg(any(test, feature = "testing"))]
mod memory;
#[cfg(any(test, feature = "testing"))]
pub use memory::MemoryKv;

/// A failure of the store itself (not of a compare-and-swap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Possibly passing (for example SQLite's "database is locked", R4): worth a retry.
    Transient(String),
    /// The component may not open the store, or the store does not exist.
    Unavailable(String),
    /// One stored record does not decode (the store itself works): a queue skips such a
    /// record rather than stopping on it forever.
    Corrupt(String),
}

impl StoreError {
    /// Every compare-and-swap round lost: a busy record, worth a retry like a busy store.
    pub fn contended() -> Self {
        StoreError::Transient("record contended".into())
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Transient(m) => write!(f, "store error (transient): {m}"),
            StoreError::Unavailable(m) => write!(f, "store unavailable: {m}"),
            StoreError::Corrupt(m) => write!(f, "unreadable record {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A `get-many` answer in the order asked. The answer names each key it answers: a backend
/// may leave absent keys out or answer in its own order, so a key it leaves out is absent
/// (and a key asked twice gets its value twice).
pub fn answer_in_order(
    keys: &[String],
    answer: Vec<(String, Option<Vec<u8>>)>,
) -> Vec<Option<Vec<u8>>> {
    let found: std::collections::HashMap<String, Option<Vec<u8>>> = answer.into_iter().collect();
    keys.iter()
        .map(|k| found.get(k).cloned().flatten())
        .collect()
}

#[cfg(test)]
mod answer_tests {
    use super::answer_in_order;

    #[test]
    fn a_batch_answer_comes_back_in_the_order_asked_with_absent_keys_as_none() {
        let keys: Vec<String> = ["b", "missing", "a", "b"].map(String::from).to_vec();
        let answer = vec![
            ("a".to_owned(), Some(b"1".to_vec())),
            ("b".to_owned(), Some(b"2".to_vec())),
            ("gone".to_owned(), None),
        ];
        assert_eq!(
            answer_in_order(&keys, answer),
            vec![
                Some(b"2".to_vec()),
                None,
                Some(b"1".to_vec()),
                Some(b"2".to_vec())
            ]
        );
    }
}

/// Reads a counter with `get` (an absent one is 0): a read is never a write. Counters are
/// written only through `increment` (R3), which stores 8 little-endian bytes on SQLite and
/// decimal text on Redis and DynamoDB (R3, R12); `get` returns either as stored. Reading with
/// `increment(key, 0)` instead costs a write on every backend (on DynamoDB a read and a
/// conditional write, R12) and creates the key.
pub fn read_counter(kv: &dyn KeyValue, key: &str) -> Result<i64, StoreError> {
    counter_value(key, kv.get(key)?.as_deref())
}

/// The value of counter `key` from what a read found: an absent counter is 0; bytes that
/// are no counter are [`StoreError::Corrupt`].
pub fn counter_value(key: &str, stored: Option<&[u8]>) -> Result<i64, StoreError> {
    stored
        .map_or(Ok(0), decode_counter)
        .map_err(|what| StoreError::Corrupt(format!("counter {key}: {what}")))
}

/// A counter's stored bytes as its value: decimal text (Redis, DynamoDB), or 8 little-endian
/// bytes (SQLite). Eight bytes that are all decimal digits are read as text: as a
/// little-endian number they would exceed 3.4 · 10^18, a count no store here reaches.
pub fn decode_counter(bytes: &[u8]) -> Result<i64, String> {
    let text = std::str::from_utf8(bytes).ok().filter(|t| {
        let digits = t.strip_prefix('-').unwrap_or(t);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    });
    if let Some(t) = text {
        return t.parse().map_err(|e| format!("{e}"));
    }
    match <[u8; 8]>::try_from(bytes) {
        Ok(le) => Ok(i64::from_le_bytes(le)),
        Err(_) => Err(format!("{} bytes that are no counter", bytes.len())),
    }
}

#[cfg(test)]
mod counter_tests {
    use super::decode_counter;

    #[test]
    fn a_counter_reads_in_every_backend_s_format() {
        for n in [0i64, 1, 7, 48, 255, 256, 1_000_000, -4, i64::MAX] {
            assert_eq!(decode_counter(&n.to_le_bytes()), Ok(n), "LE {n}");
            assert_eq!(decode_counter(n.to_string().as_bytes()), Ok(n), "text {n}");
        }
        // Eight digits are text, not eight little-endian bytes.
        assert_eq!(decode_counter(b"12345678"), Ok(12_345_678));
        assert_eq!(decode_counter(b"-1234567"), Ok(-1_234_567));
    }

    #[test]
    fn bytes_that_are_no_counter_are_refused() {
        for bad in [&b""[..], b"-", b"12a", b"{\"t\":1}", &[1, 2, 3], &[0; 9]] {
            assert!(decode_counter(bad).is_err(), "{bad:?}");
        }
    }
}

/// Whether a store error is an `increment` that lost a race and wrote nothing. Spin's
/// DynamoDB backend (docs/runtime-facts.md R12) increments by reading the counter and
/// writing it back under the condition that it is unchanged; when another increment landed
/// in between, the write is refused and the guest gets an error naming DynamoDB's
/// `ConditionalCheckFailed`. Nothing was written, so that one failure is safe to retry
/// (unlike any other failed increment, which may have landed).
pub fn lost_increment_race(e: &StoreError) -> bool {
    matches!(e, StoreError::Transient(m) if m.contains("ConditionalCheckFailed"))
}

/// Rounds of an `increment` that keeps losing races ([`lost_increment_race`]) before its
/// error is reported (and treated as any transient error: a retried request or tick). As many
/// as a compare-and-swap gets (`records::CAS_ROUNDS`): 50 Add Versions racing on one image's
/// counter on DynamoDB all land within them.
pub const INCREMENT_ROUNDS: u32 = 24;

/// The pause before round `round + 1` of a write that lost a race (an `increment` on
/// DynamoDB, R12, or any compare-and-swap), from the time the last attempt took
/// (`attempt_ms`) and 64 random bits: uniform in 1 ..= attempt · 2^round (the exponent
/// capped at 5, the pause at [`MAX_RACE_PAUSE_MS`]). Scaled by the attempt's own time
/// because a race is lost within one read-and-write of the store: on a slow store (a
/// DynamoDB across a network, or moto on a busy machine) fixed pauses of a few milliseconds
/// keep the racers in step.
pub fn race_pause_ms(round: u32, attempt_ms: u64, random: u64) -> u64 {
    let span = attempt_ms
        .max(1)
        .saturating_mul(1 << round.min(5))
        .min(MAX_RACE_PAUSE_MS);
    1 + random % span
}

/// The longest pause between two rounds of a contended write: with [`INCREMENT_ROUNDS`] or
/// `records::CAS_ROUNDS` rounds it bounds the time one contended write can take.
pub const MAX_RACE_PAUSE_MS: u64 = 1_000;

/// Runs `increment` until it does not lose a race, at most [`INCREMENT_ROUNDS`] times,
/// with `pause(round)` between rounds (a short, growing pause spreads racing callers).
pub fn increment_racing(
    mut increment: impl FnMut() -> Result<i64, StoreError>,
    mut pause: impl FnMut(u32),
) -> Result<i64, StoreError> {
    let mut round = 1;
    loop {
        match increment() {
            Err(e) if lost_increment_race(&e) && round < INCREMENT_ROUNDS => {
                pause(round);
                round += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod increment_tests {
    use super::*;

    fn lost() -> StoreError {
        StoreError::Transient(
            "TransactionCanceledException { message: Some(\"Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed]\") }".into(),
        )
    }

    #[test]
    fn only_a_lost_condition_is_a_lost_race() {
        assert!(lost_increment_race(&lost()));
        assert!(!lost_increment_race(&StoreError::Transient(
            "database is locked".into()
        )));
        assert!(!lost_increment_race(&StoreError::Unavailable(
            "ConditionalCheckFailed".into()
        )));
    }

    #[test]
    fn a_lost_race_is_run_again_and_any_other_error_is_not() {
        let mut calls = 0;
        let mut pauses = vec![];
        let r = increment_racing(
            || {
                calls += 1;
                if calls < 3 {
                    Err(lost())
                } else {
                    Ok(41 + calls)
                }
            },
            |round| pauses.push(round),
        );
        assert_eq!(r, Ok(44));
        assert_eq!(pauses, vec![1, 2]);
        let mut calls = 0;
        let r = increment_racing(
            || {
                calls += 1;
                Err(StoreError::Transient("database is locked".into()))
            },
            |_| {},
        );
        assert!(r.is_err());
        assert_eq!(
            calls, 1,
            "an increment that may have landed is never repeated"
        );
    }

    #[test]
    fn the_pause_grows_with_the_round_and_the_store_s_own_time() {
        for random in [0, 1, 7, 1_000_003, u64::MAX] {
            for round in 1..INCREMENT_ROUNDS {
                let p = race_pause_ms(round, 20, random);
                assert!((1..=20 << round.min(5)).contains(&p), "{round}: {p}");
                assert!(race_pause_ms(round, 5_000, random) <= MAX_RACE_PAUSE_MS);
                assert!(race_pause_ms(round, 0, random) <= 1 << round.min(5));
            }
        }
        // Spread: the pauses of racers with different random bits differ.
        let pauses: std::collections::BTreeSet<u64> =
            (0..50u64).map(|r| race_pause_ms(3, 20, r * 7919)).collect();
        assert!(pauses.len() > 20, "{pauses:?}");
    }

    #[test]
    fn a_race_lost_every_round_is_reported_after_the_last_round() {
        let mut calls = 0;
        let r = increment_racing(
            || {
                calls += 1;
                Err(lost())
            },
            |_| {},
        );
        assert!(lost_increment_race(&r.unwrap_err()));
        assert_eq!(calls, INCREMENT_ROUNDS);
    }
}

/// What a compare-and-swap reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The store says the new value was written.
    Swapped,
    /// The stored value was not the expected one: nothing was written.
    Conflict,
    /// The store answered `cas-failed` after a swap that may have landed (Spin's Redis
    /// backend does this for every swap, R2). The caller reads the key back to learn.
    Unknown,
}

/// What [`KeyValue::read_and_swap`] makes of the bytes it read: the bytes to swap in, or
/// `None` to write nothing.
pub type NextBytes<'a> = dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + 'a;

/// What [`KeyValue::read_and_swap`] read, and the result of its swap if it asked for one.
#[derive(Debug)]
pub struct ReadSwap {
    pub read: Option<Vec<u8>>,
    pub swap: Option<Result<CasOutcome, StoreError>>,
}

impl ReadSwap {
    /// The rest of a [`KeyValue::read_and_swap`] once `read` is read: what `f` makes of it,
    /// swapped in by `swap(read, new)`. Nothing is swapped from an absent value (records
    /// are not created by a swap, R1): that is a [`CasOutcome::Conflict`].
    pub fn after(
        read: Option<Vec<u8>>,
        f: &mut NextBytes<'_>,
        swap: impl FnOnce(&[u8], &[u8]) -> Result<CasOutcome, StoreError>,
    ) -> ReadSwap {
        let swap = match (&read, f(read.as_deref())) {
            (Some(current), Some(new)) => Some(swap(current, &new)),
            (None, Some(_)) => Some(Ok(CasOutcome::Conflict)),
            (_, None) => None,
        };
        ReadSwap { read, swap }
    }
}

/// The key-value operations the model relies on.
///
/// The compare-and-swap contract an implementation must keep:
/// - [`KeyValue::compare_and_swap`] writes `new` only if the key exists and holds exactly
///   the bytes `expected` (the caller passes the bytes it read); an absent key is never
///   "expected": that is a [`CasOutcome::Conflict`], and nothing is written;
/// - [`CasOutcome::Swapped`] means the write landed and [`CasOutcome::Conflict`] that it did
///   not; when the store cannot say (Spin's Redis backend answers `cas-failed` for every
///   swap, R2) the answer is [`CasOutcome::Unknown`], never `Conflict`, and so may be a
///   write that landed;
/// - a [`StoreError::Transient`] from a write may also come after the write landed (R4).
///
/// The model settles `Unknown` and transient failures by reading the key back: every
/// record carries a fresh write token, so the read tells whether *its* write landed
/// ([`crate::records::Store::update`]). On top of this trait it also follows runtime facts
/// R1 and R3:
/// - records are never created with [`KeyValue::compare_and_swap`] (a swap from an absent
///   value is blind on Spin's SQLite backend); creation is elected with
///   [`KeyValue::increment`] or hangs under a parent record that already exists;
/// - counters live under their own keys and are only touched through `increment`.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Atomically adds `delta` and returns the new value (`delta = 0` reads a counter).
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StoreError>;
    /// Writes `new` only if the stored value is exactly `expected`.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<CasOutcome, StoreError>;
    /// A compare-and-swap that reads the value itself: `f` sees the stored bytes (`None`:
    /// absent, which is never swapped: records are not created by a swap, R1) and answers
    /// the bytes to write, or `None` to write nothing. Where the runtime's compare-and-swap
    /// reads the value anyway (`current()` on Spin), this is one call less than
    /// [`KeyValue::get`] and then [`KeyValue::compare_and_swap`], which is the default.
    /// `Err`: the read failed and nothing was written; the swap's own result (which may
    /// have landed on `Unknown` or a transient failure) is [`ReadSwap::swap`].
    fn read_and_swap(&self, key: &str, f: &mut NextBytes<'_>) -> Result<ReadSwap, StoreError> {
        let read = self.get(key)?;
        Ok(ReadSwap::after(read, f, |current, new| {
            self.compare_and_swap(key, current, new)
        }))
    }
    /// Whether [`KeyValue::get_many`] reads many keys in one call of the runtime; `false`
    /// where it reads them one `get` each (Spin's Redis, R8). A caller that saves writes by
    /// reading more keys in one batch only gains when it does.
    fn batch_reads(&self) -> bool {
        true
    }
    /// Reads many keys at once (`wasi:keyvalue/batch`); absent keys are `None`, in order.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(k)).collect()
    }
    /// Writes many keys in one call (`wasi:keyvalue/batch.set-many`, which works on every
    /// backend, R8). Not atomic on every backend: the model treats it as these `set`s in any
    /// order, of which a failure (or a crash) may leave any subset written.
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), StoreError> {
        entries.iter().try_for_each(|(k, v)| self.set(k, v))
    }
    /// Deletes many keys in one call (`wasi:keyvalue/batch.delete-many`, which works on
    /// every backend, R8; DynamoDB refuses a key twice, R12). Not atomic: a failure may
    /// leave any subset deleted.
    fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
}
