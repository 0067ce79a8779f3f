//! Events bound to the peer that sends them, over real gRPC streams on
//! loopback: a node's dataplane behind the authorization layer with its
//! peer credentials ([`Binding::Dataplane`]), streams from a node of its
//! domain, from another node of its domain that forges that node's
//! events, from a link without a credential, and an attempt to have the
//! node relay.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_api::auth::{Binding, LinkGrant, Role, peer_credential};
use edgeless_api::event::{Event, EventKind};
use edgeless_dataplane::{CallOutcome, Dataplane, GrpcPeerLink, InvocationService, PeerLink};
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(5);

/// Serves `dataplane` as a node does: behind the authorization layer,
/// bound to the link credential `grant`.
async fn serve_bound(dataplane: Dataplane, grant: Arc<LinkGrant>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = edgeless_api::server::bound_builder(
        edgeless_api::auth::policy::DATAPLANE,
        Some(Binding::Dataplane(grant)),
    )
    .unwrap()
    .add_service(InvocationService::new(dataplane).into_server())
    .serve_with_incoming(edgeless_api::server::incoming(listener));
    tokio::spawn(server);
    url
}

fn cast(source: InstanceId, target: InstanceId, payload: &'static [u8]) -> Event {
    Event {
        target,
        source,
        stream_id: 0,
        kind: EventKind::Cast,
        payload: Bytes::from_static(payload),
    }
}

#[tokio::test]
async fn a_stream_carries_only_its_senders_events() {
    let b = Dataplane::new(Uuid::new_v4());
    let grant = Arc::new(LinkGrant::new(Role::Orchestrator));
    let url_b = serve_bound(b.clone(), grant.clone()).await;
    let (a_id, mallory_id) = (Uuid::new_v4(), Uuid::new_v4());
    let link = |caller: Uuid| {
        let credential = peer_credential(grant.token(), caller);
        GrpcPeerLink::connect_with(b.node_id(), &url_b, &credential).unwrap()
    };
    let (from_a, from_mallory) = (link(a_id), link(mallory_id));
    let without_credential = GrpcPeerLink::connect(b.node_id(), &url_b).unwrap();
    // b's orchestrator told it about a, a node of the domain mapped to
    // its instance.
    b.set_domain_peer(a_id, true);
    let source = InstanceId::new(a_id);
    let mut target = b.register(InstanceId::new(b.node_id()));
    let target_id = target.sender().instance_id();
    b.set_inputs(target_id.function_id, [source]);

    // Mallory, a node of the domain, names a's instance as the source.
    from_mallory
        .send(cast(source, target_id, b"forged by a node"))
        .unwrap();
    // A stream without a peer credential speaks for a node of the domain.
    without_credential
        .send(cast(source, target_id, b"forged without a credential"))
        .unwrap();
    // Mallory asks b to pass an event on to another node.
    let elsewhere = InstanceId::new(Uuid::new_v4());
    from_mallory
        .send(cast(InstanceId::new(mallory_id), elsewhere, b"relayed"))
        .unwrap();
    // Mallory names a source on b itself.
    from_mallory
        .send(cast(target_id, target_id, b"from b itself"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    from_a.send(cast(source, target_id, b"from a")).unwrap();
    let first = tokio::time::timeout(DEADLINE, target.receive_next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&first.payload[..], b"from a", "a forged event got through");
}

#[tokio::test]
async fn a_reply_is_taken_only_from_the_stream_of_the_called_node() {
    let b = Dataplane::new(Uuid::new_v4());
    let grant = Arc::new(LinkGrant::new(Role::Orchestrator));
    let url_b = serve_bound(b.clone(), grant.clone()).await;
    // a serves plainly: b calls an instance there.
    let a = Dataplane::new(Uuid::new_v4());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url_a = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(InvocationService::new(a.clone()).into_server())
            .serve_with_incoming(edgeless_api::server::incoming(listener)),
    );
    let credential = peer_credential(grant.token(), a.node_id());
    a.add_peer(
        b.node_id(),
        Arc::new(GrpcPeerLink::connect_with(b.node_id(), &url_b, &credential).unwrap()),
    );
    b.add_peer(
        a.node_id(),
        Arc::new(GrpcPeerLink::connect(a.node_id(), &url_a).unwrap()),
    );
    b.set_domain_peer(a.node_id(), true);
    let mallory_id = Uuid::new_v4();
    let from_mallory = GrpcPeerLink::connect_with(
        b.node_id(),
        &url_b,
        &peer_credential(grant.token(), mallory_id),
    )
    .unwrap();

    let caller = b.register(InstanceId::new(b.node_id()));
    let mut callee = a.register(InstanceId::new(a.node_id()));
    let (caller_id, callee_id) = (caller.sender().instance_id(), callee.sender().instance_id());
    a.set_inputs(callee_id.function_id, [caller_id]);
    let sender = caller.sender().clone();
    let call = tokio::spawn(async move { sender.call(callee_id, Bytes::new(), DEADLINE).await });
    let request = tokio::time::timeout(DEADLINE, callee.receive_next())
        .await
        .unwrap()
        .unwrap();
    // Mallory knows the stream id and names the callee as the source.
    from_mallory
        .send(Event {
            target: caller_id,
            source: callee_id,
            stream_id: request.stream_id,
            kind: EventKind::CallRet,
            payload: Bytes::from_static(b"forged"),
        })
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
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
async fn a_credential_made_with_another_key_is_refused() {
    let b = Dataplane::new(Uuid::new_v4());
    let grant = Arc::new(LinkGrant::new(Role::Orchestrator));
    let url_b = serve_bound(b.clone(), grant).await;
    let wrong = LinkGrant::new(Role::Orchestrator);
    let mallory = Uuid::new_v4();
    let channel = edgeless_api::client::linked_stream_channel(
        &url_b,
        &peer_credential(wrong.token(), mallory),
    )
    .unwrap();
    let mut client =
        edgeless_api::proto::function_invocation_client::FunctionInvocationClient::new(channel);
    let status = client
        .stream(tokio_stream::iter(
            Vec::<edgeless_api::proto::EventBatch>::new(),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
}
