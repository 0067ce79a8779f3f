//! The CLI's configuration (`cli.toml`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The commented template written by `-t`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// Where the CLI finds the cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The controller's workflow API.
    pub controller_url: String,
    /// TLS towards the controller (for an https URL).
    pub tls: edgeless_api::tls::TlsFiles,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            controller_url: "http://127.0.0.1:7001".into(),
            tls: Default::default(),
        }
    }
}

impl Config {
    /// Reads `path`, or `./cli.toml` when present, or the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, CliError> {
        let path = match path {
            Some(path) => path,
            None if Path::new("cli.toml").exists() => Path::new("cli.toml"),
            None => return Ok(Self::default()),
        };
        edgeless_api::daemon::load_config(path).map_err(CliError::Input)
    }
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
        let err = Config::load(Some(Path::new("/nonexistent/cli.toml"))).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        assert!(err.to_string().contains("/nonexistent/cli.toml"), "{err}");
    }
}
