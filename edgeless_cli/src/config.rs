//! The CLI's configuration (`cli.toml`) and where the controller is.
//!
//! The controller URL comes from the first of: `--controller-url` (or
//! `EDGELESS_CONTROLLER_URL`); the file given with `-c` (or
//! `EDGELESS_CONFIG`); `./cli.toml`; the user's file
//! `$XDG_CONFIG_HOME/edgeless/cli.toml` (default `~/.config/...`), whose
//! current context names one of several clusters; the built-in default,
//! which the CLI then names on stderr. TLS files come from the file found.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The commented template written by `-t`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// The controller URL when nothing names one.
pub const DEFAULT_CONTROLLER_URL: &str = "http://127.0.0.1:7001";

/// One cluster: where its controller is and how to talk to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// The controller's workflow API.
    pub controller_url: String,
    /// A file holding the CLI's token (clusters with tokens; the
    /// `EDGELESS_TOKEN` variable takes precedence).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token_file: String,
    /// TLS towards the controller (for an https URL).
    pub tls: edgeless_api::tls::TlsFiles,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            controller_url: DEFAULT_CONTROLLER_URL.into(),
            token_file: String::new(),
            tls: Default::default(),
        }
    }
}

/// A `cli.toml`: one cluster, and optionally named contexts of which one
/// is current (`edgeless_cli context use NAME`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The controller's workflow API, when no context is current.
    pub controller_url: String,
    /// The context in use (empty: the cluster above).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub current_context: String,
    /// Named clusters.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub contexts: BTreeMap<String, Cluster>,
    /// The CLI's token file, when no context is current.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token_file: String,
    /// TLS towards the controller, when no context is current.
    pub tls: edgeless_api::tls::TlsFiles,
    /// Accepted from the original's files; there is no function repository
    /// (`function get|download|push` say what to use instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_repository: Option<FunctionRepository>,
}

/// The original's `[function_repository]` (accepted, without effect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FunctionRepository {
    /// The repository's URL.
    pub url: String,
    /// Basic authentication user.
    pub basic_auth_user: String,
    /// Basic authentication password.
    pub basic_auth_pass: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            controller_url: DEFAULT_CONTROLLER_URL.into(),
            current_context: String::new(),
            contexts: BTreeMap::new(),
            token_file: String::new(),
            tls: Default::default(),
            function_repository: None,
        }
    }
}

impl Config {
    /// The cluster this file points at: its current context, or its own.
    pub fn selected(&self) -> Result<Cluster, String> {
        if self.current_context.is_empty() {
            return Ok(Cluster {
                controller_url: self.controller_url.clone(),
                token_file: self.token_file.clone(),
                tls: self.tls.clone(),
            });
        }
        self.contexts
            .get(&self.current_context)
            .cloned()
            .ok_or_else(|| {
                format!(
                    "current_context = {:?} is not one of the contexts ({})",
                    self.current_context,
                    self.contexts.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            })
    }

    /// Reads a configuration file; errors name it.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        edgeless_api::daemon::load_config(path).map_err(CliError::Input)
    }

    /// Writes this configuration to `path`, creating its folder.
    pub fn write(&self, path: &Path) -> Result<(), CliError> {
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(|e| {
                CliError::Input(anyhow::anyhow!("cannot create {}: {e}", folder.display()))
            })?;
        }
        let text = toml::to_string_pretty(self).map_err(|e| CliError::Input(e.into()))?;
        std::fs::write(path, text)
            .map_err(|e| CliError::Input(anyhow::anyhow!("cannot write {}: {e}", path.display())))
    }
}

/// The user's configuration file: `$XDG_CONFIG_HOME/edgeless/cli.toml`, or
/// `~/.config/edgeless/cli.toml`.
pub fn user_file() -> Option<PathBuf> {
    user_file_in(
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
}

/// [`user_file`] for the given `XDG_CONFIG_HOME` and `HOME`.
fn user_file_in(
    xdg_config_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    let base = xdg_config_home
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("edgeless").join("cli.toml"))
}

/// Where the cluster settings came from, for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A file (and the context used in it, if any).
    File(PathBuf, Option<String>),
    /// The built-in default.
    Default,
}

/// The cluster to talk to, and where that was decided.
pub fn resolve(
    controller_url: Option<&str>,
    config_file: Option<&Path>,
) -> Result<(Cluster, Source), CliError> {
    resolve_in(
        controller_url,
        config_file,
        Path::new("cli.toml"),
        user_file(),
    )
}

