//! The node's gRPC services: requests are converted and handed to the agent.

use std::collections::HashMap;

use edgeless_api::proto::{
    self, function_instance_server::FunctionInstance,
    function_instance_server::FunctionInstanceServer, node_management_server::NodeManagement,
    node_management_server::NodeManagementServer,
    resource_configuration_server::ResourceConfiguration,
    resource_configuration_server::ResourceConfigurationServer,
};
use edgeless_api::{InstanceId, parse_uuid};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::agent::{Agent, AgentError, StartFunction};
use crate::runtime::StartError;

impl From<AgentError> for Status {
    fn from(error: AgentError) -> Self {
        let message = error.to_string();
        match error {
            AgentError::Start(StartError::UnknownCode(_)) => Status::failed_precondition(message),
            AgentError::Invalid(_) | AgentError::Start(_) => Status::invalid_argument(message),
            AgentError::Resource(crate::resources::ResourceError::NoProvider(_)) => {
                Status::failed_precondition(message)
            }
            AgentError::Resource(_) => Status::invalid_argument(message),
            AgentError::NoRuntime(_) => Status::failed_precondition(message),
            AgentError::NotFound(_) => Status::not_found(message),
            AgentError::AlreadyRunning(_) => Status::already_exists(message),
        }
    }
}

fn invalid(error: impl std::fmt::Display) -> Status {
    Status::invalid_argument(error.to_string())
}

fn component_id(value: &str) -> Result<Uuid, Status> {
    parse_uuid("component_id", value).map_err(invalid)
}

/// The id the orchestrator chose, or nil to let the node choose.
fn requested_id(value: &str) -> Result<Uuid, Status> {
    if value.is_empty() {
        Ok(Uuid::nil())
    } else {
        component_id(value)
    }
}

/// Converts a wire output mapping into physical targets.
pub fn mapping_from_proto(
    mapping: HashMap<String, proto::InstanceIdList>,
) -> Result<HashMap<String, Vec<InstanceId>>, Status> {
    mapping
        .into_iter()
        .map(|(output, list)| {
            let targets = list
                .instances
                .iter()
                .map(InstanceId::try_from)
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            Ok((output, targets))
        })
        .collect()
}

struct Service(Agent);

pub fn function_instance_server(agent: Agent) -> FunctionInstanceServer<impl FunctionInstance> {
    FunctionInstanceServer::new(Service(agent))
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
}

pub fn resource_configuration_server(
    agent: Agent,
) -> ResourceConfigurationServer<impl ResourceConfiguration> {
    ResourceConfigurationServer::new(Service(agent))
}

pub fn node_management_server(agent: Agent) -> NodeManagementServer<impl NodeManagement> {
    NodeManagementServer::new(Service(agent))
}

#[tonic::async_trait]
impl FunctionInstance for Service {
    async fn start(
        &self,
        request: Request<proto::SpawnFunctionRequest>,
    ) -> Result<Response<proto::StartComponentResponse>, Status> {
        let request = request.into_inner();
        let function_id = requested_id(&request.component_id)?;
        let class = request
            .code
            .ok_or_else(|| invalid("missing field `code`"))?;
        let id = self
            .0
            .start_function(StartFunction {
                function_id,
                function_type: class.function_class_type,
                class_id: class.function_class_id,
                code: class.function_class_code,
                code_key: class.function_class_code_key,
                workflow_id: request.workflow_id,
                function_name: request.function_name,
                state_id: request.state_id,
                annotations: request.annotations,
                serialized_state: request.serialized_state,
            })
            .await?;
        Ok(Response::new(proto::StartComponentResponse {
            instances: vec![id.into()],
        }))
    }

    async fn stop(
        &self,
        request: Request<proto::ComponentId>,
    ) -> Result<Response<proto::Empty>, Status> {
        self.0
            .stop(component_id(&request.get_ref().component_id)?)
            .await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn patch(
        &self,
        request: Request<proto::PatchRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let request = request.into_inner();
        let id = component_id(&request.component_id)?;
        let inputs = request
            .inputs
            .into_iter()
            .map(|i| InstanceId::try_from(&i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Status::invalid_argument(format!("inputs: {e}")))?;
        let outputs = if request.inputs_only {
            None
        } else {
            Some(mapping_from_proto(request.output_mapping)?)
        };
        self.0.patch(id, request.generation, outputs, inputs)?;
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
        let function_id = requested_id(&request.component_id)?;
        let id = self
            .0
            .start_resource(function_id, &request.class_type, request.configuration)?;
        Ok(Response::new(proto::StartComponentResponse {
            instances: vec![id.into()],
        }))
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
impl NodeManagement for Service {
    async fn update_peers(
        &self,
        request: Request<proto::UpdatePeersRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        self.0.update_peers(&request.into_inner())?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn reset(
        &self,
        _request: Request<proto::Empty>,
    ) -> Result<Response<proto::Empty>, Status> {
        self.0.reset().await;
        Ok(Response::new(proto::Empty {}))
    }
}

pub fn function_logs_server(
    agent: Agent,
) -> proto::function_logs_server::FunctionLogsServer<impl proto::function_logs_server::FunctionLogs>
{
    proto::function_logs_server::FunctionLogsServer::new(Service(agent))
}

#[tonic::async_trait]
impl proto::function_logs_server::FunctionLogs for Service {
    type LogsStream = edgeless_api::feed::Source<proto::LogLines>;

    async fn logs(
        &self,
        request: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        Ok(Response::new(self.0.logs().stream(request.get_ref())))
    }
}
