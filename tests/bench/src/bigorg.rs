//! Orgs of many images for the listing rows: the image records, index slots and slot
//! counter written straight into the store, exactly as the app writes them
//! (`catalog::index`), so a page of an org of 10 images is compared with one of an org of
//! 10 000 without making 10 000 images (and running their operations) through the API.

use std::path::Path;

use catalog_model::catalog::Image;
use catalog_model::keys;
use catalog_model::vocab::{GpuType, ImageStatus, OsType, SourceType};
use serde_json::json;
use spin_local_kv::{BackendConfig, Faults, KvStore, StoreOptions};

/// Images in the large org of the listing rows (`--quick`: a tenth, to keep CI short).
pub fn large(quick: bool) -> usize {
    if quick { 1_000 } else { 10_000 }
}

/// The small org's size: one full page of `GET /images?size=10`.
pub const SMALL: usize = 10;

/// Spin's SQLite store of a `spin up --state-dir DIR` (the `default` label), opened beside
/// the running app (WAL: both may write).
pub fn spin_store(state_dir: &Path) -> anyhow::Result<std::sync::Arc<dyn KvStore>> {
    let path = state_dir.join("sqlite_key_value.db");
    anyhow::ensure!(path.exists(), "no store at {}", path.display());
    spin_local_kv::open(
        &BackendConfig::Sqlite { path },
        &StoreOptions::default(),
        &Faults::default(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Writes `n` AVAILABLE images of `org` and indexes them (slots `1..=n`, the counter at
/// `n`). The org must have no images yet.
pub fn seed_images(store: &dyn KvStore, org: &str, n: usize) -> anyhow::Result<()> {
    let err = |e: spin_local_kv::KvError| anyhow::anyhow!("{e}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let mut batch = Vec::new();
    for i in 0..n {
        let id = format!("img-seed{i:06}");
        let img = image(org, &id, i, now);
        let envelope =
            |v: serde_json::Value| serde_json::to_vec(&json!({"t": format!("seed-{i}"), "v": v}));
        batch.push((
            keys::image(org, &id),
            envelope(serde_json::to_value(&img)?)?,
        ));
        batch.push((keys::image_slot(org, i as i64 + 1), envelope(json!(id))?));
        if batch.len() >= 4_000 {
            store.set_many(&batch).map_err(err)?;
            batch.clear();
        }
    }
    store.set_many(&batch).map_err(err)?;
    // A counter is touched only through `increment` (R3): 8 bytes on SQLite.
    store
        .increment(&keys::image_count(org), i64::try_from(n)?)
        .map_err(err)?;
    Ok(())
}

fn image(org: &str, id: &str, i: usize, now: i64) -> Image {
    let at = catalog_model::time::Timestamp(now + i64::try_from(i).unwrap_or(0));
    Image {
        id: id.to_owned(),
        org_id: org.to_owned(),
        name: format!("seeded-{i:06}"),
        description: None,
        os: Some("Windows 11".into()),
        os_type: OsType::Windows,
        gpu_type: GpuType::None,
        multi_session: true,
        source_type: SourceType::AzureSig,
        source_stream_id: None,
        source_version_id: None,
        status: ImageStatus::Available,
        markers: vec![],
        version_count: 0,
        created_at: at,
        updated_at: at,
        version_ids: vec![],
        version_statuses: Default::default(),
        distributed_version_ids: vec![],
        tail_span: None,
        version_pages: vec![],
        paged_summary: Default::default(),
        tags: vec![],
        extra: Default::default(),
    }
}
