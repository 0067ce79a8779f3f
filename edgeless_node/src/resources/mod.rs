//! Resource providers: node-side components that receive and emit events
//! like functions do, and talk to the outside world.
//!
//! A provider is configured in `[resources]` of node.toml and announced to
//! the orchestrator; each `ResourceConfiguration.Start` creates an instance
//! of it with run-time `configurations`. Missing or bad keys are refused at
//! start with the key's name. An outside server that is down is logged (and
//! answered with an error to calls) while the instance keeps running.

mod catalog;
mod egress_policy;
mod file_log;
mod http_egress;
mod http_ingress;
#[cfg(feature = "kafka")]
mod kafka_egress;
#[cfg(feature = "redis")]
mod metrics_collector;
#[cfg(feature = "redis")]
use metrics_collector as metrics;
mod ollama;
#[cfg(feature = "redis")]
mod redis_setter;

use std::collections::HashMap;
use std::sync::Arc;

use edgeless_api::InstanceId;
use edgeless_api::event::{Event, EventKind};
use edgeless_dataplane::{CallOutcome, DataplaneHandle};
use tokio::sync::oneshot;

pub use catalog::{CATALOG, catalog_json, print_catalog, unknown_keys};
pub use http_ingress::IngressServer;

use crate::config::ResourcesConfig;
use crate::runtime::{OutputTable, RunningInstance};

/// Why a resource instance cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// This node has no provider for the class.
    #[error("this node hosts no provider for resource class `{0}`")]
    NoProvider(String),
    /// A required key is missing.
    #[error("{class}: missing configuration key `{key}`")]
    MissingKey {
        /// The resource class.
        class: &'static str,
        /// The key.
        key: &'static str,
    },
    /// A key has a bad value.
    #[error("{class}: configuration key `{key}`: {reason}")]
    BadValue {
        /// The resource class.
        class: &'static str,
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// What a resource instance gets.
pub struct ResourceContext {
    /// Its physical id.
    pub id: InstanceId,
    /// Run-time configuration from the workflow.
    pub configuration: HashMap<String, String>,
    /// Its mailbox and sender.
    pub dataplane: DataplaneHandle,
    /// Where its outputs lead.
    pub outputs: Arc<OutputTable>,
}

impl ResourceContext {
    /// A required configuration value.
    pub fn required(
        &self,
        class: &'static str,
        key: &'static str,
    ) -> Result<String, ResourceError> {
        self.configuration
            .get(key)
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .ok_or(ResourceError::MissingKey { class, key })
    }

    /// A switch: on when the key is present (as in the original EDGELESS,
    /// whatever the value: `""`, `true`, `yes`), off when absent or
    /// `false`, `no`, `off` or `0`.
    pub fn flag(&self, key: &'static str) -> bool {
        self.configuration.get(key).is_some_and(|v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "false" | "no" | "off" | "0"
            )
        })
    }
}

/// A provider hosted by this node.
pub trait ResourceProvider: Send + Sync {
    /// Creates an instance: checks the configuration, then starts its task.
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError>;
}

/// The providers of this node, by class type, with what is announced.
pub struct Providers {
    by_class: HashMap<&'static str, Arc<dyn ResourceProvider>>,
    /// Announced to the orchestrator.
    pub specs: Vec<edgeless_api::proto::ResourceProviderSpecification>,
}

impl Providers {
    /// The providers named in `[resources]`; the HTTP ingress provider
    /// shares `ingress` (the node's HTTP server).
    /// `own_ports` are the ports the node listens on (out of reach of
    /// `http-egress`). A bad `egress_allow` entry is an error.
    pub fn from_config(
        config: &ResourcesConfig,
        ingress: Option<&IngressServer>,
        own_ports: Vec<u16>,
    ) -> Result<Self, String> {
        let egress_policy = Arc::new(egress_policy::EgressPolicy::new(
            &config.egress_allow,
            own_ports,
        )?);
        let mut providers = Self {
            by_class: HashMap::new(),
            specs: Vec::new(),
        };
        let mut add = |id: &str, class: &'static str, provider: Arc<dyn ResourceProvider>| {
            if id.is_empty() {
                return;
            }
            let outputs = CATALOG
                .iter()
                .find(|c| c.class_type == class)
                .map(|c| c.outputs)
                .unwrap_or(&[]);
            providers
                .specs
                .push(edgeless_api::proto::ResourceProviderSpecification {
                    provider_id: id.to_string(),
                    class_type: class.to_string(),
                    outputs: outputs.iter().map(|o| o.to_string()).collect(),
                    url: if class == http_ingress::CLASS {
                        config.http_ingress_url.clone()
                    } else {
                        String::new()
                    },
                });
            providers.by_class.insert(class, provider);
        };
        add(
            &config.file_log_provider,
            file_log::CLASS,
            Arc::new(file_log::FileLog::new(
                &config.file_log_dir,
                config.file_log_max_mb.unwrap_or(file_log::DEFAULT_MAX_MB),
            )),
        );
        #[cfg(feature = "redis")]
        add(
            &config.redis_provider,
            redis_setter::CLASS,
            Arc::new(redis_setter::RedisSetter::new(egress_policy.clone())),
        );
        add(
            &config.http_egress_provider,
            http_egress::CLASS,
            Arc::new(http_egress::HttpEgress::new(egress_policy.clone())),
        );
        #[cfg(feature = "kafka")]
        add(
            &config.kafka_egress_provider,
            kafka_egress::CLASS,
            Arc::new(kafka_egress::KafkaEgress::new(egress_policy.clone())),
        );
        if let Some(ollama) = &config.ollama_provider {
            add(
                &ollama.provider,
                ollama::CLASS,
                Arc::new(ollama::Ollama::new(ollama)),
            );
        }
        #[cfg(feature = "redis")]
        if let Some(metrics) = &config.metrics_collector_provider {
            match metrics::provider(metrics) {
                Ok(provider) => add(&metrics.provider, metrics_collector::CLASS, provider),
                Err(error) => tracing::error!(%error, "metrics-collector provider not created"),
            }
        }
        if let Some(ingress) = ingress {
            add(
                &config.http_ingress_provider,
                http_ingress::CLASS,
                Arc::new(ingress.clone()),
            );
        }
        Ok(providers)
    }

    /// The provider of `class`.
    pub fn get(&self, class: &str) -> Result<Arc<dyn ResourceProvider>, ResourceError> {
        self.by_class
            .get(class)
            .cloned()
            .ok_or_else(|| ResourceError::NoProvider(class.to_string()))
    }
}

/// HTTP headers as the name → value map of the JSON messages.
fn header_map(headers: &hyper::HeaderMap) -> std::collections::BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Runs a resource instance: every event from its mailbox goes to `handle`,
/// whose answer is the reply to calls; ends on stop or unregistration.
pub fn serve<F, Fut>(mut dataplane: DataplaneHandle, mut handle: F) -> RunningInstance
where
    F: FnMut(Event) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = CallOutcome> + Send,
{
    let (stop, mut stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                event = dataplane.receive_next() => {
                    let Some(event) = event else { break };
                    let is_call = event.kind == EventKind::Call;
                    let call = is_call.then(|| event.clone());
                    let outcome = handle(event).await;
                    if let Some(call) = call
                        && let Err(error) = dataplane.sender().reply(&call, outcome)
                    {
                        tracing::warn!(instance = %call.target, %error, "reply not delivered");
                    }
                }
            }
        }
        None::<String>
    });
    RunningInstance { stop, task }
}
