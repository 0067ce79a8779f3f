//! Keeps the node registered at its orchestrator: an `UpdateNode` at start
//! and every refresh period, carrying a deadline (two periods ahead) and a
//! per-process nonce so the orchestrator notices a restart.

use std::time::Duration;

use edgeless_api::proto::{self, node_registration_client::NodeRegistrationClient};
use tokio_util::sync::CancellationToken;

use edgeless_api::telemetry::Readiness;

use crate::agent::Agent;
use crate::metrics::NodeMetrics;
use crate::{Config, capabilities, telemetry};

/// Registers until `shutdown`; failures are logged and retried. `readiness`
/// says whether the node is registered; the instances gauge is set at
/// every refresh. `link_token` is the credential the orchestrator presents
/// when it calls this node's agent.
pub async fn run(
    config: &Config,
    agent: Agent,
    (readiness, metrics): (Readiness, NodeMetrics),
    link_token: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let url = &config.general.node_register_url;
    let mut client = NodeRegistrationClient::new(edgeless_api::client::channel(url)?);
    let period = Duration::from_secs(config.general.subscription_refresh_interval_sec.max(1));
    let nonce: u64 = rand::random();
    let capabilities = capabilities::detect(config);
    let mut registered = false;
    let mut cpu = telemetry::CpuMeter::default();
    // Failures not yet acknowledged by the orchestrator are sent again.
    let mut unreported = Vec::new();
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
            // A failed instance is reported at once.
            _ = agent.failure_reported() => {}
        }
        let instances = agent.instance_ids().len();
        metrics.instances.set(instances as i64);
        let health = proto::NodeHealthStatus {
            function_events: agent.function_events(),
            ..telemetry::health(instances, &mut cpu)
        };
        metrics.memory.set(health.proc_memory.max(0) * 1024);
        metrics.cpu.set(i64::from(health.proc_cpu_usage));
        let request = proto::UpdateNodeRequest {
            node_id: config.general.node_id.to_string(),
            agent_url: config.announced_agent_url().to_string(),
            invocation_url: config.announced_invocation_url().to_string(),
            resource_providers: agent.resource_providers(),
            capabilities: Some(capabilities.clone()),
            refresh_deadline: edgeless_api::now_secs() + 2 * period.as_secs(),
            nonce,
            link_token: link_token.to_string(),
            health_status: Some(health),
            // Taken either way, so that they do not pile up.
            performance_samples: Some(agent.drain_samples())
                .filter(|_| config.telemetry.performance_samples != Some(false)),
            synced_states: agent.take_synced_states(),
            failed_instances: {
                unreported.extend(agent.drain_failures());
                unreported.clone()
            },
        };
        match client.update_node(request).await {
            Ok(response) if response.get_ref().error.is_empty() => {
                unreported.clear();
                readiness.set(Ok(()));
                if !registered {
                    tracing::info!(orchestrator = %url, "registered with the orchestrator");
                    registered = true;
                }
            }
            Ok(response) => {
                tracing::error!(orchestrator = %url, error = %response.get_ref().error, "registration refused");
                readiness.set(Err(format!(
                    "the orchestrator refused the node: {}",
                    response.get_ref().error
                )));
                registered = false;
            }
            Err(status) => {
                readiness.set(Err(format!(
                    "the orchestrator at {url} does not answer: {}",
                    status.message()
                )));
                if registered {
                    tracing::warn!(orchestrator = %url, error = %status.message(), "orchestrator unreachable; retrying");
                } else {
                    tracing::debug!(orchestrator = %url, error = %status.message(), "orchestrator not reachable yet");
                }
                registered = false;
            }
        }
    }
}
