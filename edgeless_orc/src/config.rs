//! The orchestrator's configuration file (`orchestrator.toml`).

use serde::{Deserialize, Serialize};

/// The commented template, before [`template`] fills in the default
/// `data_dir`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// The commented template written by `-t`, with the default `data_dir` of
/// this machine.
pub fn template() -> String {
    TEMPLATE.replace("DATA_DIR", &default_data_dir())
}

/// Where components and states are kept when the configuration does not say.
pub fn default_data_dir() -> String {
    edgeless_api::config_env::default_data_dir("orchestrator")
}

/// An orchestrator's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Identity, addresses and registration.
    pub general: General,
    /// Placement.
    pub baseline: Baseline,
    /// Mirroring of the orchestrator's state for delegated orchestration.
    pub proxy: Proxy,
    /// The domain's ε-BAL, through which events cross to other domains.
    pub balancer: Balancer,
    /// Where metrics and health are served.
    pub telemetry: edgeless_api::telemetry::TelemetryConfig,
    /// TLS for every link (empty: plain TCP).
    pub tls: edgeless_api::tls::TlsFiles,
    /// Who may call this daemon, and the token it presents.
    pub auth: edgeless_api::auth::AuthConfig,
}

/// The domain's ε-BAL. With `agent_url` empty, the domain has none: its
/// nodes reach other domains' nodes (or their balancers) directly, and
/// other domains reach its nodes at their `invocation_url`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Balancer {
    /// Where the balancer takes peer updates (its `agent_url`).
    pub agent_url: String,
    /// Where this domain's nodes reach its dataplane (its `invocation_url`).
    pub invocation_url: String,
    /// Where other domains' nodes and balancers reach it (empty:
    /// `invocation_url`).
    pub public_url: String,
}

impl Balancer {
    /// Whether the domain has a balancer.
    pub fn enabled(&self) -> bool {
        !self.agent_url.is_empty()
    }

    /// Where other domains reach the balancer (empty without one).
    pub fn announced_url(&self) -> &str {
        match (self.enabled(), self.public_url.is_empty()) {
            (false, _) => "",
            (true, true) => &self.invocation_url,
            (true, false) => &self.public_url,
        }
    }
}

/// Delegated orchestration: the state mirrored to Redis, intents read back.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Proxy {
    /// `None` or `Redis`.
    pub proxy_type: ProxyType,
    /// The Redis server, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// Accepted from the original's files; this orchestrator writes no CSV
    /// datasets (`edgeless_orc_proxy_cli dump` reads them from Redis).
    pub dataset_settings: Option<DatasetSettings>,
}

/// The original's `[proxy.dataset_settings]` (accepted, without effect).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatasetSettings {
    /// Prefix of the CSV files.
    pub dataset_path: String,
    /// Append to existing files.
    pub append: bool,
    /// Fields prefixed to every row.
    pub additional_fields: String,
    /// Columns prefixed to every header.
    pub additional_header: String,
}

/// Where the state is mirrored.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum ProxyType {
    /// No mirroring.
    #[default]
    #[serde(alias = "none", alias = "NONE")]
    None,
    /// Mirror to Redis.
    #[serde(alias = "redis", alias = "REDIS")]
    Redis,
}

/// Identity, addresses and registration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    /// The controller's domain registration URL.
    pub domain_register_url: String,
    /// Seconds between domain registrations; also how often nodes are checked.
    pub subscription_refresh_interval_sec: u64,
    /// The domain's name, unique in the cluster.
    pub domain_id: String,
    /// Where the orchestrator API (used by the controller) listens.
    pub orchestrator_url: String,
    /// The orchestrator URL given to the controller (empty: `orchestrator_url`).
    pub orchestrator_url_announced: String,
    /// Where nodes register.
    pub node_register_url: String,
    /// Seconds without a refresh after which a node is dropped; 0 means
    /// the deadline each node announces (two of its refresh periods).
    pub node_lease_sec: u64,
    /// How often a failing instance (a trap, a limit) is restarted, with
    /// back-off, before the orchestrator gives up on it.
    pub max_restarts: u32,
    /// Where components and function states are kept across restarts
    /// (`orchestrator.redb`); empty: nowhere.
    pub data_dir: String,
    /// Accepted from the original's files; CoAP is not served (a warning
    /// says so when set).
    pub node_register_coap_url: String,
}

