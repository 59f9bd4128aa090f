//! image-catalog's model crate: every rule of the catalog lives here, behind two ports
//! ([`store::KeyValue`] and [`env::Env`]) that components implement over Spin and tests
//! implement in memory. No spin-sdk.
//!
//! Layers, each using only the ones above it:
//! - foundations: [`vocab`] (wire enums), [`time`], [`env`], [`store`] (the key-value port
//!   and its compare-and-swap contract), [`records`] (the storage handle [`records::Store`]:
//!   typed records with the write discipline of runtime facts R1–R4), [`keys`] (every key),
//!   [`settings`], [`api`] (requests, responses, the one problem+json shape), [`routing`]
//!   (declared route tables), [`conditional`] (RFC 9110 preconditions and `HEAD`);
//! - the engine: [`due`] (the time-bucketed due index), [`ops`] (operations and their step
//!   table), [`sim`] (the provider simulator), [`advancer`] (the cron tick);
//! - the catalog: [`catalog`] (records, status rules, listings, and the writes both doors
//!   share), [`auth`] (tokens, AccessKeys), [`secrets`] (AccessKey secrets sealed at rest),
//!   [`health`] (the heartbeat);
//! - the doors, each with one error type mapped to an answer once: [`imagemgmt`] (REST),
//!   [`appstream`] (RPC), [`admin`].
//!
//! Tests sit beside what they test, in a `tests.rs` (or `tests/`) next to the module. The
//! test doubles (`store::MemoryKv`, `env::FakeEnv`, the client signer) exist under
//! `cfg(test)` or the `testing` feature only.

pub mod admin;
pub mod advancer;
pub mod api;
pub mod appstream;
pub mod auth;
pub mod catalog;
pub mod conditional;
pub mod console;
pub mod due;
pub mod env;
pub mod health;
pub mod imagemgmt;
pub mod keys;
pub mod ops;
pub mod ratelimit;
pub mod records;
pub mod routing;
pub mod secrets;
pub mod settings;
pub mod sim;
pub mod store;
pub mod time;
pub mod vocab;

#[cfg(test)]
pub(crate) mod testutil;
