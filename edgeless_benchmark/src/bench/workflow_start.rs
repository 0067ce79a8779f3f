//! Workflow start end to end: a whole cluster in this process (controller,
//! orchestrator placing round robin, three nodes, all talking gRPC on
//! loopback), and the time from the controller's `Start` request to its
//! answer, by which every function of the workflow runs.

use std::time::{Duration, Instant};

use edgeless_api::proto::WorkflowId;
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;
use edgeless_api::server::ListeningReport;
use tokio_util::sync::CancellationToken;

use super::stats::Latencies;
use crate::workflows::WorkflowType;

/// Starts and stops `workflow` `runs` times (after one start that compiles
/// the code) on three nodes, ports from `ports_from` (0: ports the system
/// chooses).
pub async fn starts(
    workflow: &WorkflowType,
    runs: usize,
    ports_from: u16,
) -> anyhow::Result<Latencies> {
    let nodes: u32 = 3;
    let mut layout = edgeless_inabox::Layout::new(nodes as usize, ports_from);
    layout.orchestrator.baseline.orchestration_strategy =
        edgeless_orc::config::Strategy::RoundRobin;
    // A measurement keeps nothing.
    layout.controller.data_dir.clear();
    layout.orchestrator.general.data_dir.clear();
    with_cluster(layout, async |url| {
        measure(url, workflow, nodes, runs).await
    })
    .await
}

/// Runs the cluster of `layout` in this process, hands `work` its
/// controller's URL once every component listens, and stops the cluster
/// when `work` is done.
pub async fn with_cluster<T>(
    layout: edgeless_inabox::Layout,
    work: impl AsyncFnOnce(&str) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let shutdown = CancellationToken::new();
    let (sender, listening) = tokio::sync::oneshot::channel();
    let report = ListeningReport::to(move |l| {
        let _ = sender.send(l.get("controller.controller_url").map(str::to_string));
    });
    let mut cluster = tokio::spawn(edgeless_inabox::run(layout, shutdown.clone(), report));
    let controller_url = tokio::select! {
        url = listening => url.ok().flatten(),
        ended = &mut cluster => {
            return Err(match ended {
                Ok(Err(error)) => error.context("the cluster failed"),
                _ => anyhow::anyhow!("the cluster ended before it listened"),
            });
        }
    };
    let result = match controller_url {
        Some(url) => work(&url).await,
        None => Err(anyhow::anyhow!("the cluster did not report its controller")),
    };
    shutdown.cancel();
    match cluster.await {
        Ok(Err(error)) if result.is_ok() => return Err(error.context("the cluster failed")),
        _ => {}
    }
    result
}

async fn measure(
    controller_url: &str,
    workflow: &WorkflowType,
    nodes: u32,
    runs: usize,
) -> anyhow::Result<Latencies> {
    let mut client = wait_for_nodes(edgeless_api::client::channel(controller_url)?, nodes).await?;
    let mut taken = Vec::with_capacity(runs);
    for index in 0..=runs {
        let request = workflow
            .request(index)
            .ok_or_else(|| anyhow::anyhow!("the chain has no functions"))?;
        let started = Instant::now();
        let status = client
            .start(request)
            .await
            .map_err(|s| anyhow::anyhow!("workflow not started: {}", s.message()))?;
        let elapsed = started.elapsed();
        // The first run compiles the functions; it is not counted.
        if index > 0 {
            taken.push(elapsed);
        }
        let workflow_id = status.into_inner().workflow_id;
        client
            .stop(WorkflowId { workflow_id })
            .await
            .map_err(|s| anyhow::anyhow!("workflow not stopped: {}", s.message()))?;
    }
    Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no runs"))
}

/// A client of the controller on `channel`, once `nodes` nodes have
/// joined its domains (within 30 s).
pub async fn wait_for_nodes(
    channel: edgeless_api::client::Channel,
    nodes: u32,
) -> anyhow::Result<WorkflowInstanceClient<edgeless_api::client::Channel>> {
    let mut client = WorkflowInstanceClient::new(channel)
        .max_encoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let joined = client
            .domains(edgeless_api::proto::DomainId {
                domain_id: String::new(),
            })
            .await
            .map(|r| {
                r.into_inner()
                    .domain_capabilities
                    .iter()
                    .filter_map(|d| d.domain_capabilities.as_ref())
                    .map(|c| c.num_nodes)
                    .sum::<u32>()
            })
            .unwrap_or(0);
        if joined >= nodes {
            break;
        }
        if Instant::now() > deadline {
            anyhow::bail!("only {joined} of {nodes} nodes joined the cluster within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(client)
}
