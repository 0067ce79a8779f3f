//! One orchestrator (a process of its own) and many real nodes (in this
//! process, each with its own agent and dataplane endpoints, refreshing at
//! the default period): how long all take to register, the orchestrator's
//! CPU while they refresh, its placement time per policy, and how long a
//! failed node's instance takes to be re-created elsewhere.

use std::time::{Duration, Instant};

use edgeless_api::proto;
use edgeless_api::proto::domain_inspection_client::DomainInspectionClient;
use edgeless_api::proto::function_instance_client::FunctionInstanceClient;
use edgeless_api::server::ListeningReport;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::cluster::{orchestrator_config, scheme};
use super::daemon::Daemon;
use crate::bench::stats::Latencies;
use crate::bench::tls::{self, Certificates};

/// What one domain size and policy gave.
pub struct NodesResult {
    /// Registered nodes.
    pub nodes: usize,
    /// The placement policy.
    pub policy: &'static str,
    /// From the first node started to every node registered.
    pub registration: Duration,
    /// The orchestrator's CPU in steady state, in cores (1.0: one core).
    pub cpu: f64,
    /// Its resident memory in steady state, in bytes.
    pub memory: u64,
    /// Median placement time (the orchestrator's histogram).
    pub placement_median: Duration,
    /// Start of one function through the orchestrator (placement, the
    /// node's start, the answer).
    pub starts: Latencies,
    /// A node running an instance stopped → the instance running on
    /// another node (with the first policy only).
    pub recovery: Option<Duration>,
}

/// The policies, by their configuration name.
pub const POLICIES: [&str; 3] = ["Random", "RoundRobin", "LeastLoaded"];

/// Nodes in this process, stopped when dropped.
pub(super) struct Nodes {
    tokens: Vec<CancellationToken>,
    ids: Vec<Uuid>,
}

/// Starts `count` nodes registering at `register_url`, each taking up to
/// `max_instances` instances, sharing the on-disk module cache
/// `module_cache` (none: each compiles for itself, in memory), presenting
/// the node certificate of `tls` (installed in this process) if any.
pub(super) fn in_process(
    count: usize,
    register_url: &str,
    module_cache: Option<&std::path::Path>,
    max_instances: usize,
    tls: Option<&Certificates>,
) -> Nodes {
    let mut tokens = Vec::with_capacity(count);
    let mut ids = Vec::with_capacity(count);
    let s = scheme(tls);
    for _ in 0..count {
        let mut config = edgeless_node::Config::default();
        config.general.node_id = Uuid::new_v4();
        config.general.agent_url = format!("{s}://127.0.0.1:0");
        config.general.invocation_url = format!("{s}://127.0.0.1:0");
        if let Some(certificates) = tls {
            config.tls = certificates.files(tls::NODE);
        }
        config.general.node_register_url = register_url.to_string();
        config.telemetry.metrics_url.clear();
        config.wasm_runtime.max_instances = max_instances;
        match module_cache {
            Some(dir) => config.wasm_runtime.module_cache_dir = dir.display().to_string(),
            None => config.wasm_runtime.module_cache = false,
        }
        ids.push(config.general.node_id);
        let token = CancellationToken::new();
        let shutdown = token.clone();
        tokio::spawn(async move {
            if let Err(error) =
                edgeless_node::run(config, shutdown, ListeningReport::default()).await
            {
                tracing::error!("{error:#}");
            }
        });
        tokens.push(token);
    }
    Nodes { tokens, ids }
}

