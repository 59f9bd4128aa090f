//! Variables: defaults, environment, .env, overrides, required, secret, templates.
mod common;
use common::*;
use spin_local_host::App;

#[test]
fn defaults_templates_and_overrides() {
    let f = fixture("probe.toml");
    let app = start(&f);
    let r = ops(
        &app,
        "/",
        &[
            "var,greeting",
            "var,token",
            "var,combined",
            "var,literal",
            "var,nope",
            "var,Bad-Name",
        ],
    );
    assert_eq!(
        r[..4],
        ["ok:hello", "ok:s3cret", "ok:hello-normal", "ok:plain"]
    );
    assert!(r[4].starts_with("err:Error::Undefined"), "{r:?}");
    assert!(r[5].starts_with("err:Error::InvalidName"), "{r:?}");
}

#[test]
fn spin_variable_env_and_dotenv_override_defaults() {
    let f = fixture("probe.toml");
    std::fs::write(
        f.dir.path().join(".env"),
        "SPIN_VARIABLE_MODE=from-dotenv\nSPIN_VARIABLE_TOKEN=dot\ngreeting=ignored\n",
    )
    .unwrap();
    let mut o = options(&f);
    o.variables.clear();
    o.process_env = Some([("SPIN_VARIABLE_GREETING".to_string(), "hi".to_string())].into());
    let app = App::start(o).unwrap();
    assert_eq!(
        ops(&app, "/", &["var,greeting", "var,combined", "var,token"]),
        vec!["ok:hi", "ok:hi-from-dotenv", "ok:dot"]
    );
}

#[test]
fn required_variable_without_value_fails_start() {
    let f = fixture("probe.toml");
    let mut o = options(&f);
    o.variables.clear();
    let e = App::start(o).unwrap_err();
    let msg = format!("{e:#}");
    assert!(
        msg.contains("token") && msg.contains("SPIN_VARIABLE_TOKEN"),
        "{msg}"
    );
}

#[test]
fn secret_value_is_readable_but_never_logged() {
    let f = fixture("probe.toml");
    let app = start(&f);
    assert_eq!(ops(&app, "/", &["var,token"]), vec!["ok:s3cret"]);
    assert!(app.logs().iter().all(|l| !l.contains("s3cret")));
}
