//! Images of many versions, written straight into a store the way the app keeps them
//! (`catalog_model::catalog::pages`): older versions in sealed pages, the image record naming
//! each page with a summary of its statuses. The set-up of the tick rows and of the engine's
//! big-image runs; nothing else runs while it writes.

use catalog_model::catalog::pages::{PAGE, PageRef, Summary, VersionPage};
use catalog_model::keys;
use catalog_model::time::Timestamp;
use catalog_model::vocab::VersionStatus;
use serde_json::{Value, json};
use spin_local_kv::{KvError, KvStore};

fn err(e: KvError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Puts `ids` (settled `AVAILABLE` versions made at `made`, whose records are already
/// stored) into new pages of image `img` of `org`, as older than the versions it lists.
pub fn page_in(
    store: &dyn KvStore,
    org: &str,
    img: &str,
    ids: &[String],
    made: Timestamp,
) -> anyhow::Result<()> {
    let key = keys::image(org, img);
    let raw = store
        .get(&key)
        .map_err(err)?
        .ok_or_else(|| anyhow::anyhow!("{key} is gone"))?;
    let mut rec: Value = serde_json::from_slice(&raw)?;
    let v = &mut rec["v"];
    let mut refs: Vec<Value> = Vec::new();
    let mut older = Summary::default();
    for chunk in ids.chunks(PAGE) {
        let page_id = format!("{}-{img}", chunk[0]);
        let statuses = chunk
            .iter()
            .map(|id| (id.clone(), VersionStatus::Available))
            .collect();
        let page = VersionPage {
            ids: chunk.to_vec(),
            statuses,
        };
        older = older.then(&Summary::of(&page.ids, &page.statuses));
        let envelope = json!({"t": "bench", "v": page});
        let page_key = keys::version_page(org, img, &page_id);
        store
            .set(&page_key, &serde_json::to_vec(&envelope)?)
            .map_err(err)?;
        refs.push(serde_json::to_value(PageRef {
            id: page_id,
            count: u32::try_from(chunk.len())?,
            span: [made, made],
        })?);
    }
    refs.extend(v["versionPages"].as_array().cloned().unwrap_or_default());
    let paged: u64 = refs.iter().map(|r| r["count"].as_u64().unwrap_or(0)).sum();
    let tail = v["versionIds"].as_array().map_or(0, Vec::len) as u64;
    v["versionCount"] = json!(paged + tail);
    v["versionPages"] = Value::Array(refs);
    // The new pages are older than those the image had.
    let had: Summary = serde_json::from_value(v["pagedSummary"].take()).unwrap_or_default();
    v["pagedSummary"] = serde_json::to_value(older.then(&had))?;
    // A fresh write token: the app's next swap of the record must see it changed.
    rec["t"] = json!(format!("bench-paged-{}", ids.len()));
    store.set(&key, &serde_json::to_vec(&rec)?).map_err(err)?;
    Ok(())
}
