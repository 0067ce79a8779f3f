//! A controller with many workflows ([`DaemonCluster`]: the controller and
//! the orchestrator are processes of their own, three nodes run in this
//! process); workflows of one function each are started, then
//! `edgeless_cli workflow list` is timed (whole process) and the
//! controller's memory read.

use std::time::{Duration, Instant};

use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;
use futures::StreamExt;

use super::cluster::DaemonCluster;
use crate::bench::stats::Latencies;
use crate::bench::tls::Certificates;

/// What the controller did with `workflows` running.
pub struct ControllerResult {
    /// Workflows running.
    pub workflows: usize,
    /// Time to start them all (32 requests at once).
    pub start_all: Duration,
    /// `edgeless_cli workflow list`, process included.
    pub list: Latencies,
    /// The controller's resident memory with the workflows.
    pub memory: u64,
    /// Its growth per workflow (resident memory before the first and after
    /// the last start, divided).
    pub per_workflow: u64,
}

/// Starts `workflows` one-function workflows and times `list_runs` lists,
/// with mutual TLS on every link when there are certificates.
pub async fn run(
    request: &edgeless_api::proto::SpawnWorkflowRequest,
    workflows: usize,
    list_runs: usize,
    tls: Option<&Certificates>,
) -> anyhow::Result<ControllerResult> {
    let nodes = 3;
    let per_node = workflows.div_ceil(nodes) + 10;
    let (cluster, client) = DaemonCluster::start(nodes, per_node, None, tls).await?;
    let controller = &cluster.controller;

    let before = controller.resident_bytes()?;
    let begun = Instant::now();
    let starts = futures::stream::iter(0..workflows)
        .map(|i| {
            let mut client: WorkflowInstanceClient<_> = client.clone();
            let mut request = request.clone();
            request.name = format!("w{i}");
            async move { client.start(request).await }
        })
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    if let Some(Err(status)) = starts.into_iter().find(Result::is_err) {
        anyhow::bail!("a workflow did not start: {}", status.message());
    }
    let start_all = begun.elapsed();

    let mut taken = Vec::new();
    for run in 0..=list_runs {
        let begun = Instant::now();
        let output = cluster.cli()?.args(["workflow", "list"]).output()?;
        let elapsed = begun.elapsed();
        if !output.status.success() {
            anyhow::bail!(
                "edgeless_cli workflow list failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let lines = output.stdout.iter().filter(|b| **b == b'\n').count();
        if lines < workflows {
            anyhow::bail!("workflow list printed {lines} lines for {workflows} workflows");
        }
        // The first list warms the page cache for the binary.
        if run > 0 {
            taken.push(elapsed);
        }
    }
    let memory = controller.resident_bytes()?;
    drop(cluster);
    Ok(ControllerResult {
        workflows,
        start_all,
        list: Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no lists"))?,
        memory,
        per_workflow: memory.saturating_sub(before) / workflows.max(1) as u64,
    })
}
