//! Start-up errors a user sees: bad manifests, missing components.
mod common;
use common::*;
use spin_local_host::{App, AppOptions};

fn start_err(text: &str) -> String {
    let f = manifest_text(text);
    format!(
        "{:#}",
        App::start(AppOptions::new(&f.manifest)).unwrap_err()
    )
}

const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"t\"\n";

#[test]
fn missing_wasm_names_the_path_and_says_to_build() {
    let e = start_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"target/nope.wasm\"\n"
    ));
    assert!(e.contains("nope.wasm") && e.contains("build"), "{e}");
}

#[test]
fn unknown_trigger_key_and_toml_errors_name_the_file() {
    let e = start_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\nextra = 1\n[component.c]\nsource = \"@PROBE@\"\n"
    ));
    assert!(e.contains("spin.toml") && e.contains("extra"), "{e}");
    let e = start_err("spin_manifest_version = 2\n[application\n");
    assert!(e.contains("spin.toml"), "{e}");
}

#[test]
fn http_trigger_on_a_non_http_component_is_an_error() {
    let e = start_err(&format!(
        "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"@CRON_PROBE@\"\n"
    ));
    assert!(e.contains("incoming-handler"), "{e}");
}

#[test]
fn missing_manifest_is_an_error() {
    let e = App::start(AppOptions::new("/definitely/not/here/spin.toml")).unwrap_err();
    assert!(format!("{e:#}").contains("/definitely/not/here/spin.toml"));
}
