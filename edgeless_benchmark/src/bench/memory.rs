//! What idle instances cost: resident memory of this process before and
//! after starting many instances of one function on one node.

use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeless_api::InstanceId;

use super::exchange;
use super::node::BenchNode;

/// Resident memory of this process, in bytes (Linux, 4 KiB pages).
pub fn resident_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| anyhow::anyhow!("cannot read /proc/self/statm: {e}"))?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected /proc/self/statm: {statm:?}"))?;
    Ok(pages * 4096)
}

/// What starting `count` idle instances did.
pub struct IdleInstances {
    /// How many were started (all of them answered a call afterwards).
    pub count: usize,
    /// Growth of resident memory per instance, in bytes (linear memory the
    /// instances touched included).
    pub resident_per_instance: u64,
    /// How long starting all of them took.
    pub start_all: Duration,
}

/// Starts `count` instances of `code` on `node`, measures, checks that each
/// answers a call, and stops them.
pub async fn idle_instances(
    node: &BenchNode,
    code: &[u8],
    count: usize,
) -> anyhow::Result<IdleInstances> {
    // Compiled once beforehand, so the figure is instances only.
    let driver = node.driver();
    let warm = node.start_wasm("bounce", code, node, &driver).await?;
    node.agent.stop(warm.function_id).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = resident_bytes()?;
    let started = Instant::now();
    let mut instances: Vec<InstanceId> = Vec::with_capacity(count);
    for i in 0..count {
        let id = node
            .start_wasm("bounce", code, node, &driver)
            .await
            .map_err(|e| anyhow::anyhow!("instance {} of {count} did not start: {e:#}", i + 1))?;
        instances.push(id);
    }
    let start_all = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = resident_bytes()?;
    let payload = Bytes::from_static(b"ping");
    for id in &instances {
        exchange::call(&driver, *id, &payload).await?;
    }
    for id in &instances {
        node.agent.stop(id.function_id).await?;
    }
    Ok(IdleInstances {
        count,
        resident_per_instance: after.saturating_sub(before) / count.max(1) as u64,
        start_all,
    })
}
