//! Spin's runtime config file, key-value part:
//! `[key_value_store.LABEL] type = "spin" (path = "...")`, `type = "redis", url = "..."`
//! or `type = "aws_dynamo", region = "...", table = "..."` (emulated locally in
//! `aws_dynamo.db` in the state directory; no DynamoDB is contacted).
//! Like Spin, the `default` label exists without any config: a SQLite file
//! `sqlite_key_value.db` in the state directory (`.spin` beside `spin.toml`).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use spin_local_kv::BackendConfig;

/// Every store label the app can open, with its backend.
pub type StoreConfigs = BTreeMap<String, BackendConfig>;

#[derive(Deserialize)]
struct RawRuntimeConfig {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawStore {
    #[serde(rename = "spin")]
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    #[serde(rename = "redis")]
    Redis { url: String },
    /// Spin's fields; only `table` matters to the local emulation.
    #[serde(rename = "aws_dynamo")]
    #[allow(dead_code)]
    AwsDynamo {
        region: String,
        table: String,
        #[serde(default)]
        consistent_read: Option<bool>,
        #[serde(default)]
        access_key: Option<String>,
        #[serde(default)]
        secret_key: Option<String>,
        #[serde(default)]
        token: Option<String>,
    },
}

/// The default SQLite file of the `spin` store type in `state_dir`.
pub fn default_sqlite_path(state_dir: &Path) -> PathBuf {
    state_dir.join("sqlite_key_value.db")
}

/// The file that holds every emulated `aws_dynamo` table in `state_dir`.
pub fn aws_dynamo_path(state_dir: &Path) -> PathBuf {
    state_dir.join("aws_dynamo.db")
}

/// Reads the runtime config at `file` (if any). Relative `path`s are resolved against
/// the file's directory, like Spin; a `spin` store without `path` uses the default file.
pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<StoreConfigs> {
    let mut stores = StoreConfigs::new();
    stores.insert(
        "default".into(),
        BackendConfig::Sqlite {
            path: default_sqlite_path(state_dir),
        },
    );
    let Some(file) = file else {
        return Ok(stores);
    };
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read runtime config file {}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    for (label, backend) in parse(&text, base, state_dir)
        .with_context(|| format!("invalid runtime config file {}", file.display()))?
    {
        stores.insert(label, backend);
    }
    Ok(stores)
}

fn parse(text: &str, base: &Path, state_dir: &Path) -> Result<StoreConfigs> {
    let raw: RawRuntimeConfig = toml::from_str(text).map_err(|e| anyhow!("{e}"))?;
    let mut stores = StoreConfigs::new();
    for (label, store) in raw.key_value_store {
        let backend = match store {
            RawStore::Spin { path: Some(p) } => BackendConfig::Sqlite { path: base.join(p) },
            RawStore::Spin { path: None } => BackendConfig::Sqlite {
                path: default_sqlite_path(state_dir),
            },
            RawStore::Redis { url } => {
                if !url.starts_with("redis://") && !url.starts_with("rediss://") {
                    bail!("[key_value_store.{label}] url must start with redis:// (got {url:?})");
                }
                BackendConfig::Redis { url }
            }
            RawStore::AwsDynamo { table, .. } => BackendConfig::AwsDynamo {
                path: aws_dynamo_path(state_dir),
                table,
            },
        };
        stores.insert(label, backend);
    }
    Ok(stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_store_is_sqlite_in_the_state_dir() {
        let stores = load(None, Path::new("/app/.spin")).unwrap();
        assert_eq!(
            stores["default"],
            BackendConfig::Sqlite {
                path: "/app/.spin/sqlite_key_value.db".into()
            }
        );
    }

    #[test]
    fn reads_spin_and_redis_stores() {
        let s = parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379\"\n\
             [key_value_store.other]\ntype = \"spin\"\npath = \"data/kv.db\"\n\
             [key_value_store.third]\ntype = \"spin\"\n",
            Path::new("/cfg"),
            Path::new("/state"),
        )
        .unwrap();
        assert_eq!(
            s["default"],
            BackendConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(
            s["other"],
            BackendConfig::Sqlite {
                path: "/cfg/data/kv.db".into()
            }
        );
        assert_eq!(
            s["third"],
            BackendConfig::Sqlite {
                path: "/state/sqlite_key_value.db".into()
            }
        );
    }

    #[test]
    fn reads_aws_dynamo_stores() {
        let s = parse(
            "[key_value_store.default]\ntype = \"aws_dynamo\"\nregion = \"us-east-1\"\n\
             table = \"image-catalog\"\nconsistent_read = true\n\
             [key_value_store.keyed]\ntype = \"aws_dynamo\"\nregion = \"eu-west-1\"\n\
             table = \"other\"\naccess_key = \"a\"\nsecret_key = \"s\"\ntoken = \"t\"\n",
            Path::new("/cfg"),
            Path::new("/state"),
        )
        .unwrap();
        assert_eq!(
            s["default"],
            BackendConfig::AwsDynamo {
                path: "/state/aws_dynamo.db".into(),
                table: "image-catalog".into()
            }
        );
        assert_eq!(
            s["keyed"],
            BackendConfig::AwsDynamo {
                path: "/state/aws_dynamo.db".into(),
                table: "other".into()
            }
        );
        // region and table are required, as on Spin; unknown fields are refused.
        for text in [
            "[key_value_store.x]\ntype = \"aws_dynamo\"\ntable = \"t\"\n",
            "[key_value_store.x]\ntype = \"aws_dynamo\"\nregion = \"r\"\n",
            "[key_value_store.x]\ntype = \"aws_dynamo\"\nregion = \"r\"\ntable = \"t\"\nendpoint = \"e\"\n",
        ] {
            assert!(
                parse(text, Path::new("/"), Path::new("/")).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_type_and_bad_url_are_errors() {
        assert!(
            parse(
                "[key_value_store.x]\ntype = \"dynamo\"\n",
                Path::new("/"),
                Path::new("/")
            )
            .is_err()
        );
        assert!(
            parse(
                "[key_value_store.x]\ntype = \"redis\"\nurl = \"http://x\"\n",
                Path::new("/"),
                Path::new("/")
            )
            .is_err()
        );
        assert!(
            parse(
                "[key_value_store.x]\ntype = \"spin\"\npaht = \"x\"\n",
                Path::new("/"),
                Path::new("/")
            )
            .is_err()
        );
    }
}
