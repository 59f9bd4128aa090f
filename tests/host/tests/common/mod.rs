//! Shared helpers: write a fixture manifest with the built guests' paths into a temp
//! dir, start the app, call the probe.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use spin_local_host::{App, AppOptions, test_guests};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Copies `fixtures/NAME` (with `@PROBE@`-style placeholders filled) to a temp dir.
pub fn fixture(name: &str) -> Fixture {
    let text = std::fs::read_to_string(fixtures().join(name)).expect("fixture");
    manifest_text(&text)
}

pub fn manifest_text(text: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = text
        .replace("@CRON_PROBE@", test_guests::CRON_PROBE)
        .replace("@PROBE@", test_guests::PROBE);
    let manifest = dir.path().join("spin.toml");
    std::fs::write(&manifest, text).expect("write manifest");
    Fixture { dir, manifest }
}

/// The default options for the probe app: token given, the second store label.
pub fn options(f: &Fixture) -> AppOptions {
    let mut o = AppOptions::new(&f.manifest);
    o.variables.insert("token".into(), "s3cret".into());
    o.runtime_config_file = Some(fixtures().join("runtime-config.toml"));
    o
}

pub fn start(f: &Fixture) -> App {
    App::start(options(f)).expect("app starts")
}

pub fn get(url: &str) -> (u16, Option<Value>) {
    let resp = reqwest::blocking::get(url).expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).ok())
}

/// Runs the probe ops (`"s.get,default,k"`, ...) at `path` and returns their results.
pub fn ops(app: &App, path: &str, ops: &[&str]) -> Vec<String> {
    let query: Vec<String> = ops.iter().map(|o| format!("op={o}")).collect();
    let (status, body) = get(&format!("{}{path}?{}", app.base_url(), query.join("&")));
    assert_eq!(status, 200, "{path} {ops:?}");
    body.expect("json")["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn header(body: &Value, name: &str) -> Option<String> {
    body["headers"].as_array()?.iter().find_map(|pair| {
        (pair[0].as_str()? == name).then(|| pair[1].as_str().unwrap_or_default().to_string())
    })
}
