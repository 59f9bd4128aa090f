//! Application variables (`fermyon:spin/variables@2.0.0`), resolved once at start-up.
//!
//! A variable's value comes from, in order: an explicit override (API / `--variable`),
//! the environment variable `SPIN_VARIABLE_<NAME>` (upper-cased), the same key in a
//! `.env` file, then the manifest `default`. This is Spin's env provider: it looks
//! up only the `SPIN_VARIABLE_`-prefixed key, in the environment and then in `.env`
//! (Spin reads `.env` from its working directory; this host reads the one beside
//! `spin.toml`, the same file when `spin up` runs in the app directory). A plain
//! `NAME=value` line in `.env` is not a Spin variable and is ignored, as in Spin.
use std::collections::{BTreeMap, HashMap};

use anyhow::{Result, bail};

use crate::manifest::Manifest;

/// Where `SPIN_VARIABLE_*` values come from.
#[derive(Debug, Clone, Default)]
pub struct VariableSources {
    /// Explicit values by variable name (highest precedence).
    pub overrides: BTreeMap<String, String>,
    /// The environment; `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// The parsed `.env` file (empty when there is none).
    pub dotenv: HashMap<String, String>,
}

/// The resolved values of the app variables.
#[derive(Debug, Clone, Default)]
pub struct AppVariables {
    values: BTreeMap<String, String>,
}

impl AppVariables {
    pub fn resolve(manifest: &Manifest, sources: &VariableSources) -> Result<AppVariables> {
        for name in sources.overrides.keys() {
            if !manifest.variables.contains_key(name) {
                bail!(
                    "variable {name:?} is given a value but is not declared in [variables] of {}",
                    manifest.path.display()
                );
            }
        }
        let mut values = BTreeMap::new();
        for (name, decl) in &manifest.variables {
            let env_key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            let from_env = match &sources.env {
                Some(map) => map.get(&env_key).cloned(),
                None => std::env::var(&env_key).ok(),
            };
            let value = sources
                .overrides
                .get(name)
                .cloned()
                .or(from_env)
                .or_else(|| sources.dotenv.get(&env_key).cloned())
                .or_else(|| decl.default.clone());
            match value {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None if decl.required => bail!(
                    "required variable {name:?} of {} has no value: set {env_key} (environment or .env) or pass --variable {name}=VALUE",
                    manifest.path.display()
                ),
                // Neither required nor defaulted: Spin treats it as unresolvable on use.
                None => {}
            }
        }
        Ok(AppVariables { values })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

/// Expands a component variable template: `{{ name }}` references an app variable;
/// everything else is literal.
pub fn expand(template: &str, app: &AppVariables) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unterminated {{{{ in template {template:?}");
        };
        let name = after[..end].trim();
        crate::manifest::check_variable_name(name)?;
        match app.get(name) {
            Some(v) => out.push_str(v),
            None => bail!("template {template:?} references variable {name:?}, which has no value"),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a dotenv file: `KEY=VALUE` lines, `#` comments, optional `export `, single
/// or double quotes around the value.
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let value = if value.len() >= 2
            && ((value.starts_with('"') && value.ends_with('"'))
                || (value.starts_with('\'') && value.ends_with('\'')))
        {
            &value[1..value.len() - 1]
        } else {
            // An unquoted value ends at an inline comment.
            value.split(" #").next().unwrap_or(value).trim_end()
        };
        map.insert(key.trim().to_string(), value.to_string());
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn manifest(vars: &str) -> Manifest {
        Manifest::parse(
            &format!("spin_manifest_version = 2\n[application]\nname = \"t\"\n[variables]\n{vars}"),
            Path::new("/app/spin.toml"),
            Path::new("/app"),
        )
        .unwrap()
    }

    fn sources(env: &[(&str, &str)], dotenv: &[(&str, &str)]) -> VariableSources {
        VariableSources {
            overrides: BTreeMap::new(),
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            dotenv: dotenv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn precedence_is_override_env_dotenv_default() {
        let m = manifest("a = { default = \"d\" }\n");
        let get = |s: VariableSources| {
            AppVariables::resolve(&m, &s)
                .unwrap()
                .get("a")
                .map(String::from)
        };
        assert_eq!(get(sources(&[], &[])).as_deref(), Some("d"));
        assert_eq!(
            get(sources(&[], &[("SPIN_VARIABLE_A", "f")])).as_deref(),
            Some("f")
        );
        assert_eq!(
            get(sources(
                &[("SPIN_VARIABLE_A", "e")],
                &[("SPIN_VARIABLE_A", "f")]
            ))
            .as_deref(),
            Some("e")
        );
        let mut s = sources(&[("SPIN_VARIABLE_A", "e")], &[]);
        s.overrides.insert("a".into(), "o".into());
        assert_eq!(get(s).as_deref(), Some("o"));
        // A plain NAME in .env is not a Spin variable.
        assert_eq!(
            get(sources(&[], &[("A", "plain"), ("a", "plain")])).as_deref(),
            Some("d")
        );
    }

    #[test]
    fn required_without_value_is_an_error() {
        let m = manifest("token = { required = true }\n");
        let e = AppVariables::resolve(&m, &sources(&[], &[])).unwrap_err();
        assert!(e.to_string().contains("SPIN_VARIABLE_TOKEN"), "{e}");
        assert!(AppVariables::resolve(&m, &sources(&[("SPIN_VARIABLE_TOKEN", "x")], &[])).is_ok());
    }

    #[test]
    fn override_of_an_undeclared_variable_is_an_error() {
        let m = manifest("a = { default = \"d\" }\n");
        let mut s = sources(&[], &[]);
        s.overrides.insert("b".into(), "1".into());
        assert!(AppVariables::resolve(&m, &s).is_err());
    }

    #[test]
    fn templates_expand_references() {
        let m = manifest("a = { default = \"x\" }\nb = { default = \"y\" }\n");
        let vars = AppVariables::resolve(&m, &sources(&[], &[])).unwrap();
        assert_eq!(expand("{{ a }}-{{b}}!", &vars).unwrap(), "x-y!");
        assert_eq!(expand("literal", &vars).unwrap(), "literal");
        assert!(expand("{{ missing }}", &vars).is_err());
        assert!(expand("{{ a ", &vars).is_err());
    }

    #[test]
    fn dotenv_parsing() {
        let m = parse_dotenv(
            "# c\nexport SPIN_VARIABLE_A=1\nSPIN_VARIABLE_B = \"two words\"\nC='q' \nD=v # note\nnoequals\n",
        );
        assert_eq!(m["SPIN_VARIABLE_A"], "1");
        assert_eq!(m["SPIN_VARIABLE_B"], "two words");
        assert_eq!(m["C"], "q");
        assert_eq!(m["D"], "v");
        assert_eq!(m.len(), 4);
    }
}
