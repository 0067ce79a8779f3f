//! `edgeless_benchmark bench`: the micro-scenarios of the performance
//! targets, run against nodes and a cluster inside this process, each
//! printed with its median, p99 and throughput, and the bare-gRPC baseline
//! (and, under it, bare TCP) beside the node-to-node figures.
//!
//! A hop is one event from one mailbox into another. Latencies of hops are
//! half the round trip driver → `bounce` instance → driver (one WASM
//! invocation per round trip); throughputs count every event, both ways.
//! The cross-node figures are measured again, last, with mutual TLS on the
//! link.

pub mod exchange;
pub mod grpc_baseline;
pub mod memory;
pub mod node;
pub mod relay;
pub mod stats;
pub mod tcp_baseline;
pub mod tls;
pub mod workflow_start;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_api::event::{Event, EventKind};
use prost::Message;

use node::BenchNode;
use stats::{Latencies, Row, mark};

/// What the scenarios do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `bounce/bounce.wasm`, `counter/counter.wasm` and
    /// `incr/incr.wasm` are.
    pub functions_dir: PathBuf,
    /// Events timed one at a time per latency scenario.
    pub samples: usize,
    /// How long each throughput scenario runs.
    pub period: Duration,
    /// Events on their way at once in the throughput scenarios.
    pub in_flight: usize,
    /// Idle instances started on one node.
    pub instances: usize,
    /// Workflow starts timed.
    pub workflow_runs: usize,
    /// Functions in the chain workflow.
    pub chain_length: usize,
    /// First of the loopback ports the in-process cluster uses (0: free
    /// ports chosen by the system).
    pub ports_from: u16,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            functions_dir: "functions".into(),
            samples: 5000,
            period: Duration::from_secs(3),
            in_flight: 256,
            instances: 1000,
            workflow_runs: 30,
            chain_length: 10,
            ports_from: 0,
        }
    }
}

pub(crate) fn function_code(dir: &Path, name: &str) -> anyhow::Result<Vec<u8>> {
    let path = dir.join(name).join(format!("{name}.wasm"));
    std::fs::read(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e}; build it with `edgeless_cli function build {}`",
            path.display(),
            dir.join(name).join("function.json").display()
        )
    })
}

/// The bytes one event with `payload` takes on a peer stream, so the
/// baseline echoes messages of the same size.
fn encoded_event_len(payload: &Bytes) -> usize {
    let id = InstanceId {
        node_id: uuid::Uuid::new_v4(),
        function_id: uuid::Uuid::new_v4(),
    };
    let event = Event {
        target: id,
        source: id,
        stream_id: 0,
        kind: EventKind::Cast,
        payload: payload.clone(),
    };
    edgeless_api::proto::EventBatch {
        events: vec![event.into()],
    }
    .encoded_len()
}

fn within(latency: &Latencies, target: Duration) -> String {
    format!("≤ {target:?} {}", mark(latency.median() <= target))
}

/// Casts to `target`: hop latency one at a time, then the rate with
/// `options.in_flight` on their way.
async fn casts(
    driver: &mut edgeless_dataplane::DataplaneHandle,
    target: InstanceId,
    payload: &Bytes,
    options: &Options,
) -> anyhow::Result<(Latencies, f64)> {
    let hop = exchange::cast_hops(driver, target, payload, options.samples.max(1)).await?;
    let rate =
        exchange::cast_throughput(driver, target, payload, options.in_flight, options.period)
            .await?;
    Ok((hop, rate))
}

