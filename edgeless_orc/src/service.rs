//! The orchestrator's gRPC services: the logical `FunctionInstance` and
//! `ResourceConfiguration` APIs for the controller, and `NodeRegistration`.

use std::collections::HashMap;

use edgeless_api::feed::Source;
use edgeless_api::parse_uuid;
use edgeless_api::proto::{
    self, domain_inspection_server::DomainInspection,
    domain_inspection_server::DomainInspectionServer, function_instance_server::FunctionInstance,
    function_instance_server::FunctionInstanceServer, node_registration_server::NodeRegistration,
    node_registration_server::NodeRegistrationServer,
    resource_configuration_server::ResourceConfiguration,
    resource_configuration_server::ResourceConfigurationServer,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::orchestrator::{OrcError, OrchestratorHandle};

impl From<OrcError> for Status {
    fn from(error: OrcError) -> Self {
        let message = error.to_string();
        match error {
            OrcError::Invalid(_) => Status::invalid_argument(message),
            OrcError::Placement { .. } => Status::failed_precondition(message),
            OrcError::Node { .. } => Status::unavailable(message),
            OrcError::NotFound(_) => Status::not_found(message),
            OrcError::Stopped => Status::unavailable(message),
            OrcError::Refused(_) => Status::permission_denied(message),
        }
    }
}

fn lid(value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        return Ok(Uuid::new_v4());
    }
    parse_uuid("component_id", value).map_err(|e| Status::invalid_argument(e.to_string()))
}

fn logical_mapping(
    mapping: HashMap<String, proto::InstanceIdList>,
) -> Result<HashMap<String, Vec<Uuid>>, Status> {
    mapping
        .into_iter()
        .map(|(output, list)| {
            let targets = list
                .instances
                .iter()
                .map(|i| parse_uuid("function_id", &i.function_id))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
            Ok((output, targets))
        })
        .collect()
}

fn started(instances: Vec<edgeless_api::InstanceId>) -> Response<proto::StartComponentResponse> {
    Response::new(proto::StartComponentResponse {
        instances: instances.into_iter().map(Into::into).collect(),
    })
}

#[derive(Clone)]
struct Service(OrchestratorHandle);

/// The following `Logs` and `Events` streams of this orchestrator.
static FOLLOWS: std::sync::LazyLock<edgeless_api::auth::streams::StreamLimits> =
    std::sync::LazyLock::new(Default::default);

pub fn function_instance_server(
    handle: OrchestratorHandle,
) -> FunctionInstanceServer<impl FunctionInstance> {
    FunctionInstanceServer::new(Service(handle))
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
}

pub fn resource_configuration_server(
    handle: OrchestratorHandle,
) -> ResourceConfigurationServer<impl ResourceConfiguration> {
    ResourceConfigurationServer::new(Service(handle))
}

pub fn node_registration_server(
    handle: OrchestratorHandle,
) -> NodeRegistrationServer<impl NodeRegistration> {
    // A registration carries the node's saved states.
    NodeRegistrationServer::new(Service(handle))
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
}

#[tonic::async_trait]
impl FunctionInstance for Service {
    async fn start(
        &self,
        request: Request<proto::SpawnFunctionRequest>,
    ) -> Result<Response<proto::StartComponentResponse>, Status> {
        let request = request.into_inner();
        let lid = lid(&request.component_id)?;
        Ok(started(self.0.start_function(lid, request).await?))
    }

    async fn stop(
        &self,
        request: Request<proto::ComponentId>,
    ) -> Result<Response<proto::Empty>, Status> {
        self.0.stop(lid(&request.get_ref().component_id)?).await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn patch(
        &self,
        request: Request<proto::PatchRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let request = request.into_inner();
        let id = lid(&request.component_id)?;
        self.0
            .patch(
                id,
                logical_mapping(request.output_mapping)?,
                request.inputs_only,
            )
            .await?;
        Ok(Response::new(proto::Empty {}))
    }
}

#[tonic::async_trait]
impl ResourceConfiguration for Service {
    async fn start(
        &self,
        request: Request<proto::ResourceInstanceSpecification>,
    ) -> Result<Response<proto::StartComponentResponse>, Status> {
        let request = request.into_inner();
        let lid = lid(&request.component_id)?;
        Ok(started(self.0.start_resource(lid, request).await?))
    }

    async fn stop(
        &self,
        request: Request<proto::ComponentId>,
    ) -> Result<Response<proto::Empty>, Status> {
        FunctionInstance::stop(self, request).await
    }

    async fn patch(
        &self,
        request: Request<proto::PatchRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        FunctionInstance::patch(self, request).await
    }
}

#[tonic::async_trait]
impl NodeRegistration for Service {
    async fn update_node(
        &self,
        request: Request<proto::UpdateNodeRequest>,
    ) -> Result<Response<proto::UpdateNodeResponse>, Status> {
        let owner = edgeless_api::auth::caller(&request).name;
        let error = match self.0.update_node(request.into_inner(), &owner).await {
            Ok(()) => String::new(),
            Err(error) => error.to_string(),
        };
        Ok(Response::new(proto::UpdateNodeResponse { error }))
    }
}

pub fn domain_inspection_server(
    handle: OrchestratorHandle,
) -> DomainInspectionServer<impl DomainInspection> {
    DomainInspectionServer::new(Service(handle))
}

/// The logs of one workflow on the domain's nodes.
struct NodeLogs {
    handle: OrchestratorHandle,
    request: proto::LogsRequest,
    /// Log clients by node id, as last listed.
    agents: HashMap<String, crate::registry::LogsClient>,
}

impl edgeless_api::fanout::Sources<proto::LogLines> for NodeLogs {
    async fn keys(&mut self) -> Vec<String> {
        let nodes = self.handle.log_clients().await.unwrap_or_default();
        self.agents = nodes
            .into_iter()
            .map(|(id, client)| (id.to_string(), client))
            .collect();
        self.agents.keys().cloned().collect()
    }

