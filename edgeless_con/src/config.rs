//! The controller's configuration file (`controller.toml`).

use serde::{Deserialize, Serialize};

/// The commented template written by `-t`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// A controller's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the workflow API (used by the CLI) listens.
    pub controller_url: String,
    /// Where orchestrators register their domains.
    pub domain_register_url: String,
    /// Where workflows are kept across restarts (`controller.redb`); empty:
    /// nowhere.
    pub data_dir: String,
    /// TLS for every link (empty: plain TCP).
    pub tls: edgeless_api::tls::TlsFiles,
    /// Who may call this daemon, and the token it presents.
    pub auth: edgeless_api::auth::AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            controller_url: "http://127.0.0.1:7001".into(),
            domain_register_url: "http://127.0.0.1:7002".into(),
            data_dir: String::new(),
            tls: Default::default(),
            auth: Default::default(),
        }
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
}
