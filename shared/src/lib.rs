//! image-catalog's model crate: every rule of the catalog lives here, behind two ports
//! ([`store::KeyValue`] and [`env::Env`]) that components implement over Spin and tests
//! implement in memory. No spin-sdk.
//!
//! Map: [`vocab`] (wire enums), [`catalog`] (records, key layout, image status rules),
//! [`records`] (typed CAS discipline over the store, R1–R4), [`ops`] (operations and the step
//! table), [`settings`] (step, retry, due-index and tick timing), [`due`] (the time-bucketed
//! due index), [`advancer`] (the cron tick), [`sim`] (the provider trait and its
//! deterministic simulator), [`auth`] (tokens, AccessKeys), [`admin`] (the admin API),
//! [`time`] (ISO-8601 timestamps).

pub mod admin;
pub mod advancer;
pub mod api;
pub mod appstream;
pub mod auth;
pub mod catalog;
pub mod due;
pub mod env;
pub mod health;
pub mod imagemgmt;
pub mod keys;
pub mod ops;
pub mod records;
pub mod routing;
pub mod settings;
pub mod sim;
pub mod store;
pub mod time;
pub mod vocab;

#[cfg(test)]
pub(crate) mod testutil;