/// [`resolve`] with the working folder's file `local` and the user's file.
fn resolve_in(
    controller_url: Option<&str>,
    config_file: Option<&Path>,
    local: &Path,
    user: Option<PathBuf>,
) -> Result<(Cluster, Source), CliError> {
    let file = match config_file {
        Some(path) => Some(path.to_path_buf()),
        None if local.exists() => Some(local.to_path_buf()),
        None => user.filter(|path| path.exists()),
    };
    let (mut cluster, source) = match file {
        Some(path) => {
            let config = Config::read(&path)?;
            let cluster = config
                .selected()
                .map_err(|e| CliError::Input(anyhow::anyhow!("{}: {e}", path.display())))?;
            let context = Some(config.current_context).filter(|c| !c.is_empty());
            (cluster, Source::File(path, context))
        }
        None => (Cluster::default(), Source::Default),
    };
    if let Some(url) = controller_url {
        cluster.controller_url = url.to_string();
    } else if source == Source::Default {
        eprintln!(
            "using the default controller {DEFAULT_CONTROLLER_URL} (set --controller-url, EDGELESS_CONTROLLER_URL, -c FILE, ./cli.toml or a context)"
        );
    }
    Ok((cluster, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn a_missing_file_is_an_input_error() {
        let err = resolve(None, Some(Path::new("/nonexistent/cli.toml"))).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        assert!(err.to_string().contains("/nonexistent/cli.toml"), "{err}");
    }

    #[test]
    fn the_current_context_is_the_cluster() {
        let text = r#"
            controller_url = "http://127.0.0.1:1"
            current_context = "lab"
            [contexts.lab]
            controller_url = "http://10.0.0.5:7001"
            [contexts.edge]
            controller_url = "http://10.0.0.6:7001"
        "#;
        let config: Config = toml::from_str(text).unwrap();
        assert_eq!(
            config.selected().unwrap().controller_url,
            "http://10.0.0.5:7001"
        );
        let none: Config = toml::from_str("current_context = \"gone\"").unwrap();
        assert!(
            none.selected()
                .unwrap_err()
                .contains("\"gone\" is not one of the contexts")
        );
        let plain: Config = toml::from_str("controller_url = \"http://h:1\"").unwrap();
        assert_eq!(plain.selected().unwrap().controller_url, "http://h:1");
    }

    #[test]
    fn the_user_file_is_under_xdg_config_home_or_home() {
        let file = |xdg: Option<&str>, home: Option<&str>| {
            user_file_in(xdg.map(Into::into), home.map(Into::into))
        };
        assert_eq!(
            file(Some("/x"), Some("/h")),
            Some(PathBuf::from("/x/edgeless/cli.toml"))
        );
        assert_eq!(
            file(Some(""), Some("/h")),
            Some(PathBuf::from("/h/.config/edgeless/cli.toml"))
        );
        assert_eq!(
            file(None, Some("/h")),
            Some(PathBuf::from("/h/.config/edgeless/cli.toml"))
        );
        assert_eq!(file(None, None), None);
    }

    #[test]
    fn files_are_taken_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, url: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, format!("controller_url = \"{url}\"\n")).unwrap();
            path
        };
        let given = write("given.toml", "http://given:1");
        let local = write("local.toml", "http://local:1");
        let user = write("user.toml", "http://user:1");
        let absent = dir.path().join("absent.toml");
        let url = |config: Option<&Path>, local: &Path, user: &Path| {
            resolve_in(None, config, local, Some(user.to_path_buf()))
                .unwrap()
                .0
                .controller_url
        };
        assert_eq!(url(Some(&given), &local, &user), "http://given:1");
        assert_eq!(url(None, &local, &user), "http://local:1");
        assert_eq!(url(None, &absent, &user), "http://user:1");
        let (cluster, source) = resolve_in(None, None, &absent, Some(absent.clone())).unwrap();
        assert_eq!(cluster.controller_url, DEFAULT_CONTROLLER_URL);
        assert_eq!(source, Source::Default);
        let (cluster, source) = resolve_in(Some("http://flag:1"), None, &absent, None).unwrap();
        assert_eq!(cluster.controller_url, "http://flag:1");
        assert_eq!(source, Source::Default);
    }

    #[test]
    fn a_written_configuration_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/folder/cli.toml");
        let mut config = Config::default();
        config.contexts.insert(
            "lab".into(),
            Cluster {
                controller_url: "http://lab:1".into(),
                ..Default::default()
            },
        );
        config.current_context = "lab".into();
        config.write(&path).unwrap();
        assert_eq!(Config::read(&path).unwrap(), config);
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, "x").unwrap();
        let error = config.write(&blocked.join("cli.toml")).unwrap_err();
        assert!(error.to_string().contains("cannot create"), "{error}");
    }

    #[test]
    fn a_given_url_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cli.toml");
        std::fs::write(&path, "controller_url = \"http://127.0.0.1:1\"\n").unwrap();
        let (cluster, source) = resolve(Some("http://127.0.0.1:2"), Some(&path)).unwrap();
        assert_eq!(cluster.controller_url, "http://127.0.0.1:2");
        assert_eq!(source, Source::File(path, None));
    }
}
