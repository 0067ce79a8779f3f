//! Micro-benchmarks of the WASM path on one thread: a call into a running
//! WASM instance (`functions/pong`) and its reply, and a cold start of an
//! instance whose module is already compiled.
//!
//! `edgeless_cli function build functions/pong/function.json && cargo bench -p edgeless_node`

use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::Dataplane;
use edgeless_node::agent::{Agent, StartFunction};
use edgeless_node::runtime::WasmRuntime;
use uuid::Uuid;

fn main() {
    divan::main();
}

struct Setup {
    rt: tokio::runtime::Runtime,
    agent: Agent,
    dataplane: Dataplane,
    caller: edgeless_dataplane::DataplaneHandle,
    code: Vec<u8>,
}

fn setup() -> Setup {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/pong/pong.wasm");
    let code = std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{path}: {e}; build it first: edgeless_cli function build functions/pong/function.json"
        )
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let node = Uuid::new_v4();
    let dataplane = Dataplane::new(node);
    let agent =
        rt.block_on(async { Agent::wasm_only(dataplane.clone(), WasmRuntime::new(None).unwrap()) });
    let caller = dataplane.register(InstanceId {
        node_id: node,
        function_id: Uuid::new_v4(),
    });
    Setup {
        rt,
        agent,
        dataplane,
        caller,
        code,
    }
}

fn request(code: &[u8]) -> StartFunction {
    StartFunction::new(edgeless_api::RUST_WASM, "pong", code.to_vec())
}

/// A call from the node into a WASM instance and its reply.
#[divan::bench]
fn wasm_call_round_trip(bencher: divan::Bencher) {
    let s = setup();
    let pong =
        s.rt.block_on(s.agent.start_function(request(&s.code)))
            .unwrap();
    let caller = s.caller.sender().instance_id();
    s.dataplane.set_inputs(pong.function_id, vec![caller]);
    let payload = Bytes::from_static(b"PING");
    bencher.bench_local(|| {
        s.rt.block_on(
            s.caller
                .sender()
                .call(pong, payload.clone(), Duration::from_secs(1)),
        )
    });
}

/// Start request → instance ready and answering, module already compiled.
#[divan::bench(sample_count = 200)]
fn wasm_cold_start(bencher: divan::Bencher) {
    let s = setup();
    let warm =
        s.rt.block_on(s.agent.start_function(request(&s.code)))
            .unwrap();
    s.rt.block_on(s.agent.stop(warm.function_id)).unwrap();
    let payload = Bytes::from_static(b"PING");
    bencher.bench_local(|| {
        s.rt.block_on(async {
            let id = s.agent.start_function(request(&s.code)).await.unwrap();
            let caller = s.caller.sender().instance_id();
            s.dataplane.set_inputs(id.function_id, vec![caller]);
            s.caller
                .sender()
                .call(id, payload.clone(), Duration::from_secs(1))
                .await;
            s.agent.stop(id.function_id).await.unwrap();
        })
    });
}
