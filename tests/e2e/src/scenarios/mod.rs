//! The end-to-end scenarios, each written once for both targets (our host and real Spin,
//! see [`crate::Target`]). The test files of `tests/` run them on our host; the
//! `real_spin` test target runs those that need neither a moved clock nor fault injection
//! on real `spin up`.

pub mod bounds;
pub mod console;
pub mod hostile;
pub mod imagemgmt;
pub mod leases;
pub mod lifetimes;
pub mod platform;
pub mod ratelimit;
pub mod replicas;
pub mod signatures;
