//! Scale-out on our host: three instances of the app's `spin.toml` on one real
//! `redis-server`, in spin-compat mode (the real runtime's Redis quirk R2: every swap
//! answers `cas-failed`), all running the advancer on one shared frozen time, with mixed
//! traffic through both doors and all three replicas. Afterwards nothing is lost,
//! duplicated or done twice. The scenarios are in `catalog_e2e::scenarios::replicas`.

use catalog_e2e::scenarios::replicas::{self, Cluster};

#[test]
fn three_replicas_on_one_redis_lose_and_repeat_nothing() {
    replicas::three_replicas_on_one_redis_lose_and_repeat_nothing(&Cluster::local());
}

/// Two replicas deleting the same version at once: one delete is accepted, the other is
/// refused (as a second delete is when sent after the first), and one delete operation runs.
#[test]
fn racing_deletes_of_one_version_start_one_operation() {
    replicas::racing_deletes_of_one_version_start_one_operation(&Cluster::local());
}
