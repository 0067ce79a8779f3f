//! Start latency against workflow size: `edgeless_cli workflow start` of a
//! workflow of N independent functions on a cluster of three nodes (state
//! kept in a temporary folder, as a user's cluster keeps it), timed from
//! the CLI process's start to its exit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use edgeless_api::client::Channel;
use edgeless_api::proto::WorkflowId;
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;

use super::cluster::DaemonCluster;
use crate::bench::stats::Latencies;
use crate::bench::tls::Certificates;
use crate::bench::workflow_start::{wait_for_nodes, with_cluster};

/// The timed starts of one workflow size.
pub struct SizeResult {
    /// Functions in the workflow.
    pub functions: usize,
    /// Each start, CLI process included.
    pub starts: Latencies,
}

/// A workflow file of `count` functions running `code` (a WASM file), none
/// connected to another.
fn workflow_json(count: usize, code: &Path) -> String {
    let functions: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "name": format!("f{i}"),
                "class_specification": {
                    "id": "noop",
                    "function_type": "RUST_WASM",
                    "version": "0.1",
                    "code": code,
                    "outputs": []
                },
                "output_mapping": {},
                "annotations": {}
            })
        })
        .collect();
    serde_json::json!({ "functions": functions, "resources": [], "annotations": {} }).to_string()
}

/// Times `runs` starts (after one that compiles the class) of workflows of
/// each size in `sizes`, stopping each after it started: on an in-process
/// cluster, or with certificates on a [`DaemonCluster`] with mutual TLS on
/// every link (one process presents one identity, and the in-process
/// cluster's components each need their own).
pub async fn starts(
    noop_wasm: &Path,
    sizes: &[usize],
    runs: usize,
    tls: Option<&Certificates>,
) -> anyhow::Result<Vec<SizeResult>> {
    let folder = tempfile::tempdir()?;
    let noop_wasm = std::fs::canonicalize(noop_wasm)
        .map_err(|e| anyhow::anyhow!("{}: {e}", noop_wasm.display()))?;
    let mut files = Vec::new();
    for &size in sizes {
        let file = folder.path().join(format!("size-{size}.json"));
        std::fs::write(&file, workflow_json(size, &noop_wasm))?;
        files.push((size, file));
    }
    let state = folder.path().join("state");
    let nodes = 3;
    if tls.is_some() {
        let per_node = sizes.iter().max().copied().unwrap_or(0).div_ceil(nodes) + 10;
        let (cluster, client) = DaemonCluster::start(nodes, per_node, Some(&state), tls).await?;
        return time_starts(|| cluster.cli(), client, &files, runs).await;
    }
    let cli = super::daemon::sibling("edgeless_cli")?;
    let mut layout = edgeless_inabox::Layout::new(nodes, 0);
    layout.orchestrator.baseline.orchestration_strategy =
        edgeless_orc::config::Strategy::RoundRobin;
    layout.controller.data_dir = state.join("controller").display().to_string();
    layout.orchestrator.general.data_dir = state.join("orchestrator").display().to_string();
    for node in &mut layout.nodes {
        node.wasm_runtime.module_cache = false;
    }
    with_cluster(layout, async |url| {
        let channel = edgeless_api::client::channel(url)?;
        let client = wait_for_nodes(channel, nodes as u32).await?;
        let cli = || {
            let mut command = Command::new(&cli);
            command.args(["--controller-url", url]);
            Ok(command)
        };
        time_starts(cli, client, &files, runs).await
    })
    .await
}

/// Times `runs` starts of each workflow file with the `edgeless_cli`
/// commands `cli` makes, stopping each through `client`.
async fn time_starts(
    cli: impl Fn() -> anyhow::Result<Command>,
    mut client: WorkflowInstanceClient<Channel>,
    files: &[(usize, PathBuf)],
    runs: usize,
) -> anyhow::Result<Vec<SizeResult>> {
    let mut results = Vec::new();
    for (size, file) in files {
        let mut taken = Vec::new();
        for run in 0..=runs {
            let started = Instant::now();
            let output = cli()?
                .args(["workflow", "start"])
                .arg(file)
                .args(["--name", &format!("size-{size}-{run}")])
                .output()?;
            let elapsed = started.elapsed();
            if !output.status.success() {
                anyhow::bail!(
                    "edgeless_cli workflow start of {size} functions failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            // The first start compiles the class; it is not counted.
            if run > 0 {
                taken.push(elapsed);
            }
            let workflow_id = started_id(&output.stdout)?;
            client
                .stop(WorkflowId { workflow_id })
                .await
                .map_err(|s| anyhow::anyhow!("workflow not stopped: {}", s.message()))?;
        }
        let starts = Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no runs"))?;
        results.push(SizeResult {
            functions: *size,
            starts,
        });
    }
    Ok(results)
}

/// The workflow id `workflow start` prints on its first line.
fn started_id(stdout: &[u8]) -> anyhow::Result<String> {
    String::from_utf8_lossy(stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| anyhow::anyhow!("workflow start printed no id"))
}
