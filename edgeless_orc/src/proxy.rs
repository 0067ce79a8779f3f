//! Delegated orchestration through Redis. With `proxy_type = "Redis"` the
//! orchestrator mirrors its view to Redis every second, for orchestrators
//! written by third parties, and carries out the migration intents they
//! write back. Values are JSON. Keys:
//!
//! | key | value |
//! |---|---|
//! | `node:capabilities:<node_id>` | the node's capabilities |
//! | `node:health:<node_id>` | its last health report |
//! | `provider:<provider_id>` | `{node_id, class_type, outputs}` |
//! | `instance:<logical_id>` | `{kind, class, workflow_id, instances: [{node_id, function_id}]}` |
//! | `dependency:<logical_id>` | `{output: [logical ids]}` |
//! | `performance:function_execution_time:<physical_id>` | list of seconds, appended |
//!
//! An intent is a key `intent:migrate:<logical_id>` holding comma-separated
//! node ids, plus that key pushed on the list `intents`. Keys of nodes and
//! components that are gone are deleted; Redis being down is logged and
//! retried, never fatal.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use edgeless_api::proto;
use redis::AsyncCommands;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::orchestrator::OrchestratorHandle;

/// The list of pending intents.
pub const INTENTS: &str = "intents";
/// The prefix of migration intents.
pub const MIGRATE_PREFIX: &str = "intent:migrate:";
/// The prefix of performance sample lists.
pub const PERFORMANCE_PREFIX: &str = "performance:function_execution_time:";

/// How long one round of Redis commands may take.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

fn instance_json(id: &proto::InstanceId) -> Value {
    json!({"node_id": id.node_id, "function_id": id.function_id})
}

fn capabilities_json(c: &proto::NodeCapabilities) -> Value {
    json!({
        "num_cpus": c.num_cpus, "model_name_cpu": c.model_name_cpu, "clock_freq_cpu": c.clock_freq_cpu,
        "num_cores": c.num_cores, "mem_size": c.mem_size, "labels": c.labels,
        "is_tee_running": c.is_tee_running, "has_tpm": c.has_tpm, "runtimes": c.runtimes,
        "disk_tot_space": c.disk_tot_space, "num_gpus": c.num_gpus, "model_name_gpu": c.model_name_gpu,
        "mem_size_gpu": c.mem_size_gpu,
    })
}

fn health_json(h: &proto::NodeHealthStatus) -> Value {
    json!({
        "mem_free": h.mem_free, "mem_used": h.mem_used, "mem_available": h.mem_available,
        "proc_cpu_usage": h.proc_cpu_usage, "proc_memory": h.proc_memory,
        "load_avg_1": h.load_avg_1, "load_avg_5": h.load_avg_5, "load_avg_15": h.load_avg_15,
        "tot_rx_bytes": h.tot_rx_bytes, "tot_tx_bytes": h.tot_tx_bytes, "num_instances": h.num_instances,
    })
}

/// The keys and JSON values that mirror `view`.
pub fn mirror(view: &proto::DomainView) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    for node in &view.nodes {
        let caps = node.capabilities.clone().unwrap_or_default();
        keys.insert(
            format!("node:capabilities:{}", node.node_id),
            capabilities_json(&caps).to_string(),
        );
        let health = node.health.clone().unwrap_or_default();
        keys.insert(
            format!("node:health:{}", node.node_id),
            health_json(&health).to_string(),
        );
        for provider in &node.resource_providers {
            let value = json!({"node_id": node.node_id, "class_type": provider.class_type, "outputs": provider.outputs});
            keys.insert(
                format!("provider:{}", provider.provider_id),
                value.to_string(),
            );
        }
    }
    for component in &view.components {
        let instances: Vec<Value> = component.instances.iter().map(instance_json).collect();
        let value = json!({
            "kind": component.kind, "class": component.class,
            "workflow_id": component.workflow_id, "instances": instances,
        });
        keys.insert(
            format!("instance:{}", component.logical_id),
            value.to_string(),
        );
        let dependencies: BTreeMap<&String, Vec<&String>> = component
            .output_mapping
            .iter()
            .map(|(output, list)| {
                (
                    output,
                    list.instances.iter().map(|i| &i.function_id).collect(),
                )
            })
            .collect();
        keys.insert(
            format!("dependency:{}", component.logical_id),
            json!(dependencies).to_string(),
        );
    }
    keys
}

