//! **Driven over HTTP** (issue 23, item 9): one replica's transitions a second when its
//! engine is driven by `POST /admin/v1/engine/tick` (no cron trigger, as on SpinKube or an
//! edge platform; [`Driver::Http`]: two callers of single ticks in a tight loop, as the
//! cron's two triggers) against the same replica driven by its cron, in turns, each on a
//! fresh Redis with the same backlog ([`super::throughput`]'s method, one replica).

use std::path::Path;

use super::replicas::{Driver, Runtime};
use super::{Run, ratio_text, throughput};

/// One round: the cron run and the HTTP-driven run, with the same backlog.
pub struct Round {
    pub cron: Run,
    pub http: Run,
}

pub fn run(
    runtime: Runtime,
    manifest: &Path,
    dir: &Path,
    orgs: &[String],
    n: usize,
    rounds: usize,
) -> anyhow::Result<Vec<Round>> {
    let mut out = Vec::new();
    for round in 0..rounds {
        let one = |driver: Driver| -> anyhow::Result<Run> {
            let sub = dir.join(format!("driven-{round}-{driver:?}"));
            let mut runs = throughput(runtime, None, 1, n, manifest, &sub, orgs, driver)?;
            runs.pop()
                .ok_or_else(|| anyhow::anyhow!("no run with {driver:?}"))
        };
        let cron = one(Driver::Cron)?;
        let http = one(Driver::Http)?;
        eprintln!(
            "  round {round}: cron {}, HTTP tick {}",
            cron.rate_text(),
            http.rate_text()
        );
        out.push(Round { cron, http });
    }
    Ok(out)
}

pub fn render(runtime: Runtime, rounds: &[Round]) -> String {
    let mut out = format!(
        "### Driven by the HTTP tick against the cron: {}, one replica, one Redis\n\n| round | driven by | operations | transitions/s | vs cron (same round) | failed ticks |\n|---:|---|---:|---:|---:|---:|\n",
        runtime.name()
    );
    let mut ratios = Vec::new();
    for (i, r) in rounds.iter().enumerate() {
        let ratio = r.http.ratio(r.cron.rate);
        ratios.extend(ratio);
        for (name, run, vs) in [
            ("cron (2 triggers)", &r.cron, Some(1.0)),
            ("HTTP tick (2 callers)", &r.http, ratio),
        ] {
            out.push_str(&format!(
                "| {} | {name} | {} | {} | {} | {} |\n",
                i + 1,
                run.ops,
                run.rate_text(),
                ratio_text(vs.filter(|_| run.rate.is_some())),
                run.errors
            ));
        }
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(m) = ratios.get(ratios.len() / 2) {
        out.push_str(&format!(
            "\nMedian over the rounds: driven over HTTP, the engine runs at {m:.2}x its rate under the cron.\n"
        ));
    }
    out.push('\n');
    out
}
