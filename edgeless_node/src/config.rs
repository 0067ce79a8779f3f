//! The node's configuration file (`node.toml`). Every field has a default,
//! so a node also runs with no file at all; `-t FILE` writes the commented
//! template in `default.toml` with a fresh node id.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The commented template; `NODE_ID` is replaced by a fresh UUID.
const TEMPLATE: &str = include_str!("default.toml");

/// A node's configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Identity, addresses and registration.
    pub general: General,
    /// The WebAssembly runtime.
    pub wasm_runtime: WasmRuntime,
    /// The Docker container runtime.
    pub container_runtime: ContainerRuntime,
    /// Capabilities reported to the orchestrator, overriding detection.
    pub user_node_capabilities: UserNodeCapabilities,
    /// The resource providers this node hosts.
    pub resources: ResourcesConfig,
    /// Where metrics and health are served.
    pub telemetry: edgeless_api::telemetry::TelemetryConfig,
    /// TLS for the agent API, the dataplane and registration (empty: plain
    /// TCP).
    pub tls: edgeless_api::tls::TlsFiles,
    /// Who may call this daemon, and the token it presents.
    pub auth: edgeless_api::auth::AuthConfig,
}

/// The resource providers this node hosts: each is hosted when its provider
/// id is not empty. Provider ids must be unique in the domain.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcesConfig {
    /// Where the HTTP ingress server listens (needed by `http_ingress_provider`).
    pub http_ingress_url: String,
    /// Provider id of `http-ingress`.
    pub http_ingress_provider: String,
    /// Whether an `http-ingress` resource may serve every host (`*`),
    /// taking the requests of hosts no other resource serves.
    pub http_ingress_any_host: bool,
    /// Provider id of `http-egress`.
    pub http_egress_provider: String,
    /// Where resources (`http-egress`, `redis`, `kafka-egress`) may
    /// connect for workflows: host names, addresses and CIDR blocks. Empty:
    /// public addresses only (see `resources::egress_policy`).
    pub egress_allow: Vec<String>,
    /// Provider id of `file-log`.
    pub file_log_provider: String,
    /// The folder `file-log` writes in: workflows name files relative to
    /// it and cannot leave it.
    pub file_log_dir: String,
    /// The largest a `file-log` file grows, in MiB (none: 1024); events
    /// beyond it are refused, not written.
    pub file_log_max_mb: Option<u64>,
    /// Provider id of `redis`.
    pub redis_provider: String,
    /// The `ollama` provider and the Ollama server it talks to.
    pub ollama_provider: Option<OllamaProvider>,
    /// The `metrics-collector` provider and where it records.
    pub metrics_collector_provider: Option<MetricsCollectorProvider>,
    /// Accepted from the original's files; there is no `dda` resource (a
    /// warning says so when set).
    pub dda_provider: String,
    /// Provider id of `kafka-egress`.
    pub kafka_egress_provider: String,
}

/// The `ollama` provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OllamaProvider {
    /// The Ollama server's host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How many messages of a conversation are kept and sent.
    pub messages_number_limit: usize,
    /// Provider id.
    pub provider: String,
}

impl Default for OllamaProvider {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 11434,
            messages_number_limit: 30,
            provider: "ollama-1".into(),
        }
    }
}

/// The `metrics-collector` provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsCollectorProvider {
    /// Only `Redis`.
    pub collector_type: String,
    /// The Redis server samples are written to.
    pub redis_url: String,
    /// Provider id.
    pub provider: String,
}

impl Default for MetricsCollectorProvider {
    fn default() -> Self {
        Self {
            collector_type: "Redis".into(),
            redis_url: "redis://127.0.0.1:6379".into(),
            provider: "metrics-collector-1".into(),
        }
    }
}

/// Identity, addresses and registration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct General {
    /// Unique in the domain.
    pub node_id: Uuid,
    /// Where the agent API listens.
    pub agent_url: String,
    /// The agent URL given to the orchestrator (empty: `agent_url`).
    pub agent_url_announced: String,
    /// Where the dataplane listens.
    pub invocation_url: String,
    /// The dataplane URL given to peers (empty: `invocation_url`).
    pub invocation_url_announced: String,
    /// The orchestrator's node registration URL.
    pub node_register_url: String,
    /// Seconds between registrations; the orchestrator drops a node after
    /// two missed periods.
    pub subscription_refresh_interval_sec: u64,
    /// Accepted from the original's files; CoAP is not served (a warning
    /// says so when set).
    pub invocation_url_coap: String,
    /// Accepted from the original's files; unused.
    pub invocation_url_announced_coap: String,
}

