//! `spin-local up`: runs a spin.toml like `spin up` (it builds nothing).
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use spin_local_host::{App, AppOptions, CronMode, KvSetup};

const USAGE: &str = "usage: spin-local up [--from spin.toml] [--listen 127.0.0.1:3000] \
[--runtime-config-file FILE] [--state-dir DIR] [--variable NAME=VALUE]... \
[--env NAME=VALUE]... [--spin-compat] [--no-cron]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> anyhow::Result<AppOptions> {
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("up") => {}
        Some("-h" | "--help") | None => anyhow::bail!("{USAGE}"),
        Some(other) => anyhow::bail!("unknown command {other:?}\n{USAGE}"),
    }
    let mut options = AppOptions::new("spin.toml");
    options.listen = SocketAddr::from(([127, 0, 0, 1], 3000));
    options.kv = KvSetup::RuntimeConfig;
    options.process_env = None;
    options.cron = CronMode::Scheduled;
    options.quiet = false;
    let mut variables = BTreeMap::new();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "-f" | "--from" | "--file" => options.manifest = PathBuf::from(value(flag)?),
            "--listen" => {
                let v = value(flag)?;
                options.listen = v
                    .parse()
                    .map_err(|e| anyhow::anyhow!("--listen {v:?}: {e}"))?;
            }
            "--runtime-config-file" => options.runtime_config_file = Some(value(flag)?.into()),
            "--state-dir" => options.state_dir = Some(value(flag)?.into()),
            // A platform without a cron trigger: the cron components never fire (the
            // engine is driven over `POST /admin/v1/engine/tick`).
            "--no-cron" => options.cron = CronMode::Manual,
            "--variable" => {
                let (k, v) = pair(flag, &value(flag)?)?;
                variables.insert(k, v);
            }
            "-e" | "--env" => {
                let pair = pair(flag, &value(flag)?)?;
                options.guest_env.push(pair);
            }
            "--spin-compat" => options.spin_compat = true,
            other => anyhow::bail!("unknown option {other:?}\n{USAGE}"),
        }
    }
    // A directory means its spin.toml, like `spin up --from DIR`.
    if options.manifest.is_dir() {
        options.manifest = options.manifest.join("spin.toml");
    }
    options.variables = variables;
    Ok(options)
}

fn pair(flag: &str, s: &str) -> anyhow::Result<(String, String)> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| anyhow::anyhow!("{flag} wants NAME=VALUE, got {s:?}"))
}

fn run(options: AppOptions) -> anyhow::Result<()> {
    let app = App::start(options)?;
    println!("Serving {}", app.base_url());
    println!("Available Routes:");
    for (route, component) in app.routes() {
        let shown = if let Some(prefix) = route.strip_suffix("/...") {
            format!("{prefix} (wildcard)")
        } else {
            route
        };
        let path = shown.split(' ').next().unwrap_or("");
        let suffix = if shown.ends_with("(wildcard)") {
            " (wildcard)"
        } else {
            ""
        };
        println!("  {component}: {}{}{}", app.base_url(), path, suffix);
    }
    for t in &app.manifest().cron {
        println!("  {}: cron \"{}\"", t.component, t.cron_expression);
    }
    app.wait_for_ctrl_c()?;
    app.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_spin_up_flags() {
        let o = parse(&args(
            "up --from app/spin.toml --listen 0.0.0.0:8080 --runtime-config-file rc.toml --state-dir st --variable token=x --env A=1 --spin-compat",
        ))
        .unwrap();
        assert_eq!(o.manifest, PathBuf::from("app/spin.toml"));
        assert_eq!(o.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(o.runtime_config_file, Some(PathBuf::from("rc.toml")));
        assert_eq!(o.state_dir, Some(PathBuf::from("st")));
        assert_eq!(o.variables["token"], "x");
        assert_eq!(o.guest_env, vec![("A".to_string(), "1".to_string())]);
        assert!(o.spin_compat);
        assert_eq!(o.cron, CronMode::Scheduled);
    }

    #[test]
    fn no_cron_leaves_the_cron_components_unfired() {
        let o = parse(&args("up --no-cron")).unwrap();
        assert_eq!(o.cron, CronMode::Manual);
    }

    #[test]
    fn defaults_mirror_spin_up() {
        let o = parse(&args("up")).unwrap();
        assert_eq!(o.listen, "127.0.0.1:3000".parse().unwrap());
        assert!(matches!(o.kv, KvSetup::RuntimeConfig));
        assert!(o.process_env.is_none());
    }

    #[test]
    fn bad_arguments_are_errors() {
        assert!(parse(&args("down")).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&args("up --listen nope")).is_err());
        assert!(parse(&args("up --variable novalue")).is_err());
        assert!(parse(&args("up --from")).is_err());
        assert!(parse(&args("up --bogus")).is_err());
    }
}
