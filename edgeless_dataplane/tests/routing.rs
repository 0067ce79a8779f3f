//! The dataplane with real gRPC links between two dataplanes on loopback.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_api::event::EventKind;
use edgeless_dataplane::{CallOutcome, Dataplane, DeliveryError, GrpcPeerLink, InvocationService};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(5);

/// Serves a dataplane on a free loopback port; returns its URL.
async fn serve(dataplane: Dataplane) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(InvocationService::new(dataplane).into_server())
            .serve_with_incoming(edgeless_api::server::incoming(listener)),
    );
    url
}

/// Maps `source` to `target` (whose node is `node`), as a workflow would.
fn map(node: &Dataplane, source: InstanceId, target: InstanceId) {
    node.set_inputs(target.function_id, [source]);
}

async fn two_linked_nodes() -> (Dataplane, Dataplane) {
    let (a, b) = (
        Dataplane::new(Uuid::new_v4()),
        Dataplane::new(Uuid::new_v4()),
    );
    let (url_a, url_b) = (serve(a.clone()).await, serve(b.clone()).await);
    a.add_peer(
        b.node_id(),
        Arc::new(GrpcPeerLink::connect(b.node_id(), &url_b).unwrap()),
    );
    b.add_peer(
        a.node_id(),
        Arc::new(GrpcPeerLink::connect(a.node_id(), &url_a).unwrap()),
    );
    (a, b)
}

#[tokio::test]
async fn casts_reach_local_instances_and_unknown_targets_are_reported() {
    let node = Dataplane::new(Uuid::new_v4());
    let a = node.register(InstanceId::new(node.node_id()));
    let mut b = node.register(InstanceId::new(node.node_id()));
    let b_id = b.sender().instance_id();
    map(&node, a.sender().instance_id(), b_id);
    a.sender().cast(b_id, Bytes::from_static(b"hi")).unwrap();
    let event = b.receive_next().await.unwrap();
    assert_eq!(
        (event.kind, &event.payload[..]),
        (EventKind::Cast, &b"hi"[..])
    );
    assert_eq!(event.source, a.sender().instance_id());

    let ghost = InstanceId::new(node.node_id());
    assert_eq!(
        a.sender().cast(ghost, Bytes::new()),
        Err(DeliveryError::UnknownTarget(ghost))
    );
    let elsewhere = InstanceId::new(Uuid::new_v4());
    assert_eq!(
        a.sender().cast(elsewhere, Bytes::new()),
        Err(DeliveryError::UnknownNode(elsewhere.node_id))
    );
    node.unregister(b_id);
    assert_eq!(
        a.sender().cast(b_id, Bytes::new()),
        Err(DeliveryError::UnknownTarget(b_id))
    );
}