    fn open(&mut self, key: &str, since: u64, follow: bool) -> Source<proto::LogLines> {
        let request = edgeless_api::fanout::logs_from(&self.request, since, follow);
        let client = self.agents.get(key).cloned();
        edgeless_api::fanout::remote(async move {
            let mut client =
                client.ok_or_else(|| Status::unavailable("the node left the domain"))?;
            client.logs(request).await
        })
    }
}

#[tonic::async_trait]
impl DomainInspection for Service {
    type LogsStream = Source<proto::LogLines>;
    type EventsStream = Source<proto::ClusterEvents>;

    async fn view(
        &self,
        _request: Request<proto::Empty>,
    ) -> Result<Response<proto::DomainView>, Status> {
        Ok(Response::new(self.0.view().await?))
    }

    async fn migrate(
        &self,
        request: Request<proto::MigrateRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let request = request.into_inner();
        let lid = parse_uuid("logical_id", &request.logical_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let nodes = request
            .node_ids
            .iter()
            .map(|n| parse_uuid("node_ids", n))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        self.0.migrate(lid, nodes).await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn logs(
        &self,
        request: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let inner = request.get_ref().clone();
        let (merge, follow) = (edgeless_api::fanout::Merge::from(&inner), inner.follow);
        let sources = NodeLogs {
            handle: self.0.clone(),
            request: inner,
            agents: HashMap::new(),
        };
        let merged = edgeless_api::fanout::merge(sources, merge);
        Ok(Response::new(FOLLOWS.guard(&request, follow, merged)?))
    }

    async fn events(
        &self,
        request: Request<proto::EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let events = self.0.events().events(request.get_ref());
        let follow = request.get_ref().follow;
        Ok(Response::new(FOLLOWS.guard(&request, follow, events)?))
    }

    async fn set_node_state(
        &self,
        request: Request<proto::NodeStateRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let request = request.into_inner();
        let node = parse_uuid("node_id", &request.node_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let action = request.action.parse().map_err(Status::invalid_argument)?;
        self.0.set_node_state(node, action).await?;
        Ok(Response::new(proto::Empty {}))
    }
}

pub fn workflow_wiring_server(
    handle: OrchestratorHandle,
) -> proto::workflow_wiring_server::WorkflowWiringServer<
    impl proto::workflow_wiring_server::WorkflowWiring,
> {
    proto::workflow_wiring_server::WorkflowWiringServer::new(Service(handle))
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
}

#[tonic::async_trait]
impl proto::workflow_wiring_server::WorkflowWiring for Service {
    async fn start_all(
        &self,
        request: Request<proto::StartRequests>,
    ) -> Result<Response<proto::StartResults>, Status> {
        let mut requests = request.into_inner();
        at_most_components(requests.starts.len())?;
        edgeless_api::code_table::unpack_starts(&mut requests).map_err(Status::invalid_argument)?;
        let started = requests.starts.into_iter().map(|start| async move {
            use proto::start_request::Component;
            let instances = match start.component {
                Some(Component::Function(spec)) => {
                    let lid = lid(&spec.component_id)?;
                    self.0.start_function(lid, spec).await?
                }
                Some(Component::Resource(spec)) => {
                    let lid = lid(&spec.component_id)?;
                    self.0.start_resource(lid, spec).await?
                }
                None => return Err(Status::invalid_argument("a start names no component")),
            };
            Ok::<_, Status>(instances)
        });
        let results = futures::future::join_all(started)
            .await
            .into_iter()
            .map(|result| match result {
                Ok(instances) => proto::StartResult {
                    instances: instances.into_iter().map(Into::into).collect(),
                    error: String::new(),
                },
                Err(status) => proto::StartResult {
                    instances: Vec::new(),
                    error: status.message().to_string(),
                },
            })
            .collect();
        Ok(Response::new(proto::StartResults { results }))
    }

    async fn patch_all(
        &self,
        request: Request<proto::PatchRequests>,
    ) -> Result<Response<proto::PatchResults>, Status> {
        let patches = request.into_inner().patches;
        at_most_components(patches.len())?;
        // Applied together: each goes through the orchestrator's task in
        // turn, and their node requests are on their way at once.
        let applied = patches.into_iter().map(|patch| async move {
            let id = lid(&patch.component_id)?;
            let mapping = logical_mapping(patch.output_mapping)?;
            self.0.patch(id, mapping, patch.inputs_only).await?;
            Ok::<(), Status>(())
        });
        let errors = futures::future::join_all(applied)
            .await
            .into_iter()
            .map(|result| {
                result
                    .err()
                    .map(|s| s.message().to_string())
                    .unwrap_or_default()
            })
            .collect();
        Ok(Response::new(proto::PatchResults { errors }))
    }

    async fn set_remotes(
        &self,
        request: Request<proto::RemoteComponents>,
    ) -> Result<Response<proto::Empty>, Status> {
        self.0.set_remotes(request.into_inner()).await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn hand_over(
        &self,
        request: Request<proto::ComponentId>,
    ) -> Result<Response<proto::ComponentState>, Status> {
        let lid = parse_uuid("component_id", &request.into_inner().component_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let state = self.0.hand_over(lid).await?;
        Ok(Response::new(proto::ComponentState { state }))
    }
}

/// Refuses a request about more components than a workflow may have.
fn at_most_components(count: usize) -> Result<(), Status> {
    let most = edgeless_api::workflow::MAX_COMPONENTS;
    if count > most {
        return Err(Status::invalid_argument(format!(
            "{count} components in one request; at most {most} are taken"
        )));
    }
    Ok(())
}
