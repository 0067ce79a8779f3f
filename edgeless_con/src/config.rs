//! The controller's configuration file (`controller.toml`).

use serde::{Deserialize, Serialize};

/// The commented template written by `-t`, before [`template`] fills in
/// the default `data_dir`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// The commented template written by `-t`.
pub fn template() -> String {
    TEMPLATE.replace("DATA_DIR", &default_data_dir())
}

/// Where workflows are kept when the configuration does not say.
pub fn default_data_dir() -> String {
    edgeless_api::config_env::default_data_dir("controller")
}

/// A controller's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the workflow API (used by the CLI) listens.
    pub controller_url: String,
    /// Where orchestrators register their domains.
    pub domain_register_url: String,
    /// Where workflows are kept across restarts (`controller.redb`); empty:
    /// nowhere. Default: [`default_data_dir`].
    pub data_dir: String,
    /// Where the web dashboard is served (plain HTTP); empty: not served.
    pub dashboard_url: String,
    /// Where metrics and health are served.
    pub telemetry: edgeless_api::telemetry::TelemetryConfig,
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
            data_dir: default_data_dir(),
            dashboard_url: "http://127.0.0.1:7080".into(),
            telemetry: Default::default(),
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
        let parsed: Config = toml::from_str(&template()).unwrap();
        assert_eq!(parsed, Config::default());
    }
}