impl Config {
    /// The keys of the original EDGELESS that this orchestrator accepts but
    /// that have no effect here, with the reason (logged at start).
    pub fn without_effect(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.general.node_register_coap_url.is_empty() {
            notes.push("[general] node_register_coap_url: CoAP is not served; nodes register over gRPC (node_register_url)".to_string());
        }
        if self
            .proxy
            .dataset_settings
            .as_ref()
            .is_some_and(|d| !d.dataset_path.is_empty())
        {
            notes.push("[proxy.dataset_settings]: no CSV datasets are written; `edgeless_orc_proxy_cli dump performance` reads the mirrored samples from Redis".to_string());
        }
        notes.extend(self.telemetry.node_only_keys());
        notes
    }
}

impl Default for General {
    fn default() -> Self {
        Self {
            domain_register_url: "http://127.0.0.1:7002".into(),
            subscription_refresh_interval_sec: 2,
            domain_id: "domain-1".into(),
            orchestrator_url: "http://127.0.0.1:7003".into(),
            orchestrator_url_announced: String::new(),
            node_register_url: "http://127.0.0.1:7004".into(),
            node_lease_sec: 0,
            max_restarts: 5,
            data_dir: default_data_dir(),
            node_register_coap_url: String::new(),
        }
    }
}

/// How instances are placed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Baseline {
    /// `Random` (weighted by CPU count), `RoundRobin` or `LeastLoaded`.
    pub orchestration_strategy: Strategy,
}

/// A placement policy.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Strategy {
    /// A random eligible node, weighted by its number of CPUs.
    #[default]
    Random,
    /// Eligible nodes in turn.
    RoundRobin,
    /// The eligible node with the fewest instances per CPU.
    LeastLoaded,
}

impl Config {
    /// The URL announced to the controller: `orchestrator_url_announced`,
    /// else `orchestrator_url` (on `0.0.0.0`: with the host's address).
    pub fn announced_url(&self) -> String {
        if self.general.orchestrator_url_announced.is_empty() {
            edgeless_api::server::reachable_url(&self.general.orchestrator_url)
        } else {
            self.general.orchestrator_url_announced.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_orchestrator_file_is_accepted_and_its_unused_keys_named() {
        let original = r#"
[general]
domain_register_url = "http://127.0.0.1:7004"
subscription_refresh_interval_sec = 10
domain_id = "domain-1"
orchestrator_url = "http://0.0.0.0:7011"
orchestrator_url_announced = "http://127.0.0.1:7011"
node_register_url = "http://0.0.0.0:7012"
node_register_coap_url = "coap://0.0.0.0:7050"

[baseline]
orchestration_strategy = "Random"

[proxy]
proxy_type = "redis"
redis_url = "redis://127.0.0.1:6379"

[proxy.dataset_settings]
dataset_path = "dataset/"
append = true
additional_fields = "a,b"
additional_header = "h1,h2"
"#;
        let config: Config = toml::from_str(original).unwrap();
        assert_eq!(config.proxy.proxy_type, ProxyType::Redis);
        let notes = config.without_effect().join("\n");
        assert!(notes.contains("node_register_coap_url"), "{notes}");
        assert!(notes.contains("[proxy.dataset_settings]"), "{notes}");
    }

    #[test]
    fn the_template_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(&template()).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn strategies_are_named_as_users_know_them() {
        let parsed: Config =
            toml::from_str("[baseline]\norchestration_strategy = \"RoundRobin\"\n").unwrap();
        assert_eq!(parsed.baseline.orchestration_strategy, Strategy::RoundRobin);
        let err = toml::from_str::<Config>("[baseline]\norchestration_strategy = \"Best\"\n")
            .unwrap_err();
        assert!(err.to_string().contains("unknown variant `Best`"), "{err}");
    }
}
