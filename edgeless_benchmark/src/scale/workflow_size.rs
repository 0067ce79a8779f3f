//! Start latency against workflow size: `edgeless_cli workflow start` of a
//! workflow of N independent functions on an in-process cluster of three
//! nodes (state kept in a temporary folder, as a user's cluster keeps it),
//! timed from the CLI process's start to its exit.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use edgeless_api::proto::WorkflowId;

use crate::bench::stats::Latencies;
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
/// each size in `sizes`, stopping each after it started.
pub async fn starts(
    noop_wasm: &Path,
    sizes: &[usize],
    runs: usize,
) -> anyhow::Result<Vec<SizeResult>> {
    let cli = super::daemon::sibling("edgeless_cli")?;
    let folder = tempfile::tempdir()?;
    let noop_wasm = std::fs::canonicalize(noop_wasm)
        .map_err(|e| anyhow::anyhow!("{}: {e}", noop_wasm.display()))?;
    let nodes = 3;
    let mut layout = edgeless_inabox::Layout::new(nodes, 0);
    layout.orchestrator.baseline.orchestration_strategy =
        edgeless_orc::config::Strategy::RoundRobin;
    let state = folder.path().join("state");
    layout.controller.data_dir = state.join("controller").display().to_string();
    layout.orchestrator.general.data_dir = state.join("orchestrator").display().to_string();
    for node in &mut layout.nodes {
        node.wasm_runtime.module_cache = false;
    }
    with_cluster(layout, async |url| {
        let mut client = wait_for_nodes(url, nodes as u32).await?;
        let mut results = Vec::new();
        for &size in sizes {
            let file = folder.path().join(format!("size-{size}.json"));
            std::fs::write(&file, workflow_json(size, &noop_wasm))?;
            let mut taken = Vec::new();
            for run in 0..=runs {
                let started = Instant::now();
                let output = Command::new(&cli)
                    .args(["--controller-url", url, "workflow", "start"])
                    .arg(&file)
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
                functions: size,
                starts,
            });
        }
        Ok(results)
    })
    .await
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
