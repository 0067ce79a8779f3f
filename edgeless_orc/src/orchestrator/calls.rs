//! Requests to nodes, made outside the orchestrator task.
//!
//! The task decides what to send and builds the requests as futures that own
//! their clients; it never awaits one. The caller that asked for the change
//! awaits them (so a `workflow start` still answers once its instances run),
//! or they are spawned (peer updates, repairs). Every request has a deadline,
//! so a slow or silent node holds up only the requests sent to it.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use edgeless_api::InstanceId;
use edgeless_api::proto;
use uuid::Uuid;

use super::{OrcError, Spec, node_error};
use crate::registry::Node;

/// How long a node may take to start an instance (compiling a module or
/// starting a container); below the controller's own deadline for a start,
/// so the controller hears which node did not answer.
pub const START_DEADLINE: Duration = Duration::from_secs(25);

/// How long a node may take to stop, patch, reset or update its peers.
pub const CONTROL_DEADLINE: Duration = Duration::from_secs(5);

/// A request to a node, not yet sent.
pub type Call<T> = Pin<Box<dyn Future<Output = Result<T, OrcError>> + Send>>;

/// Requests sent in order: every request of a batch at once, the next batch
/// once the previous one has finished.
pub type Plan = Vec<Vec<Call<()>>>;

/// Runs a plan; the first error is returned once every batch has run.
pub async fn run(plan: Plan) -> Result<(), OrcError> {
    let mut first_error = None;
    for batch in plan {
        for result in futures::future::join_all(batch).await {
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Sends a plan in the background (nobody waits for it).
pub fn spawn(plan: Plan) {
    if plan.iter().any(|batch| !batch.is_empty()) {
        tokio::spawn(async move {
            let _ = run(plan).await;
        });
    }
}

/// `request` with a deadline.
fn with_deadline<T: Send + 'static>(
    deadline: Duration,
    what: &'static str,
    request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
) -> Pin<Box<dyn Future<Output = Result<T, tonic::Status>> + Send>> {
    Box::pin(async move {
        match tokio::time::timeout(deadline, request).await {
            Ok(result) => result.map(tonic::Response::into_inner),
            Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                "no answer to {what} within {deadline:?}"
            ))),
        }
    })
}

/// Starts one instance of `spec` on `node` as physical id `function_id`;
/// `state` is the function's last synced state.
pub fn start(
    node_id: Uuid,
    node: &Node,
    function_id: Uuid,
    lid: Uuid,
    spec: &Spec,
    state: Option<Vec<u8>>,
) -> Call<InstanceId> {
    let response = match spec {
        Spec::Function(request) => {
            let mut request = request.clone();
            request.component_id = function_id.to_string();
            if request.state_id.is_empty() {
                request.state_id = lid.to_string();
            }
            request.serialized_state = state;
            let client = node.functions.clone();
            let codes = node.codes.clone();
            with_deadline(START_DEADLINE, "a start", async move {
                codes.start(client, request).await
            })
        }
        Spec::Resource(request) => {
            let mut request = request.clone();
            request.component_id = function_id.to_string();
            let mut client = node.resources.clone();
            with_deadline(START_DEADLINE, "a start", async move {
                client.start(request).await
            })
        }
    };
    Box::pin(async move {
        let response = response.await.map_err(node_error(node_id))?;
        match response.instances.first().map(InstanceId::try_from) {
            Some(Ok(id)) => {
                tracing::info!(component = %lid, instance = %id, "instance started");
                Ok(id)
            }
            _ => Err(OrcError::Node {
                node: node_id,
                message: "the start response names no instance".into(),
            }),
        }
    })
}

/// Stops one instance; a failure is logged, not returned (the instance is
/// forgotten either way).
pub fn stop(node: &Node, spec: &Spec, instance: InstanceId) -> Call<()> {
    let request = proto::ComponentId {
        component_id: instance.function_id.to_string(),
    };
    let sent = match spec {
        Spec::Function(_) => {
            let mut client = node.functions.clone();
            with_deadline(CONTROL_DEADLINE, "a stop", async move {
                client.stop(request).await
            })
        }
        Spec::Resource(_) => {
            let mut client = node.resources.clone();
            with_deadline(CONTROL_DEADLINE, "a stop", async move {
                client.stop(request).await
            })
        }
    };
    Box::pin(async move {
        if let Err(status) = sent.await {
            tracing::warn!(%instance, error = %status.message(), "stop failed");
        }
        Ok(())
    })
}

/// Sends a patch to one instance. An instance that is gone is skipped (its
/// failure report restarts it, and the restart patches it again); with
/// `required`, other failures are returned, else logged.
pub fn patch(
    node: &Node,
    is_function: bool,
    instance: InstanceId,
    request: proto::PatchRequest,
    required: bool,
) -> Call<()> {
    let node_id = instance.node_id;
    let sent = if is_function {
        let mut client = node.functions.clone();
        with_deadline(CONTROL_DEADLINE, "a patch", async move {
            client.patch(request).await
        })
    } else {
        let mut client = node.resources.clone();
        with_deadline(CONTROL_DEADLINE, "a patch", async move {
            client.patch(request).await
        })
    };
    Box::pin(async move {
        match sent.await {
            Ok(_) => Ok(()),
            Err(status) if status.code() == tonic::Code::NotFound => {
                tracing::info!(%instance, "patch skipped: the instance is gone");
                Ok(())
            }
            Err(status) if required => Err(node_error(node_id)(status)),
            Err(status) => {
                tracing::warn!(%instance, error = %status.message(), "patch failed");
                Ok(())
            }
        }
    })
}

/// Tells `node` about a peer joining (`url`) or leaving (`url` empty);
/// a failure is logged.
pub fn peer(node_id: Uuid, node: &Node, peer: Uuid, url: &str) -> Call<()> {
    let sent = link(node_id, node, (peer, url, ""));
    Box::pin(async move {
        sent.await;
        Ok(())
    })
}

/// [`peer`] with the credential to present there (empty: the node's own
/// token), answering whether the node took the update.
pub fn link(
    node_id: Uuid,
    node: &Node,
    (peer, url, credential): (Uuid, &str, &str),
) -> impl Future<Output = bool> + Send + 'static {
    let kind = if url.is_empty() {
        proto::UpdatePeersRequestType::Del
    } else {
        proto::UpdatePeersRequestType::Add
    };
    let request = proto::UpdatePeersRequest {
        request_type: kind as i32,
        node_id: peer.to_string(),
        invocation_url: url.to_string(),
        link_token: credential.to_string(),
    };
    let mut client = node.management.clone();
    let sent = with_deadline(CONTROL_DEADLINE, "a peer update", async move {
        client.update_peers(request).await
    });
    async move {
        match sent.await {
            Ok(_) => true,
            Err(status) => {
                tracing::warn!(node = %node_id, %peer, error = %status.message(), "peer update failed");
                false
            }
        }
    }
}

/// Resets a joining node (it may still run instances of an earlier
/// orchestrator).
pub fn reset(node_id: Uuid, node: &Node) -> Call<()> {
    let mut client = node.management.clone();
    let sent = with_deadline(CONTROL_DEADLINE, "a reset", async move {
        client.reset(proto::Empty {}).await
    });
    Box::pin(async move { sent.await.map(|_| ()).map_err(node_error(node_id)) })
}
