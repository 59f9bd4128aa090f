//! `spin.toml` (manifest version 2): the subset of Spin's schema this app uses, read
//! with serde. Unknown keys are rejected where Spin rejects them (triggers); paths are
//! resolved against the manifest's directory.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

/// A loaded, validated manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// Its directory: relative paths are resolved against it.
    pub dir: PathBuf,
    pub name: String,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http: Vec<HttpTrigger>,
    pub cron: Vec<CronTrigger>,
    pub components: BTreeMap<String, ComponentDecl>,
}

/// An application variable (`[variables]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// The route as written; `None` for `route = { private = true }` (not routable).
    pub route: Option<String>,
    pub component: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronTrigger {
    pub component: String,
    pub cron_expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentDecl {
    /// The `.wasm` file, absolute.
    pub source: PathBuf,
    pub key_value_stores: Vec<String>,
    pub allowed_outbound_hosts: Vec<String>,
    /// Component variable templates, e.g. `"{{ admin_token }}"`.
    pub variables: BTreeMap<String, String>,
    /// Guest environment (`environment = { NAME = "value" }`).
    pub environment: BTreeMap<String, String>,
    pub build: Option<BuildDecl>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(default)]
    cron: Vec<RawCronTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
    #[serde(default)]
    #[allow(dead_code)] // accepted like Spin; this host has no WAGI executor
    executor: Option<toml::Value>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCronTrigger {
    component: String,
    cron_expression: String,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    build: Option<BuildDecl>,
}

impl Manifest {
    /// Reads and validates `path`. Errors name the file and the offending field.
    pub fn load(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        Self::parse(&text, path, &dir)
    }

    /// Parses manifest text as if read from `path` (resolving sources against `dir`).
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Manifest> {
        let file = path.display();
        let raw: RawManifest =
            toml::from_str(text).map_err(|e| anyhow!("invalid manifest {file}: {e}"))?;
        if raw.spin_manifest_version.as_integer() != Some(2)
            && raw.spin_manifest_version.as_str() != Some("2")
        {
            bail!(
                "{file}: spin_manifest_version must be 2 (this host reads manifest version 2 only)"
            );
        }
        for (name, decl) in &raw.variables {
            check_variable_name(name).with_context(|| format!("{file}: [variables]"))?;
            if decl.required && decl.default.is_some() {
                bail!("{file}: variable {name:?} cannot be both required and have a default");
            }
        }
        let mut components = BTreeMap::new();
        for (id, c) in raw.component {
            let source = match &c.source {
                toml::Value::String(s) => dir.join(s),
                _ => bail!(
                    "{file}: [component.{id}] source must be a path to a .wasm file (remote sources are not supported by the local host)"
                ),
            };
            for name in c.variables.keys() {
                check_variable_name(name)
                    .with_context(|| format!("{file}: [component.{id}.variables]"))?;
            }
            components.insert(
                id,
                ComponentDecl {
                    source,
                    key_value_stores: c.key_value_stores,
                    allowed_outbound_hosts: c.allowed_outbound_hosts,
                    variables: c.variables,
                    environment: c.environment,
                    build: c.build,
                },
            );
        }
        let mut http = Vec::new();
        for (i, t) in raw.trigger.http.into_iter().enumerate() {
            if !components.contains_key(&t.component) {
                bail!(
                    "{file}: [[trigger.http]] #{} (route {}) names component {:?}, which has no [component.{}] section",
                    i + 1,
                    match &t.route {
                        RawRoute::Path(p) => p.as_str(),
                        RawRoute::Private { .. } => "private",
                    },
                    t.component,
                    t.component
                );
            }
            let route = match t.route {
                RawRoute::Path(p) => Some(p),
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => bail!(
                    "{file}: route must be a string pattern or '{{ private = true }}': '{}' has {{ private = false }}",
                    t.component
                ),
            };
            http.push(HttpTrigger {
                route,
                component: t.component,
            });
        }
        let mut cron = Vec::new();
        for t in raw.trigger.cron {
            if !components.contains_key(&t.component) {
                bail!(
                    "{file}: [[trigger.cron]] names component {:?}, which has no [component.{}] section",
                    t.component,
                    t.component
                );
            }
            crate::cron::parse_schedule(&t.cron_expression).with_context(|| {
                format!("{file}: [[trigger.cron]] of component {:?}", t.component)
            })?;
            cron.push(CronTrigger {
                component: t.component,
                cron_expression: t.cron_expression,
            });
        }
        Ok(Manifest {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            name: raw.application.name,
            variables: raw.variables,
            http,
            cron,
            components,
        })
    }

    /// The components some trigger uses (only those are loaded, like Spin).
    pub fn triggered_components(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .http
            .iter()
            .map(|t| t.component.as_str())
            .chain(self.cron.iter().map(|t| t.component.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Spin's rule for variable names: lowercase ASCII letters, digits and underscores,
/// starting with a letter.
pub fn check_variable_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        bail!(
            "invalid variable name {name:?}: use lowercase letters, digits and underscores, starting with a letter"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("/app/spin.toml"), Path::new("/app"))
    }

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"t\"\n";

    #[test]
    fn reads_triggers_components_and_variables() {
        let m = parse(&format!(
            "{HEAD}[variables]\ntoken = {{ required = true, secret = true }}\nmode = {{ default = \"x\" }}\n\
             [[trigger.http]]\nroute = \"/a/...\"\ncomponent = \"a\"\n\
             [[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"a\"\n\
             [[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"*/2 * * * * *\"\n\
             [component.a]\nsource = \"target/a.wasm\"\nkey_value_stores = [\"default\"]\n\
             files = [\"x\"]\n[component.a.variables]\nt = \"{{{{ token }}}}\"\n\
             [component.a.build]\ncommand = \"cargo build\"\nwatch = [\"src/**\"]\n"
        ))
        .unwrap();
        assert_eq!(m.name, "t");
        assert_eq!(m.http[0].route.as_deref(), Some("/a/..."));
        assert_eq!(m.http[1].route, None);
        assert_eq!(m.cron[0].cron_expression, "*/2 * * * * *");
        let a = &m.components["a"];
        assert_eq!(a.source, PathBuf::from("/app/target/a.wasm"));
        assert_eq!(a.key_value_stores, vec!["default"]);
        assert_eq!(a.variables["t"], "{{ token }}");
        assert!(m.variables["token"].required && m.variables["token"].secret);
        assert_eq!(m.variables["mode"].default.as_deref(), Some("x"));
        assert_eq!(a.build.as_ref().unwrap().command, "cargo build");
    }

    #[test]
    fn unknown_trigger_key_is_an_error_naming_the_file() {
        let e = parse(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"a\"\nrouet = \"x\"\n[component.a]\nsource = \"a.wasm\"\n"
        ))
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("/app/spin.toml") && msg.contains("rouet"),
            "{msg}"
        );
    }

    #[test]
    fn trigger_of_a_missing_component_is_an_error() {
        let e = parse(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"nope\"\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("\"nope\""), "{e:#}");
    }

    #[test]
    fn bad_cron_expression_is_an_error() {
        let e = parse(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"every minute\"\n[component.a]\nsource = \"a.wasm\"\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("trigger.cron"), "{e:#}");
    }

    #[test]
    fn wrong_manifest_version_is_an_error() {
        let e = parse("spin_manifest_version = 1\n[application]\nname = \"t\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("spin_manifest_version"), "{e:#}");
    }

    #[test]
    fn variable_names_follow_spin_rules() {
        assert!(check_variable_name("admin_token2").is_ok());
        for bad in ["", "Admin", "2x", "a-b", "a.b"] {
            assert!(check_variable_name(bad).is_err(), "{bad}");
        }
        let e = parse(&format!("{HEAD}[variables]\nBad = {{ default = \"1\" }}\n")).unwrap_err();
        assert!(format!("{e:#}").contains("Bad"), "{e:#}");
    }

    #[test]
    fn required_with_default_is_an_error() {
        let e = parse(&format!(
            "{HEAD}[variables]\nx = {{ default = \"1\", required = true }}\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("required"), "{e:#}");
    }
}
