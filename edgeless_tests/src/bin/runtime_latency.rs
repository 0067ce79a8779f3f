//! Cold start and per-event latency of the same function (`pong`) run as a
//! WASM module and as a Docker container, by one in-process node agent in
//! one run. Needs a running dockerd.
//!
//! Cold start: start request at the node → the first call answered (the
//! WASM module is compiled once before; the image exists).
//! Per event: a call from an instance on the same node → its reply.
//!
//! `cargo build --release --bins && target/release/runtime_latency [CALLS] [STARTS]`

use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, Dataplane, DataplaneHandle};
use edgeless_node::agent::{Agent, StartFunction};
use edgeless_node::config;
use edgeless_node::runtime::{ContainerRuntime, WasmRuntime};
use edgeless_tests::docker::build_container_image;
use edgeless_tests::{build_function, repo_root};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn request(function_type: &str, code: &[u8]) -> StartFunction {
    StartFunction::new(function_type, "pong", code.to_vec())
}

async fn ping(caller: &DataplaneHandle, target: InstanceId) -> Duration {
    let started = Instant::now();
    let outcome = caller
        .sender()
        .call(target, Bytes::from_static(b"PING"), Duration::from_secs(10))
        .await;
    assert!(
        matches!(outcome, CallOutcome::Reply(_)),
        "no reply: {outcome:?}"
    );
    started.elapsed()
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    format!(
        "median {:>9.1?}  p99 {:>9.1?}  (n = {})",
        at(0.5),
        at(0.99),
        samples.len()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let calls: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let starts: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(10);
    build_function("pong");
    let image = build_container_image("pong");
    let wasm = std::fs::read(repo_root().join("functions/pong/pong.wasm"))?;

    let node_id = Uuid::new_v4();
    let dataplane = Dataplane::new(node_id);
    let shutdown = CancellationToken::new();
    let settings = config::ContainerRuntime {
        enabled: true,
        ..Default::default()
    };
    let (containers, serve) =
        ContainerRuntime::connect(&settings, node_id, shutdown.clone()).await?;
    tokio::spawn(serve);
    let agent = Agent::new(
        dataplane.clone(),
        (
            Some(WasmRuntime::new(None)?),
            config::WasmRuntime::default(),
        ),
        Some(containers),
        edgeless_node::resources::Providers::from_config(&Default::default(), None, Vec::new())
            .expect("the default resources are valid"),
        Default::default(),
    );
    let caller = dataplane.register(InstanceId {
        node_id,
        function_id: Uuid::new_v4(),
    });

    println!("pong, {calls} calls and {starts} cold starts per runtime:");
    for (function_type, code) in [
        ("RUST_WASM", wasm.as_slice()),
        ("CONTAINER", image.as_bytes()),
    ] {
        // The first start compiles the module (WASM) or warms Docker's caches.
        let warm = agent.start_function(request(function_type, code)).await?;
        ping(&caller, warm).await;
        let mut latencies = Vec::with_capacity(calls);
        for _ in 0..calls {
            latencies.push(ping(&caller, warm).await);
        }
        agent.stop(warm.function_id).await?;
        let mut cold = Vec::with_capacity(starts);
        for _ in 0..starts {
            let started = Instant::now();
            let id = agent.start_function(request(function_type, code)).await?;
            ping(&caller, id).await;
            cold.push(started.elapsed());
            agent.stop(id.function_id).await?;
        }
        println!("{function_type:>10} cold start: {}", summary(cold));
        println!("{function_type:>10} call:       {}", summary(latencies));
    }
    shutdown.cancel();
    Ok(())
}
