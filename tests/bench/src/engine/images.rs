//! **Big images** (issue 12, item 4): one replica working a backlog of Add Versions onto
//! images of 1 version, then onto images of 1 000 (999 of them in sealed pages, written
//! straight into the store the way the app keeps them: `crate::pages`), in turns, on one
//! Redis. Each transition refreshes its image, so it is here that a record growing with the
//! image's versions would show.

use std::path::Path;
use std::time::SystemTime;

use catalog_model::time::Timestamp;
use spin_local_kv::testing::RedisServer;

use super::replicas::{Driver, Replica, Runtime, engine_counts};
use super::seeder::Seeder;
use super::{Run, count_until, measure, ratio_text, replica_variables};

/// Images of each size.
const IMAGES: usize = 100;
/// Versions an image of each kind has when its backlog is written.
pub const SIZES: [usize; 2] = [1, 1000];

/// `rounds` turns of a backlog of `n` on each size; (versions an image, the run) in order.
pub fn run(
    runtime: Runtime,
    manifest: &Path,
    dir: &Path,
    orgs: &[String],
    n: usize,
    rounds: usize,
) -> anyhow::Result<Vec<(usize, Run)>> {
    let redis = RedisServer::try_start().map_err(|e| anyhow::anyhow!("{e}"))?;
    let rdir = dir.join(format!("{runtime:?}-images"));
    let rep = Replica::start(
        runtime,
        manifest,
        &redis.url,
        &replica_variables(),
        &rdir,
        Driver::Cron,
    )?;
    let reps = std::slice::from_ref(&rep);
    let seeder = Seeder::start(&redis.url, manifest, orgs)?;
    let http = reqwest::blocking::Client::new();
    let (seed_base, rep_base) = (seeder.app.base_url(), rep.base_url());
    let (start, _) = engine_counts(&http, &rep_base)?;
    let mut sets = Vec::new();
    for (k, versions) in SIZES.iter().enumerate() {
        let mut images = Vec::new();
        for i in 0..IMAGES {
            let t = i % seeder.tokens.len();
            let name = format!("big{k}-{i}");
            let (img, _, _) = crate::sig_image(&http, &seed_base, &seeder.tokens[t], &name)?;
            images.push((t, img));
        }
        sets.push((*versions, images));
    }
    // Each image's first operation makes its one transition before any run (the replica's
    // steps take an hour after that), so no run counts them.
    let made = i64::try_from(IMAGES * SIZES.len())?;
    count_until(&http, &rep_base, start, made, SystemTime::now(), None, reps)?;
    let store = seeder.app.store("default")?;
    for (versions, images) in &sets {
        for (t, img) in images {
            let older: Vec<String> = (1..*versions)
                .map(|n| format!("ver-old{n}-{img}"))
                .collect();
            if !older.is_empty() {
                crate::pages::page_in(store.as_ref(), &orgs[*t], img, &older, Timestamp(0))?;
            }
        }
    }
    let mut seed_per_s = 150.0;
    let mut runs = Vec::new();
    for _ in 0..rounds {
        for (versions, images) in &sets {
            *seeder.onto.borrow_mut() = Some(images.clone());
            let run = measure(
                ([127, 0, 0, 1], redis.port).into(),
                reps,
                &seeder,
                n,
                &mut seed_per_s,
            )
            .map_err(|e| e.context(format!("{n} Add Versions on images of {versions}")))?;
            eprintln!("  images of {versions} versions: {}", super::describe(&run));
            runs.push((*versions, run));
        }
    }
    seeder.app.shutdown();
    Ok(runs)
}

/// The table of one runtime's runs: each with its rate against the 1-version run before it.
pub fn render(runtime: Runtime, runs: &[(usize, Run)]) -> String {
    let mut s = format!(
        "### Transitions on images of many versions: {}, one replica, one Redis\n\n| versions an image | Add Versions | transitions/s | vs 1 version (same round) | failed ticks |\n|---:|---:|---:|---:|---:|\n",
        runtime.name()
    );
    let mut one = None;
    let mut ratios = Vec::new();
    for (versions, r) in runs {
        if *versions == SIZES[0] {
            one = r.rate;
        }
        let ratio = r.ratio(one);
        if *versions != SIZES[0] {
            ratios.extend(ratio);
        }
        s.push_str(&format!(
            "| {versions} | {} | {} | {} | {} |\n",
            r.ops,
            r.rate_text(),
            ratio_text(ratio),
            r.errors
        ));
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(mid) = ratios.get(ratios.len() / 2) {
        s.push_str(&format!(
            "\nMedian over the rounds: images of {} versions advance at {mid:.2}x the rate of images of 1.\n",
            SIZES[1]
        ));
    }
    s.push('\n');
    s
}