impl Default for General {
    fn default() -> Self {
        Self {
            node_id: Uuid::new_v4(),
            agent_url: "http://127.0.0.1:7005".into(),
            agent_url_announced: String::new(),
            invocation_url: "http://127.0.0.1:7006".into(),
            invocation_url_announced: String::new(),
            node_register_url: "http://127.0.0.1:7004".into(),
            subscription_refresh_interval_sec: 2,
            invocation_url_coap: String::new(),
            invocation_url_announced_coap: String::new(),
        }
    }
}

/// The WebAssembly runtime.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct WasmRuntime {
    /// Offer the `RUST_WASM` function type.
    pub enabled: bool,
    /// Largest linear memory of an instance, in MiB (annotation
    /// `max_memory_mb` may lower it, never raise it).
    pub max_memory_mb: u64,
    /// CPU time an instance may spend on one event (or in `handle_init`)
    /// between host calls, in ms; past it the instance is stopped
    /// (annotation `max_cpu_ms` may lower it, never raise it).
    pub max_cpu_ms_per_event: u64,
    /// The most instances (functions and resources) this node runs at once.
    pub max_instances: usize,
    /// Keep compiled modules on disk, so a restarted node does not compile
    /// them again.
    pub module_cache: bool,
    /// Where compiled modules are kept; empty: `edgeless/wasm` in the user's
    /// cache folder (`$XDG_CACHE_HOME`, else `~/.cache`).
    pub module_cache_dir: String,
}

impl Default for WasmRuntime {
    fn default() -> Self {
        Self {
            enabled: true,
            max_memory_mb: 64,
            max_cpu_ms_per_event: 1000,
            max_instances: 2000,
            module_cache: true,
            module_cache_dir: String::new(),
        }
    }
}

impl WasmRuntime {
    /// The folder of the on-disk module cache, or `None` when it is off (or
    /// no folder is set and there is no user cache folder).
    pub fn module_cache_path(&self) -> Option<std::path::PathBuf> {
        if !self.module_cache {
            return None;
        }
        if !self.module_cache_dir.is_empty() {
            return Some(self.module_cache_dir.clone().into());
        }
        let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let base = env("XDG_CACHE_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| env("HOME").map(|home| std::path::Path::new(&home).join(".cache")))?;
        Some(base.join("edgeless").join("wasm"))
    }
}

/// The Docker container runtime (function type `CONTAINER`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ContainerRuntime {
    /// Offer the `CONTAINER` function type; the node refuses to start when
    /// Docker cannot be reached.
    pub enabled: bool,
    /// The Docker Engine's unix socket.
    pub docker_socket: String,
    /// Where the node serves container functions (the host side of the
    /// function interface). Must be reachable from inside containers. Empty:
    /// the gateway address of `network`, on a free port.
    pub guest_api_host_url: String,
    /// The Docker network containers join.
    pub network: String,
    /// Memory limit of a container, in MiB (annotation `max_memory_mb` may
    /// lower it).
    pub max_memory_mb: u64,
    /// CPU limit of a container, in CPUs (annotation `max_cpus` may lower
    /// it).
    pub max_cpus: f64,
    /// How long a container may take to serve its function interface.
    pub ready_timeout_sec: u64,
    /// The images functions may run: names, or prefixes ending in `*`.
    pub allowed_images: Vec<String>,
}

impl Default for ContainerRuntime {
    fn default() -> Self {
        Self {
            enabled: false,
            docker_socket: "/var/run/docker.sock".into(),
            guest_api_host_url: String::new(),
            network: super::runtime::container::GUEST_NETWORK.into(),
            max_memory_mb: 256,
            max_cpus: 1.0,
            ready_timeout_sec: 30,
            allowed_images: vec!["edgeless-*".into()],
        }
    }
}

/// Capabilities reported to the orchestrator. Unset values are detected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct UserNodeCapabilities {
    /// Labels used by `label_match_all` annotations.
    pub labels: Vec<String>,
    /// The node runs in a trusted execution environment.
    pub is_tee_running: bool,
    /// The node has a TPM.
    pub has_tpm: bool,
    /// Overrides the detected number of CPUs.
    pub num_cpus: Option<u32>,
    /// Overrides the detected number of cores.
    pub num_cores: Option<u32>,
    /// Overrides the detected CPU model.
    pub model_name_cpu: Option<String>,
    /// Overrides the detected memory size (MiB).
    pub mem_size: Option<u64>,
    /// The CPU frequency (MHz); detected when absent.
    pub clock_freq_cpu: Option<f32>,
    /// Disk space (MiB), reported as configured.
    pub disk_tot_space: Option<u64>,
    /// Number of GPUs, reported as configured.
    pub num_gpus: Option<u32>,
    /// The GPU model, reported as configured.
    pub model_name_gpu: Option<String>,
    /// GPU memory (MiB), reported as configured.
    pub mem_size_gpu: Option<u64>,
}

