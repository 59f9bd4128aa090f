//! The imagemgmt REST door through the local host: Add Version and the background work
//! behind it, as a client sees them (statuses move only when the advancer ticks). The
//! scenarios are in `catalog_e2e::scenarios::imagemgmt` (the `real_spin` target runs them
//! on real Spin too).

use catalog_e2e::scenarios;
use catalog_e2e::scenarios::imagemgmt::*;

scenarios!(
    sig_copy_reaches_available,
    custom_vm_import_then_publish,
    publish_with_a_failing_replica_is_partially_available,
    version_numbering_major_and_minor,
    retry_then_success,
    retries_exhausted_fail_the_version,
    a_stalled_step_times_out,
    deleting_the_last_version_removes_the_image,
    concurrent_add_version_gives_distinct_numbers,
    idempotency_key_replays_the_first_answer,
    errors_are_precise_problems,
    orgs_are_isolated,
    msp_partner_image_data_is_copied,
    shared_images_are_read_only_for_every_org,
    conditional_requests_and_head_follow_rfc_9110,
);