/// `runs` times: a node with an empty module cache folder starts `code`
/// (compiling it), then a new node on the same folder starts it again; both
/// timed to the first call answered.
async fn first_starts(code: &[u8], runs: usize) -> anyhow::Result<(Latencies, Latencies)> {
    let payload = Bytes::from_static(b"ping");
    let (mut compiled, mut from_disk) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = std::env::temp_dir().join(format!(
            "edgeless-bench-modules-{}-{run}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        for taken in [&mut compiled, &mut from_disk] {
            let node = BenchNode::start(Some(&dir)).await?;
            let driver = node.driver();
            let started = Instant::now();
            let id = node.start_wasm("bounce", code, &node, &driver).await?;
            exchange::call(&driver, id, &payload).await?;
            taken.push(started.elapsed());
            node.agent.stop(id.function_id).await?;
        }
        // wasmtime's cache worker may still be writing its statistics
        // there: removing the folder is best effort.
        if std::fs::remove_dir_all(&dir).is_err() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    let none = || anyhow::anyhow!("no runs");
    Ok((
        Latencies::new(compiled).ok_or_else(none)?,
        Latencies::new(from_disk).ok_or_else(none)?,
    ))
}

/// Runs every scenario, handing each row to `report` as soon as it is
/// measured; returns them all.
pub async fn run(options: &Options, mut report: impl FnMut(&Row)) -> anyhow::Result<Vec<Row>> {
    let bounce = function_code(&options.functions_dir, "bounce")?;
    // Checked (and read) before anything runs.
    let chain = crate::workflows::WorkflowType::parse(&format!(
        "chain;{};{}",
        options.chain_length,
        options.functions_dir.display()
    ))?;
    let mut rows = Vec::new();
    let mut emit =
        |scenario: &str, latency: Option<Latencies>, throughput: Option<f64>, note: String| {
            let row = Row {
                scenario: scenario.to_string(),
                latency,
                throughput,
                note,
            };
            report(&row);
            rows.push(row);
        };
    let payload = Bytes::from_static(b"0123456789abcdef");
    let samples = options.samples.max(1);

    // The floor, then the baseline: bare TCP and a bare tonic stream, both
    // echoing messages of an event's size.
    let event_size = encoded_event_len(&payload);
    let blocking_hop = tcp_baseline::blocking_hops(event_size, samples).await?;
    emit(
        "floor: blocking TCP echo (std::net threads), per hop",
        Some(blocking_hop),
        None,
        "-".into(),
    );
    let tcp_hop = tcp_baseline::hops(event_size, samples).await?;
    emit(
        "floor: bare TCP echo (tokio), per hop",
        Some(tcp_hop),
        None,
        "-".into(),
    );
    let echo_payload = Bytes::from(vec![7u8; event_size]);
    let mut echo = grpc_baseline::EchoLink::open().await?;
    let base_hop = echo.hops(&echo_payload, samples).await?;
    let base_rate = 2.0
        * echo
            .throughput(&echo_payload, options.in_flight, options.period)
            .await?;
    drop(echo);
    let base_median = base_hop.median();
    emit(
        "baseline: bare tonic stream echo, per hop",
        Some(base_hop),
        Some(base_rate),
        "-".into(),
    );

    let a = BenchNode::start(None).await?;
    let b = BenchNode::start_up_to(None, options.instances.max(2000) + 1).await?;
    a.link_to(&b)?;
    b.link_to(&a)?;
    let mut driver = a.driver();
    let in_flight = options.in_flight;

    // Same node.
    let local = a.start_wasm("bounce", &bounce, &a, &driver).await?;
    let (hop, rate) = casts(&mut driver, local, &payload, options).await?;
    let note = within(&hop, Duration::from_micros(5));
    emit("same-node hop (cast)", Some(hop), None, note);
    emit(
        &format!("same-node casts, {in_flight} in flight"),
        None,
        Some(rate),
        format!("≥ 1000000/s {}", mark(rate >= 1_000_000.0)),
    );
    let call = exchange::call_round_trips(&driver, local, &payload, samples).await?;
    let note = within(&call, Duration::from_micros(10));
    emit("same-node call round trip", Some(call), None, note);

    // Across nodes.
    let remote = b.start_wasm("bounce", &bounce, &a, &driver).await?;
    let (hop, rate) = casts(&mut driver, remote, &payload, options).await?;
    let ratio = hop.median().as_secs_f64() / base_median.as_secs_f64();
    let note = format!(
        "{}; {ratio:.2}× baseline (≤ 2 {})",
        within(&hop, Duration::from_micros(60)),
        mark(ratio <= 2.0)
    );
    let (cross_median, cross_rate) = (hop.median(), rate);
    emit(
        "cross-node hop (cast, loopback gRPC)",
        Some(hop),
        None,
        note,
    );
    emit(
        &format!("cross-node casts, {in_flight} in flight"),
        None,
        Some(rate),
        format!(
            "{:.2}× baseline (≥ 0.8 {})",
            rate / base_rate,
            mark(rate / base_rate >= 0.8)
        ),
    );
    a.agent.stop(local.function_id).await?;
    b.agent.stop(remote.function_id).await?;
    // The same link to a bouncer without WASM: what the wire and the
    // routing cost alone, so the function's share is plain.
    let (native, bouncer) = b.start_native_bouncer(&a, &driver);
    let native_rate =
        exchange::cast_throughput(&mut driver, native, &payload, in_flight, options.period).await?;
    b.dataplane.unregister(native);
    bouncer.abort();
    emit(
        &format!("cross-node casts to a native bouncer (no WASM), {in_flight} in flight"),
        None,
        Some(native_rate),
        format!(
            "{:.2}× baseline; the WASM bounce runs at {:.2}× this",
            native_rate / base_rate,
            cross_rate / native_rate
        ),
    );

    // Across domains: directly, and through both domains' ε-BALs.
    let (direct, relayed) =
        relay::inter_domain_hops(&a, &mut driver, &bounce, &payload, samples).await?;
    for (scenario, hop, limit) in [
        ("inter-domain hop, nodes linked directly", direct, 1.2),
        ("inter-domain hop through both ε-BALs", relayed, 3.0),
    ] {
        let ratio = hop.median().as_secs_f64() / cross_median.as_secs_f64();
        let note = format!(
            "{ratio:.2}× the cross-node hop (≤ {limit} {})",
            mark(ratio <= limit)
        );
        emit(scenario, Some(hop), None, note);
    }

    // Cold start: start request at the node → first call answered.
    let mut starts = Vec::new();
    for _ in 0..(samples / 20).clamp(10, 500) {
        let started = Instant::now();
        let id = a.start_wasm("bounce", &bounce, &a, &driver).await?;
        exchange::call(&driver, id, &payload).await?;
        starts.push(started.elapsed());
        a.agent.stop(id.function_id).await?;
    }
    let starts = Latencies::new(starts).ok_or_else(|| anyhow::anyhow!("no starts"))?;
    let note = within(&starts, Duration::from_millis(1));
    emit("WASM cold start (compiled class)", Some(starts), None, note);

    // First start of a class: compiling, and after a restart with the
    // compiled module on disk.
    let (compiled, from_disk) = first_starts(&bounce, 5).await?;
    let speedup = compiled.median().as_secs_f64() / from_disk.median().as_secs_f64();
    emit(
        "WASM first start, compiling the module",
        Some(compiled),
        None,
        "-".into(),
    );
    emit(
        "WASM first start after a restart (disk cache)",
        Some(from_disk),
        None,
        format!("{speedup:.0}× faster than compiling"),
    );

    // Idle instances.
    let idle = memory::idle_instances(&b, &bounce, options.instances).await?;
    let kib = idle.resident_per_instance as f64 / 1024.0;
    emit(
        &format!("{} idle instances on one node", idle.count),
        None,
        None,
        format!(
            "{kib:.0} KiB resident each (≤ 200 KiB {}); all started in {:?} and answered",
            mark(kib <= 200.0),
            idle.start_all
        ),
    );
    drop((a, b));

    // Workflow start through the controller.
    let chain =
        workflow_start::starts(&chain, options.workflow_runs.max(1), options.ports_from).await?;
    let note = within(&chain, Duration::from_millis(30));
    emit(
        &format!(
            "start of a {}-function chain on 3 nodes",
            options.chain_length
        ),
        Some(chain),
        None,
        note,
    );
    // Last (it cannot be undone for this process): two nodes whose link
    // has mutual TLS, against the plain link measured above.
    let certificates = tls::Certificates::generate()?;
    certificates.install()?;
    let a = BenchNode::start(None).await?;
    let b = BenchNode::start(None).await?;
    a.link_to(&b)?;
    b.link_to(&a)?;
    let mut driver = a.driver();
    let remote = b.start_wasm("bounce", &bounce, &a, &driver).await?;
    let (hop, tls_rate) = casts(&mut driver, remote, &payload, options).await?;
    let ratio = hop.median().as_secs_f64() / cross_median.as_secs_f64();
    let note = format!("{ratio:.2}× the plain hop (≤ 1.5 {})", mark(ratio <= 1.5));
    emit("cross-node hop with mutual TLS", Some(hop), None, note);
    emit(
        &format!("cross-node casts with mutual TLS, {in_flight} in flight"),
        None,
        Some(tls_rate),
        format!("{:.2}× the plain rate", tls_rate / cross_rate),
    );
    Ok(rows)
}