/// Mirrors the orchestrator to Redis and applies intents until `shutdown`.
pub async fn run(
    redis_url: &str,
    handle: OrchestratorHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)
        .map_err(|e| anyhow::anyhow!("[proxy] redis_url {redis_url:?}: {e}"))?;
    let mut connection = None;
    let mut written: HashSet<String> = HashSet::new();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The URL may hold a password: logs show it hidden.
    let redis_url = &edgeless_api::secrets::redact_url(redis_url);
    tracing::info!(redis = %redis_url, "delegated orchestration proxy started");
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        if connection.is_none() {
            match tokio::time::timeout(REDIS_TIMEOUT, client.get_multiplexed_async_connection())
                .await
            {
                Ok(Ok(c)) => {
                    tracing::info!(redis = %redis_url, "connected to Redis");
                    connection = Some(c);
                }
                Ok(Err(e)) => {
                    tracing::warn!(redis = %redis_url, error = %e, "cannot connect to Redis; retrying")
                }
                Err(_) => {
                    tracing::warn!(redis = %redis_url, "Redis connection timed out; retrying")
                }
            }
        }
        let Some(conn) = connection.as_mut() else {
            continue;
        };
        let round =
            tokio::time::timeout(REDIS_TIMEOUT, sync_once(conn, &handle, &mut written)).await;
        match round {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "Redis proxy round failed; reconnecting");
                connection = None;
            }
            Err(_) => {
                tracing::warn!("Redis proxy round timed out; reconnecting");
                connection = None;
            }
        }
    }
}

async fn sync_once(
    conn: &mut redis::aio::MultiplexedConnection,
    handle: &OrchestratorHandle,
    written: &mut HashSet<String>,
) -> anyhow::Result<()> {
    let view = handle.view().await?;
    let keys = mirror(&view);
    let mut pipe = redis::pipe();
    for (key, value) in &keys {
        pipe.set(key, value).ignore();
    }
    for stale in written.iter().filter(|k| !keys.contains_key(*k)) {
        pipe.del(stale).ignore();
    }
    for (id, samples) in handle.take_samples().await? {
        if !samples.is_empty() {
            pipe.rpush(format!("{PERFORMANCE_PREFIX}{id}"), samples)
                .ignore();
        }
    }
    let _: () = pipe.query_async(conn).await?;
    *written = keys.into_keys().collect();

    while let Some(key) = conn.lpop::<_, Option<String>>(INTENTS, None).await? {
        let Some(lid) = key.strip_prefix(MIGRATE_PREFIX) else {
            tracing::warn!(%key, "unknown intent ignored");
            continue;
        };
        let targets: Option<String> = conn.get(&key).await?;
        let _: () = conn.del(&key).await?;
        let parsed = Uuid::parse_str(lid)
            .map_err(|e| e.to_string())
            .and_then(|lid| {
                let nodes = targets
                    .unwrap_or_default()
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| Uuid::parse_str(s.trim()).map_err(|e| format!("node id {s:?}: {e}")))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((lid, nodes))
            });
        match parsed {
            Ok((lid, nodes)) => match handle.migrate(lid, nodes).await {
                Ok(()) => tracing::info!(component = %lid, "migration intent carried out"),
                Err(error) => tracing::warn!(component = %lid, %error, "migration intent refused"),
            },
            Err(error) => tracing::warn!(%key, %error, "malformed migration intent ignored"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_mirrored_under_the_documented_keys() {
        let view = proto::DomainView {
            domain_id: "d".into(),
            nodes: vec![proto::NodeView {
                node_id: "n1".into(),
                capabilities: Some(proto::NodeCapabilities {
                    num_cpus: 4,
                    labels: vec!["edge".into()],
                    ..Default::default()
                }),
                resource_providers: vec![proto::ResourceProviderSpecification {
                    provider_id: "file-log-1".into(),
                    class_type: "file-log".into(),
                    outputs: vec![],
                    url: String::new(),
                }],
                ..Default::default()
            }],
            components: vec![proto::ComponentView {
                logical_id: "l1".into(),
                kind: "function".into(),
                class: "ping".into(),
                workflow_id: "w".into(),
                state: "running".into(),
                restarts: 0,
                instances: vec![proto::InstanceId {
                    node_id: "n1".into(),
                    function_id: "f1".into(),
                }],
                output_mapping: [(
                    "ponger".to_string(),
                    proto::InstanceIdList {
                        instances: vec![proto::InstanceId {
                            node_id: String::new(),
                            function_id: "l2".into(),
                        }],
                    },
                )]
                .into(),
            }],
        };
        let keys = mirror(&view);
        let get = |k: &str| -> Value { serde_json::from_str(&keys[k]).unwrap() };
        assert_eq!(get("node:capabilities:n1")["num_cpus"], 4);
        assert_eq!(get("node:capabilities:n1")["labels"][0], "edge");
        assert_eq!(get("provider:file-log-1")["node_id"], "n1");
        assert_eq!(get("instance:l1")["instances"][0]["function_id"], "f1");
        assert_eq!(get("dependency:l1")["ponger"][0], "l2");
        assert!(keys.contains_key("node:health:n1"));
    }
}