impl Config {
    /// The keys of the original EDGELESS that this node accepts but that
    /// have no effect here, with the reason (logged as warnings at start).
    pub fn without_effect(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.general.invocation_url_coap.is_empty() {
            notes.push("[general] invocation_url_coap: CoAP is not served; events arrive over gRPC (invocation_url)".to_string());
        }
        if !self.general.invocation_url_announced_coap.is_empty() {
            notes.push("[general] invocation_url_announced_coap: CoAP is not served".to_string());
        }
        if !self.resources.kafka_egress_provider.is_empty() && !cfg!(feature = "kafka") {
            notes.push("[resources] kafka_egress_provider: this node was built without the `kafka` feature; workflows that use kafka-egress are refused by placement".to_string());
        }
        let redis_keys = !self.resources.redis_provider.is_empty()
            || self.resources.metrics_collector_provider.is_some();
        if redis_keys && !cfg!(feature = "redis") {
            notes.push("[resources] redis_provider, metrics_collector_provider: this node was built without the `redis` feature; workflows that use redis or metrics-collector are refused by placement".to_string());
        }
        if !self.resources.dda_provider.is_empty() {
            notes.push("[resources] dda_provider: there is no dda resource (Data Distribution Agent); workflows that use one are refused by placement".to_string());
        }
        notes
    }

    /// Parses a configuration.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The commented template with a fresh node id.
    pub fn template() -> String {
        TEMPLATE.replace("NODE_ID", &Uuid::new_v4().to_string())
    }

    /// The agent URL announced to the orchestrator.
    pub fn announced_agent_url(&self) -> String {
        announced(&self.general.agent_url_announced, &self.general.agent_url)
    }

    /// The dataplane URL announced to peers.
    pub fn announced_invocation_url(&self) -> String {
        announced(
            &self.general.invocation_url_announced,
            &self.general.invocation_url,
        )
    }
}

/// The configured announced URL, else the bound one (on `0.0.0.0`: with the
/// host's address).
fn announced(announced: &str, bound: &str) -> String {
    if announced.is_empty() {
        edgeless_api::server::reachable_url(bound)
    } else {
        announced.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let parsed = Config::parse(&Config::template()).unwrap();
        let mut expected = Config::default();
        expected.general.node_id = parsed.general.node_id;
        assert_eq!(parsed, expected);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse("[general]\nagent_ulr = \"x\"\n").unwrap_err();
        assert!(
            err.to_string().contains("unknown field `agent_ulr`"),
            "{err}"
        );
    }

    /// A node.toml as the original EDGELESS writes it (every key it knows).
    const ORIGINAL_NODE_TOML: &str = r#"
[general]
node_id = "fda6ce79-46df-4f96-a0d2-456f720f606c"
agent_url = "http://0.0.0.0:7021"
agent_url_announced = "http://127.0.0.1:7021"
invocation_url = "http://0.0.0.0:7002"
invocation_url_announced = "http://127.0.0.1:7002"
invocation_url_coap = "coap://127.0.0.1:7002"
invocation_url_announced_coap = ""
node_register_url = "http://127.0.0.1:7012"
subscription_refresh_interval_sec = 10

[telemetry]
metrics_url = "http://127.0.0.1:7003"
log_level = "info"
performance_samples = true

[wasm_runtime]
enabled = true

[container_runtime]
enabled = false
guest_api_host_url = "http://127.0.0.1:7100"

[resources]
http_ingress_url = "http://127.0.0.1:7035"
http_ingress_provider = "http-ingress-1"
http_egress_provider = "http-egress-1"
file_log_provider = "file-log-1"
redis_provider = "redis-1"
dda_provider = "dda-1"
kafka_egress_provider = "kafka-egress-1"

[user_node_capabilities]
num_cpus = 4
model_name_cpu = "ARMv8 Processor rev 3 (v8l)"
clock_freq_cpu = 1500.0
num_cores = 4
mem_size = 3794
labels = []
is_tee_running = false
has_tpm = false
disk_tot_space = 120000
num_gpus = 0
model_name_gpu = ""
mem_size_gpu = 0
"#;

    #[test]
    fn the_original_node_file_is_accepted_and_its_unused_keys_named() {
        let config = Config::parse(ORIGINAL_NODE_TOML).unwrap();
        assert_eq!(config.user_node_capabilities.clock_freq_cpu, Some(1500.0));
        assert_eq!(config.telemetry.log_level.as_deref(), Some("info"));
        let notes = config.without_effect().join("\n");
        for key in ["invocation_url_coap", "dda_provider"] {
            assert!(notes.contains(key), "{key} in {notes}");
        }
        assert!(
            !notes.contains("invocation_url_announced_coap"),
            "empty: no note"
        );
    }

    #[test]
    fn an_empty_file_gives_the_defaults() {
        let parsed = Config::parse("").unwrap();
        assert_eq!(parsed.general.agent_url, "http://127.0.0.1:7005");
        assert!(parsed.wasm_runtime.enabled);
    }
}
