//! The `FunctionInvocation` gRPC service: where peers' streams and injected
//! events enter this node.

use edgeless_api::event::Event;
use edgeless_api::proto::{self, function_invocation_server::FunctionInvocation};
use tonic::{Request, Response, Status, Streaming};

use crate::Dataplane;

/// Serves `FunctionInvocation` for one node.
pub struct InvocationService {
    dataplane: Dataplane,
}

impl InvocationService {
    /// A service that delivers into `dataplane`.
    pub fn new(dataplane: Dataplane) -> Self {
        Self { dataplane }
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
                        self.dataplane.deliver_from_peer(event);
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
