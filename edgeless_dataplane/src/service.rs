//! The `FunctionInvocation` gRPC service: where peers' streams and injected
//! events enter this node.
//!
//! A peer's stream carries only events that are its to send: for this node
//! (a node does not relay; an ε-BAL does), with a source that is not on this
//! node, and, when the stream's peer credential names its sender (a node of
//! the domain), with a source on that node. A node of the domain is also
//! believed only over its own stream: a stream without a peer credential (a
//! node of another domain, an ε-BAL) cannot speak for it. Refused events are
//! logged and dropped (a call gets no reply: its source is not believed).

use edgeless_api::auth::PeerCaller;
use edgeless_api::event::Event;
use edgeless_api::proto::{self, function_invocation_server::FunctionInvocation};
use tonic::{Request, Response, Status, Streaming};

use crate::Dataplane;

/// Serves `FunctionInvocation` for one node.
pub struct InvocationService {
    dataplane: Dataplane,
    /// Whether events for other nodes are passed on (an ε-BAL).
    relays: bool,
}

impl InvocationService {
    /// A node's service: it delivers into `dataplane` and relays nothing.
    pub fn new(dataplane: Dataplane) -> Self {
        Self {
            dataplane,
            relays: false,
        }
    }

    /// An ε-BAL's service: it passes events on to their nodes.
    pub fn relay(dataplane: Dataplane) -> Self {
        Self {
            dataplane,
            relays: true,
        }
    }

    /// Why `event`, from a stream whose credential names `caller`, is not
    /// taken; `None` when it is.
    fn refusal(&self, caller: Option<PeerCaller>, event: &Event) -> Option<String> {
        let own = self.dataplane.node_id();
        let (source, target) = (event.source.node_id, event.target.node_id);
        if !self.relays && target != own {
            return Some(format!("it is for node {target}, and nodes do not relay"));
        }
        if source == own {
            return Some("its source is on this node".into());
        }
        match caller {
            Some(PeerCaller::Node(sender)) if source != sender => Some(format!(
                "it came from node {sender} but names a source on node {source}"
            )),
            Some(PeerCaller::Node(_)) => None,
            _ if self.dataplane.is_domain_peer(source) => Some(format!(
                "node {source} is of this domain and sends over its own link only"
            )),
            _ => None,
        }
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> proto::function_invocation_server::FunctionInvocationServer<Self> {
        proto::function_invocation_server::FunctionInvocationServer::new(self)
            .max_decoding_message_size(edgeless_api::limits::MAX_DATAPLANE_MESSAGE)
    }
}

#[tonic::async_trait]
impl FunctionInvocation for InvocationService {
    async fn handle(
        &self,
        request: Request<proto::Event>,
    ) -> Result<Response<proto::Empty>, Status> {
        let event = Event::try_from(request.into_inner())
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        // Only administrators reach this method (see the dataplane policy).
        self.dataplane
            .inject(event)
            .map_err(|e| Status::not_found(e.to_string()))?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn stream(
        &self,
        request: Request<Streaming<proto::EventBatch>>,
    ) -> Result<Response<proto::Empty>, Status> {
        let caller = request.extensions().get::<PeerCaller>().copied();
        let mut batches = request.into_inner();
        while let Some(batch) = batches.message().await? {
            let count = batch.events.len() as u64;
            let bytes: usize = batch.events.iter().map(|e| e.payload.len()).sum();
            // A peer's batch holds its own events: the first one's source
            // names the peer it is counted for.
            let mut peer = None;
            for event in batch.events {
                match Event::try_from(event) {
                    Ok(event) => {
                        peer.get_or_insert(event.source.node_id);
                        match self.refusal(caller, &event) {
                            None => self.dataplane.deliver_from_peer(event),
                            Some(reason) => tracing::warn!(
                                source = %event.source,
                                target = %event.target,
                                ?caller,
                                "event from a peer refused: {reason}"
                            ),
                        }
                    }
                    Err(error) => tracing::warn!(%error, "malformed event from a peer dropped"),
                }
            }
            if let Some(peer) = peer {
                self.dataplane.count_received(peer, count, bytes as u64);
            }
        }
        Ok(Response::new(proto::Empty {}))
    }
}
