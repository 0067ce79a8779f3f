//! Settings from the environment, and where state is kept by default.
//!
//! Every key of a daemon's configuration can be set with an environment
//! variable `EDGELESS_<SECTION>_<KEY>` in capitals (`EDGELESS_<KEY>` for a
//! key outside any section): `EDGELESS_GENERAL_DOMAIN_ID=site-a` sets
//! `[general] domain_id`. A variable wins over the file. Numbers and
//! booleans are parsed; a list is comma-separated.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The prefix of every setting's variable.
pub const PREFIX: &str = "EDGELESS_";

/// The name of the variable of the key at `path` (sections, then the key).
pub fn variable(path: &[&str]) -> String {
    let mut name = PREFIX.to_string();
    name.push_str(&path.join("_").to_uppercase());
    name
}

/// `config` with the keys that have a variable in `vars` set from it.
pub fn apply<C: Serialize + DeserializeOwned>(
    config: C,
    vars: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<C> {
    let toml::Value::Table(mut table) = toml::Value::try_from(&config)? else {
        return Ok(config);
    };
    let mut applied = Vec::new();
    overlay(&mut table, &mut Vec::new(), &vars, &mut applied)?;
    if applied.is_empty() {
        return Ok(config);
    }
    for name in &applied {
        tracing::info!(variable = %name, "setting taken from the environment");
    }
    toml::Value::Table(table)
        .try_into()
        .map_err(|e| anyhow::anyhow!("settings from {}: {e}", applied.join(", ")))
}

fn overlay(
    table: &mut toml::Table,
    path: &mut Vec<String>,
    vars: &impl Fn(&str) -> Option<String>,
    applied: &mut Vec<String>,
) -> anyhow::Result<()> {
    for (key, value) in table.iter_mut() {
        path.push(key.clone());
        if let toml::Value::Table(inner) = value {
            overlay(inner, path, vars, applied)?;
        } else {
            let parts: Vec<&str> = path.iter().map(String::as_str).collect();
            let name = variable(&parts);
            if let Some(text) = vars(&name) {
                *value =
                    parse(value, &text).map_err(|e| anyhow::anyhow!("{name}={text:?}: {e}"))?;
                applied.push(name);
            }
        }
        path.pop();
    }
    Ok(())
}

/// `text` as a value of the same type as `current`.
fn parse(current: &toml::Value, text: &str) -> Result<toml::Value, String> {
    let text = text.trim();
    Ok(match current {
        toml::Value::Integer(_) => toml::Value::Integer(
            text.parse()
                .map_err(|_| "expected a whole number".to_string())?,
        ),
        toml::Value::Float(_) => {
            toml::Value::Float(text.parse().map_err(|_| "expected a number".to_string())?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(
            text.parse()
                .map_err(|_| "expected true or false".to_string())?,
        ),
        toml::Value::Array(_) => toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(text.to_string()),
    })
}

/// Where daemon `role` (`controller`, `orchestrator`) keeps its state when
/// its configuration does not say: `$XDG_STATE_HOME/edgeless/<role>` when
/// that variable is set, else `/var/lib/edgeless/<role>` for root, else
/// `~/.local/state/edgeless/<role>`.
pub fn default_data_dir(role: &str) -> String {
    default_data_dir_from(role, |name| std::env::var(name).ok(), is_root())
}

fn default_data_dir_from(role: &str, vars: impl Fn(&str) -> Option<String>, root: bool) -> String {
    let base = match vars("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
        Some(state) => state,
        None if root => "/var/lib".to_string(),
        None => match vars("HOME").filter(|v| !v.is_empty()) {
            Some(home) => format!("{home}/.local/state"),
            None => "/var/lib".to_string(),
        },
    };
    format!("{base}/edgeless/{role}")
}

/// Whether this process runs as root (the owner of `/proc/self`).
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct Sample {
        data_dir: String,
        general: General,
    }

    #[derive(Debug, Serialize, serde::Deserialize, PartialEq, Default)]
    #[serde(default, deny_unknown_fields)]
    struct General {
        domain_id: String,
        refresh_sec: u64,
        enabled: bool,
        allow: Vec<String>,
    }

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn variables_set_keys_of_every_type() {
        let config = apply(
            Sample::default(),
            vars(&[
                ("EDGELESS_DATA_DIR", "/srv/state"),
                ("EDGELESS_GENERAL_DOMAIN_ID", "site-a"),
                ("EDGELESS_GENERAL_REFRESH_SEC", "7"),
                ("EDGELESS_GENERAL_ENABLED", "true"),
                ("EDGELESS_GENERAL_ALLOW", "10.0.0.0/8, example.com"),
                ("EDGELESS_UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.data_dir, "/srv/state");
        assert_eq!(config.general.domain_id, "site-a");
        assert_eq!(config.general.refresh_sec, 7);
        assert!(config.general.enabled);
        assert_eq!(config.general.allow, vec!["10.0.0.0/8", "example.com"]);
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let error = apply(
            Sample::default(),
            vars(&[("EDGELESS_GENERAL_REFRESH_SEC", "soon")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "EDGELESS_GENERAL_REFRESH_SEC=\"soon\": expected a whole number"
        );
    }

    #[test]
    fn state_goes_where_the_platform_keeps_state() {
        let dir =
            |pairs: &[(&str, &str)], root| default_data_dir_from("controller", vars(pairs), root);
        assert_eq!(dir(&[], true), "/var/lib/edgeless/controller");
        assert_eq!(
            dir(&[("HOME", "/home/ann")], false),
            "/home/ann/.local/state/edgeless/controller"
        );
        assert_eq!(
            dir(&[("XDG_STATE_HOME", "/x"), ("HOME", "/home/ann")], true),
            "/x/edgeless/controller"
        );
    }
}
