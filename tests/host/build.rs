//! Builds the test guest components (tests/guests/*) for wasm32-wasip2 into a
//! separate target directory (the outer cargo holds the lock on target/) and exports
//! their paths as constants (`spin_local_host::test_guests::PROBE`, ...).
use std::path::PathBuf;
use std::process::Command;

const GUESTS: &[(&str, &str)] = &[
    ("PROBE", "probe"),
    ("CRON_PROBE", "cron-probe"),
    ("EMPTY", "empty"),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("../..");
    let target_dir = workspace.join("target/guests");
    for (_, dir) in GUESTS {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join("tests/guests").join(dir).display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("wit/spin-cron.wit").display()
    );
    println!("cargo:rerun-if-env-changed=SPIN_LOCAL_SKIP_GUEST_BUILD");

    // `SPIN_LOCAL_SKIP_GUEST_BUILD=1` skips the build (e.g. the CLI-only `./dev up`);
    // the constants still point where the guests would be.
    if std::env::var_os("SPIN_LOCAL_SKIP_GUEST_BUILD").is_none() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&workspace)
            .args(["build", "--target", "wasm32-wasip2", "--release"])
            .arg("--target-dir")
            .arg(&target_dir);
        for (_, dir) in GUESTS {
            cmd.args(["-p", &format!("guest-{dir}")]);
        }
        // The outer build's settings must not leak into the guest build.
        for (key, _) in std::env::vars_os() {
            if let Some(k) = key.to_str()
                && (k.starts_with("CARGO_")
                    || k == "RUSTFLAGS"
                    || k == "RUSTC_WRAPPER"
                    || k == "RUSTC_WORKSPACE_WRAPPER")
                && k != "CARGO_HOME"
            {
                cmd.env_remove(k);
            }
        }
        let status = cmd.status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("building the test guests failed ({s}); see the output above"),
            Err(e) => panic!("cannot run cargo to build the test guests: {e}"),
        }
    }

    let mut consts = String::new();
    for (name, dir) in GUESTS {
        let file = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("guest_{}.wasm", dir.replace('-', "_")));
        let file = file.canonicalize().unwrap_or(file);
        consts.push_str(&format!(
            "pub const {name}: &str = {:?};\n",
            file.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("test_guests.rs");
    if let Err(e) = std::fs::write(&out, consts) {
        panic!("cannot write {}: {e}", out.display());
    }
}
