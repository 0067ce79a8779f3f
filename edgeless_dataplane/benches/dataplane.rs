//! Micro-benchmarks of the dataplane on one thread: a cast from one
//! instance's mailbox to another's, and a call with its reply.
//!
//! `cargo bench -p edgeless_dataplane`

use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, Dataplane};
use uuid::Uuid;

fn main() {
    divan::main();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn id(node: Uuid) -> InstanceId {
    InstanceId {
        node_id: node,
        function_id: Uuid::new_v4(),
    }
}

/// One cast delivered into the target's mailbox and taken out.
#[divan::bench]
fn local_cast(bencher: divan::Bencher) {
    let rt = runtime();
    let node = Uuid::new_v4();
    let dataplane = Dataplane::new(node);
    let (a, b) = (id(node), id(node));
    let sender = dataplane.register(a);
    let mut receiver = dataplane.register(b);
    dataplane.set_inputs(b.function_id, [a]);
    let payload = Bytes::from_static(b"0123456789abcdef");
    bencher.bench_local(|| {
        rt.block_on(async {
            sender.sender().cast(b, payload.clone()).unwrap();
            receiver.receive_next().await.unwrap()
        })
    });
}

/// One call to an instance served on the same thread, and its reply.
#[divan::bench]
fn local_call_round_trip(bencher: divan::Bencher) {
    let rt = runtime();
    let node = Uuid::new_v4();
    let dataplane = Dataplane::new(node);
    let (a, b) = (id(node), id(node));
    let caller = dataplane.register(a);
    let mut callee = dataplane.register(b);
    dataplane.set_inputs(b.function_id, [a]);
    let local = tokio::task::LocalSet::new();
    local.spawn_local(async move {
        while let Some(event) = callee.receive_next().await {
            let _ = callee
                .sender()
                .reply(&event, CallOutcome::Reply(event.payload.clone()));
        }
    });
    let payload = Bytes::from_static(b"PING");
    bencher.bench_local(|| {
        local.block_on(&rt, async {
            caller
                .sender()
                .call(b, payload.clone(), Duration::from_secs(1))
                .await
        })
    });
}
