//! Issue 24 over HTTP on our host: revocation, refused bounds, doubled credentials. The
//! scenarios are in `catalog_e2e::scenarios::bounds` (the `real_spin` target runs them on
//! real Spin too).

use catalog_e2e::scenarios;
use catalog_e2e::scenarios::bounds::*;

scenarios!(
    revoked_credentials_are_refused_on_the_next_request,
    oversized_or_foreign_replicas_and_doubled_credentials_are_refused,
    a_deleted_org_is_refused_at_once_and_emptied_by_the_engine,
);