impl Nodes {
    fn stop(&self, node: Uuid) {
        if let Some(i) = self.ids.iter().position(|id| *id == node) {
            self.tokens[i].cancel();
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for token in &self.tokens {
            token.cancel();
        }
    }
}

/// A domain size and policy that could not be measured, and why.
pub struct NodesFailure {
    /// Nodes started.
    pub nodes: usize,
    /// The placement policy.
    pub policy: &'static str,
    /// What went wrong.
    pub error: String,
}

/// Measures each node count with each policy; a count that fails is
/// reported and the larger ones are not tried.
pub async fn run(
    code: &[u8],
    counts: &[usize],
    steady: Duration,
    samples: usize,
    tls: Option<&Certificates>,
) -> anyhow::Result<Vec<Result<NodesResult, NodesFailure>>> {
    let module_cache = tempfile::tempdir()?;
    let mut results = Vec::new();
    for &count in counts {
        for (index, policy) in POLICIES.iter().enumerate() {
            let cache = module_cache.path();
            let measured = one(
                code,
                count,
                policy,
                (steady, samples),
                index == 0,
                cache,
                tls,
            );
            match measured.await {
                Ok(result) => results.push(Ok(result)),
                Err(error) => {
                    let error = format!("{error:#}");
                    results.push(Err(NodesFailure {
                        nodes: count,
                        policy,
                        error,
                    }));
                    return Ok(results);
                }
            }
        }
    }
    Ok(results)
}

async fn one(
    code: &[u8],
    count: usize,
    policy: &'static str,
    (steady, samples): (Duration, usize),
    with_recovery: bool,
    module_cache: &std::path::Path,
    tls: Option<&Certificates>,
) -> anyhow::Result<NodesResult> {
    // No controller: a stand-in takes the orchestrator's registration and
    // the link credential it hands out.
    let stand_in = super::stand_in::StandIn::start(tls.is_some()).await?;
    let config = orchestrator_config(&stand_in.url, policy, "", tls);
    let orchestrator = Daemon::start("edgeless_orc_d", &config)?;
    let orchestrator_url = orchestrator.url("orchestrator_url")?;
    // This process asks as the controller would, with that credential.
    let link = stand_in.link(Duration::from_secs(30)).await?;
    let channel = match tls {
        Some(certificates) => edgeless_api::client::channel_as_linked(
            &orchestrator_url,
            &certificates.files(tls::CONTROLLER),
            &link,
        )?,
        None => edgeless_api::client::linked_channel(&orchestrator_url, &link)?,
    };
    let mut inspection = DomainInspectionClient::new(channel.clone())
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE);
    let mut functions = FunctionInstanceClient::new(channel)
        .max_encoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE);

    let started = Instant::now();
    let register_url = orchestrator.url("node_register_url")?;
    let nodes = in_process(count, &register_url, Some(module_cache), 100, tls);
    let deadline = Duration::from_secs(120);
    loop {
        let registered = view(&mut inspection).await?.nodes.len();
        if registered >= count {
            break;
        }
        if started.elapsed() > deadline {
            anyhow::bail!("{registered} of {count} nodes registered within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let registration = started.elapsed();

    // Steady state: every node refreshing, nothing else happening.
    let before = orchestrator.cpu_time()?;
    let window = Instant::now();
    tokio::time::sleep(steady).await;
    let cpu = (orchestrator.cpu_time()? - before).as_secs_f64() / window.elapsed().as_secs_f64();
    let memory = orchestrator.resident_bytes()?;

    // Placement: starts of one function, each on the node the policy picks.
    let mut taken = Vec::new();
    let mut started_lids = Vec::new();
    for sample in 0..=samples {
        let lid = Uuid::new_v4();
        let begun = Instant::now();
        functions
            .start(spawn(lid, code))
            .await
            .map_err(|s| anyhow::anyhow!("start refused: {}", s.message()))?;
        // The first start compiles the class.
        if sample > 0 {
            taken.push(begun.elapsed());
        }
        started_lids.push(lid);
    }
    let placement_median = histogram_median(
        &metrics(&orchestrator.url("metrics_url")?).await?,
        "placement_seconds",
    )?;

    let recovery = if with_recovery && count > 1 {
        Some(recovery(&mut inspection, &nodes, started_lids[0]).await?)
    } else {
        None
    };
    for lid in started_lids {
        let _ = functions
            .stop(proto::ComponentId {
                component_id: lid.to_string(),
            })
            .await;
    }
    drop(nodes);
    Ok(NodesResult {
        nodes: count,
        policy,
        registration,
        cpu,
        memory,
        placement_median,
        starts: Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no samples"))?,
        recovery,
    })
}

fn spawn(lid: Uuid, code: &[u8]) -> proto::SpawnFunctionRequest {
    proto::SpawnFunctionRequest {
        component_id: lid.to_string(),
        code: Some(proto::FunctionClassSpecification {
            function_class_id: "noop".into(),
            function_class_type: "RUST_WASM".into(),
            function_class_version: "0.1".into(),
            function_class_code: code.to_vec().into(),
            function_class_outputs: Vec::new(),
            function_class_code_key: String::new(),
        }),
        annotations: Default::default(),
        workflow_id: Uuid::new_v4().to_string(),
        state_id: String::new(),
        serialized_state: None,
        function_name: "noop".into(),
    }
}

async fn view(
    inspection: &mut DomainInspectionClient<edgeless_api::client::Channel>,
) -> anyhow::Result<proto::DomainView> {
    Ok(inspection
        .view(proto::Empty {})
        .await
        .map_err(|s| anyhow::anyhow!("the orchestrator's view: {}", s.message()))?
        .into_inner())
}

/// Stops the node running `lid`'s instance and times until the instance
/// runs on another node.
async fn recovery(
    inspection: &mut DomainInspectionClient<edgeless_api::client::Channel>,
    nodes: &Nodes,
    lid: Uuid,
) -> anyhow::Result<Duration> {
    let node_of = |view: &proto::DomainView| -> Option<String> {
        view.components
            .iter()
            .find(|c| c.logical_id == lid.to_string())
            .and_then(|c| c.instances.first())
            .map(|i| i.node_id.clone())
    };
    let first = node_of(&view(inspection).await?)
        .ok_or_else(|| anyhow::anyhow!("component {lid} has no instance"))?;
    let stopped = Instant::now();
    nodes.stop(Uuid::parse_str(&first)?);
    loop {
        if let Some(now) = node_of(&view(inspection).await?)
            && now != first
        {
            return Ok(stopped.elapsed());
        }
        if stopped.elapsed() > Duration::from_secs(60) {
            anyhow::bail!("the instance of a stopped node was not re-created within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The text a `/metrics` endpoint serves.
async fn metrics(metrics_url: &str) -> anyhow::Result<String> {
    let address = metrics_url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {address}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// The median of Prometheus histogram `name` (`*_bucket` lines), linear
/// within the bucket that holds it.
pub fn histogram_median(text: &str, name: &str) -> anyhow::Result<Duration> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in text
        .lines()
        .filter(|l| l.contains(&format!("{name}_bucket")))
    {
        let bound = line
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .map(|b| {
                if b == "+Inf" {
                    f64::INFINITY
                } else {
                    b.parse().unwrap_or(f64::NAN)
                }
            });
        let count = line.rsplit(' ').next().and_then(|c| c.parse::<f64>().ok());
        if let (Some(bound), Some(count)) = (bound, count) {
            buckets.push((bound, count));
        }
    }
    let total = buckets.last().map(|b| b.1).unwrap_or(0.0);
    if total == 0.0 {
        anyhow::bail!("no {name} observations in the orchestrator's metrics");
    }
    let half = total / 2.0;
    let mut lower = (0.0, 0.0);
    for (bound, count) in buckets {
        if count >= half {
            let upper = if bound.is_finite() {
                bound
            } else {
                lower.0 * 2.0
            };
            let share = if count > lower.1 {
                (half - lower.1) / (count - lower.1)
            } else {
                1.0
            };
            return Ok(Duration::from_secs_f64(lower.0 + share * (upper - lower.0)));
        }
        lower = (bound, count);
    }
    anyhow::bail!("malformed {name} histogram")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_interpolated_within_its_bucket() {
        let text = "x_placement_seconds_bucket{le=\"0.001\"} 0\n\
                    x_placement_seconds_bucket{le=\"0.002\"} 10\n\
                    x_placement_seconds_bucket{le=\"+Inf\"} 10\n";
        let median = histogram_median(text, "placement_seconds").unwrap();
        assert_eq!(median, Duration::from_secs_f64(0.0015));
        assert!(histogram_median("", "placement_seconds").is_err());
    }
}