#[tokio::test]
async fn calls_get_replies_and_time_out_when_nobody_answers() {
    let node = Dataplane::new(Uuid::new_v4());
    let caller = node.register(InstanceId::new(node.node_id()));
    let mut callee = node.register(InstanceId::new(node.node_id()));
    let callee_id = callee.sender().instance_id();
    map(&node, caller.sender().instance_id(), callee_id);
    let server = tokio::spawn(async move {
        let call = callee.receive_next().await.unwrap();
        assert_eq!(call.kind, EventKind::Call);
        let reply = [&call.payload[..], b"!"].concat();
        callee
            .sender()
            .reply(&call, CallOutcome::Reply(reply.into()))
            .unwrap();
        callee
    });
    let outcome = caller
        .sender()
        .call(callee_id, Bytes::from_static(b"ping"), DEADLINE)
        .await;
    assert_eq!(outcome, CallOutcome::Reply(Bytes::from_static(b"ping!")));
    let _silent = server.await.unwrap();

    let outcome = caller
        .sender()
        .call(callee_id, Bytes::new(), Duration::from_millis(50))
        .await;
    assert!(
        matches!(&outcome, CallOutcome::Err(e) if e.contains("no reply")),
        "{outcome:?}"
    );
    let ghost = InstanceId::new(node.node_id());
    let outcome = caller.sender().call(ghost, Bytes::new(), DEADLINE).await;
    assert!(
        matches!(&outcome, CallOutcome::Err(e) if e.contains("unknown or stopped")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn events_and_calls_cross_nodes_over_grpc_streams() {
    let (a, b) = two_linked_nodes().await;
    let caller = a.register(InstanceId::new(a.node_id()));
    let mut callee = b.register(InstanceId::new(b.node_id()));
    let callee_id = callee.sender().instance_id();
    map(&b, caller.sender().instance_id(), callee_id);
    for i in 0..100u8 {
        caller
            .sender()
            .cast(callee_id, Bytes::from(vec![i]))
            .unwrap();
    }
    for i in 0..100u8 {
        let event = tokio::time::timeout(DEADLINE, callee.receive_next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&event.payload[..], &[i], "in order");
    }
    let server = tokio::spawn(async move {
        let call = callee.receive_next().await.unwrap();
        callee.sender().reply(&call, CallOutcome::NoReply).unwrap();
        callee
    });
    let outcome = caller
        .sender()
        .call(callee_id, Bytes::from_static(b"?"), DEADLINE)
        .await;
    assert_eq!(outcome, CallOutcome::NoReply);
    let _callee = server.await.unwrap();
}

#[tokio::test]
async fn a_call_to_a_missing_remote_instance_fails_fast() {
    let (a, b) = two_linked_nodes().await;
    let caller = a.register(InstanceId::new(a.node_id()));
    let ghost = InstanceId::new(b.node_id());
    let outcome = caller.sender().call(ghost, Bytes::new(), DEADLINE).await;
    // The remote node's error reply, not the caller's deadline.
    assert!(
        matches!(&outcome, CallOutcome::Err(e) if e.contains("unknown or stopped")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_full_mailbox_is_reported_not_grown() {
    let node = Dataplane::new(Uuid::new_v4());
    let sender = node.register(InstanceId::new(node.node_id()));
    let slow = node.register(InstanceId::new(node.node_id()));
    let target = slow.sender().instance_id();
    map(&node, sender.sender().instance_id(), target);
    let results: Vec<_> = (0..edgeless_dataplane::MAILBOX_CAPACITY + 1)
        .map(|_| sender.sender().cast(target, Bytes::new()))
        .collect();
    assert!(
        results[..edgeless_dataplane::MAILBOX_CAPACITY]
            .iter()
            .all(Result::is_ok)
    );
    assert_eq!(
        results.last().unwrap(),
        &Err(DeliveryError::MailboxFull(target))
    );
}

#[tokio::test]
async fn calls_to_a_removed_peer_fail_at_once() {
    let (a, b) = two_linked_nodes().await;
    let caller = a.register(InstanceId::new(a.node_id()));
    let mut silent = b.register(InstanceId::new(b.node_id()));
    let target = silent.sender().instance_id();
    map(&b, caller.sender().instance_id(), target);
    let sender = caller.sender().clone();
    let call = tokio::spawn(async move {
        sender
            .call(target, Bytes::new(), Duration::from_secs(30))
            .await
    });
    // The call has arrived and will never be answered.
    let _request = tokio::time::timeout(DEADLINE, silent.receive_next())
        .await
        .unwrap();
    a.remove_peer(b.node_id());
    let outcome = call.await.unwrap();
    // Ended by the removal (its own error), not by the 30 s deadline.
    assert!(
        matches!(&outcome, CallOutcome::Err(e) if e.contains("left the domain")),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_huge_payload_is_refused_not_carried() {
    let node = Dataplane::new(Uuid::new_v4());
    let sender = node.register(InstanceId::new(node.node_id()));
    let target = node.register(InstanceId::new(node.node_id()));
    let huge = Bytes::from(vec![0u8; edgeless_dataplane::MAX_PAYLOAD + 1]);
    let result = sender.sender().cast(target.sender().instance_id(), huge);
    assert_eq!(
        result,
        Err(DeliveryError::TooLarge(edgeless_dataplane::MAX_PAYLOAD + 1))
    );
}

#[tokio::test]
async fn a_flood_to_an_unreachable_peer_is_bounded_and_reported() {
    let node = Dataplane::new(Uuid::new_v4());
    // A port held without listening refuses connections: the link keeps
    // trying to connect.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let peer = Uuid::new_v4();
    let url = format!("http://127.0.0.1:{port}");
    node.add_peer(peer, Arc::new(GrpcPeerLink::connect(peer, &url).unwrap()));
    let sender = node.register(InstanceId::new(node.node_id()));
    let target = InstanceId {
        node_id: peer,
        function_id: Uuid::new_v4(),
    };
    let capacity = edgeless_dataplane::PEER_QUEUE_CAPACITY;
    let refused = (0..capacity * 2)
        .map(|_| sender.sender().cast(target, Bytes::from_static(b"x")))
        .filter(|r| r == &Err(DeliveryError::PeerCongested(peer)))
        .count();
    // At most one queue's worth waits (a batch may already be taken out by
    // the link); everything beyond it is refused with a reason.
    assert!(
        refused >= capacity - 512 && refused <= capacity,
        "{refused} of {} refused",
        capacity * 2
    );
}

#[tokio::test]
async fn events_from_sources_not_mapped_to_the_target_are_refused() {
    let node = Dataplane::new(Uuid::new_v4());
    let mapped = node.register(InstanceId::new(node.node_id()));
    let stranger = node.register(InstanceId::new(node.node_id()));
    let mut target = node.register(InstanceId::new(node.node_id()));
    let target_id = target.sender().instance_id();
    map(&node, mapped.sender().instance_id(), target_id);
    let refused = stranger.sender().cast(target_id, Bytes::from_static(b"x"));
    assert_eq!(
        refused,
        Err(DeliveryError::NotMapped {
            sender: stranger.sender().instance_id(),
            target: target_id
        })
    );
    mapped
        .sender()
        .cast(target_id, Bytes::from_static(b"ok"))
        .unwrap();
    assert_eq!(&target.receive_next().await.unwrap().payload[..], b"ok");

    // Across nodes: the target's node refuses, and a call gets the reason.
    let (a, b) = two_linked_nodes().await;
    let caller = a.register(InstanceId::new(a.node_id()));
    let mut callee = b.register(InstanceId::new(b.node_id()));
    let callee_id = callee.sender().instance_id();
    caller
        .sender()
        .cast(callee_id, Bytes::from_static(b"dropped"))
        .unwrap();
    // The link keeps order: once the call's refusal is back, the cast before
    // it was handled too.
    let outcome = caller
        .sender()
        .call(callee_id, Bytes::new(), DEADLINE)
        .await;
    assert!(
        matches!(&outcome, CallOutcome::Err(e) if e.contains("is not mapped to")),
        "{outcome:?}"
    );
    map(&b, caller.sender().instance_id(), callee_id);
    caller
        .sender()
        .cast(callee_id, Bytes::from_static(b"kept"))
        .unwrap();
    let first = tokio::time::timeout(DEADLINE, callee.receive_next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        &first.payload[..],
        b"kept",
        "the unmapped cast never arrived"
    );
}

#[tokio::test]
async fn only_the_called_instance_can_answer_a_call() {
    use edgeless_api::event::Event;
    let node = Dataplane::new(Uuid::new_v4());
    let caller = node.register(InstanceId::new(node.node_id()));
    let mut callee = node.register(InstanceId::new(node.node_id()));
    let forger = node.register(InstanceId::new(node.node_id()));
    let (caller_id, callee_id) = (caller.sender().instance_id(), callee.sender().instance_id());
    map(&node, caller_id, callee_id);
    let sender = caller.sender().clone();
    let call = tokio::spawn(async move { sender.call(callee_id, Bytes::new(), DEADLINE).await });
    let request = callee.receive_next().await.unwrap();
    // Forged answers to every stream id the call may have: dropped.
    for stream_id in 0..16 {
        node.deliver(Event {
            target: caller_id,
            source: forger.sender().instance_id(),
            stream_id,
            kind: EventKind::CallRet,
            payload: Bytes::from_static(b"forged"),
        })
        .unwrap();
    }
    callee
        .sender()
        .reply(&request, CallOutcome::Reply(Bytes::from_static(b"real")))
        .unwrap();
    assert_eq!(
        call.await.unwrap(),
        CallOutcome::Reply(Bytes::from_static(b"real"))
    );
}

#[tokio::test]
async fn the_calls_an_instance_awaits_at_once_are_bounded() {
    let node = Dataplane::new(Uuid::new_v4());
    let caller = node.register(InstanceId::new(node.node_id()));
    let mut silent = node.register(InstanceId::new(node.node_id()));
    let target = silent.sender().instance_id();
    map(&node, caller.sender().instance_id(), target);
    let mut waiting = Vec::new();
    for _ in 0..edgeless_dataplane::MAX_PENDING_CALLS {
        let sender = caller.sender().clone();
        waiting.push(tokio::spawn(async move {
            sender
                .call(target, Bytes::new(), Duration::from_secs(30))
                .await
        }));
    }
    // Every call has arrived: all of them wait.
    for _ in 0..edgeless_dataplane::MAX_PENDING_CALLS {
        tokio::time::timeout(DEADLINE, silent.receive_next())
            .await
            .unwrap()
            .unwrap();
    }
    let refused = caller.sender().call(target, Bytes::new(), DEADLINE).await;
    assert!(
        matches!(&refused, CallOutcome::Err(e) if e.contains("wait for replies already")),
        "{refused:?}"
    );
    for call in waiting {
        call.abort();
    }
}
