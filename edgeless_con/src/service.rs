//! The controller's gRPC services: `WorkflowInstance` for clients and
//! `DomainRegistration` for orchestrators.

use edgeless_api::auth::caller;
use edgeless_api::fanout::Merge;
use edgeless_api::feed::Source;
use edgeless_api::proto::{
    self, domain_registration_server::DomainRegistration,
    domain_registration_server::DomainRegistrationServer,
    workflow_instance_server::WorkflowInstance, workflow_instance_server::WorkflowInstanceServer,
};
use futures::StreamExt;
use tonic::{Request, Response, Status};

use crate::controller::{Controller, ControllerError};

impl From<ControllerError> for Status {
    fn from(error: ControllerError) -> Self {
        let message = error.to_string();
        match error {
            ControllerError::Invalid(_) | ControllerError::BadId(_) => {
                Status::invalid_argument(message)
            }
            ControllerError::NoDomain(_) | ControllerError::Component { .. } => {
                Status::failed_precondition(message)
            }
            ControllerError::NotFound(_) => Status::not_found(message),
            ControllerError::NameTaken { .. } | ControllerError::Claimed { .. } => {
                Status::already_exists(message)
            }
            ControllerError::Domain { .. } => Status::aborted(message),
        }
    }
}

struct Service(Controller);

/// The following `Logs` and `Events` streams of this controller.
static FOLLOWS: std::sync::LazyLock<edgeless_api::auth::streams::StreamLimits> =
    std::sync::LazyLock::new(Default::default);

pub fn workflow_instance_server(
    controller: Controller,
) -> WorkflowInstanceServer<impl WorkflowInstance> {
    WorkflowInstanceServer::new(Service(controller))
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
        .max_encoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
}

pub fn domain_registration_server(
    controller: Controller,
) -> DomainRegistrationServer<impl DomainRegistration> {
    DomainRegistrationServer::new(Service(controller))
}

#[tonic::async_trait]
impl WorkflowInstance for Service {
    type LogsStream = Source<proto::LogLines>;
    type EventsStream = Source<proto::ClusterEvents>;

    async fn logs(
        &self,
        request: Request<proto::LogsRequest>,
    ) -> Result<Response<Self::LogsStream>, Status> {
        let caller = caller(&request);
        let inner = request.get_ref().clone();
        if !self.0.is_visible(&inner.workflow_id, caller.tenant_scope()) {
            return Err(ControllerError::NotFound(inner.workflow_id).into());
        }
        let (merge, follow) = (Merge::from(&inner), inner.follow);
        let sources = crate::feeds::DomainLogs {
            controller: self.0.clone(),
            request: inner,
        };
        let merged = edgeless_api::fanout::merge(sources, merge);
        Ok(Response::new(FOLLOWS.guard(&request, follow, merged)?))
    }

    async fn migrate(
        &self,
        request: Request<proto::MigrateWorkflowRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let scope = caller(&request).tenant_scope().map(str::to_string);
        let request = request.into_inner();
        self.0
            .migrate(
                &request.workflow_id,
                &request.domain_id,
                &request.component,
                scope.as_deref(),
            )
            .await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn set_node_state(
        &self,
        request: Request<proto::NodeStateRequest>,
    ) -> Result<Response<proto::Empty>, Status> {
        let request = request.into_inner();
        if !matches!(request.action.as_str(), "cordon" | "uncordon" | "drain") {
            return Err(Status::invalid_argument(format!(
                "`{}` is not a node action (cordon, uncordon, drain)",
                request.action
            )));
        }
        self.0
            .set_node_state(&request.node_id, &request.action)
            .await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn events(
        &self,
        request: Request<proto::EventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let scope = caller(&request).tenant_scope().map(str::to_string);
        let inner = request.get_ref().clone();
        let (merge, follow) = (Merge::from(&inner), inner.follow);
        let sources = crate::feeds::ClusterEvents {
            controller: self.0.clone(),
            request: inner,
        };
        let merged = edgeless_api::fanout::merge(sources, merge);
        let Some(tenant) = scope else {
            return Ok(Response::new(FOLLOWS.guard(&request, follow, merged)?));
        };
        // A tenant sees the events of its own workflows only.
        let controller = self.0.clone();
        let own = Box::pin(merged.map(move |part| {
            part.map(|mut part| {
                let own = controller.workflow_ids_of(&tenant);
                part.events.retain(|e| own.contains(&e.workflow_id));
                part
            })
        }));
        Ok(Response::new(FOLLOWS.guard(&request, follow, own)?))
    }

    async fn start(
        &self,
        request: Request<proto::SpawnWorkflowRequest>,
    ) -> Result<Response<proto::WorkflowInstanceStatus>, Status> {
        let tenant = caller(&request).tenant;
        Ok(Response::new(
            self.0.start(request.into_inner(), &tenant).await?,
        ))
    }

    async fn stop(
        &self,
        request: Request<proto::WorkflowId>,
    ) -> Result<Response<proto::Empty>, Status> {
        let caller = caller(&request);
        self.0
            .stop(&request.get_ref().workflow_id, caller.tenant_scope())
            .await?;
        Ok(Response::new(proto::Empty {}))
    }

    async fn list(
        &self,
        request: Request<proto::Empty>,
    ) -> Result<Response<proto::WorkflowIdList>, Status> {
        let workflows = self.0.list(caller(&request).tenant_scope()).await;
        Ok(Response::new(proto::WorkflowIdList {
            identifiers: workflows.iter().map(|w| w.workflow_id.clone()).collect(),
            workflows,
        }))
    }

    async fn inspect(
        &self,
        request: Request<proto::WorkflowId>,
    ) -> Result<Response<proto::WorkflowInstanceInfo>, Status> {
        let caller = caller(&request);
        Ok(Response::new(
            self.0
                .inspect(&request.get_ref().workflow_id, caller.tenant_scope())
                .await?,
        ))
    }

    async fn domain_view(
        &self,
        request: Request<proto::DomainId>,
    ) -> Result<Response<proto::DomainView>, Status> {
        let caller = caller(&request);
        let mut view = self.0.domain_view(&request.get_ref().domain_id).await?;
        // A client sees the nodes, and only its own tenant's components.
        if let Some(tenant) = caller.tenant_scope() {
            let own = self.0.workflow_ids_of(tenant);
            view.components.retain(|c| own.contains(&c.workflow_id));
        }
        Ok(Response::new(view))
    }

    async fn update(
        &self,
        request: Request<proto::UpdateWorkflowRequest>,
    ) -> Result<Response<proto::UpdateWorkflowResponse>, Status> {
        let caller = caller(&request);
        let request = request.into_inner();
        let summary = self
            .0
            .update(
                &request.workflow_id,
                request.request.unwrap_or_default(),
                caller.tenant_scope(),
            )
            .await?;
        Ok(Response::new(proto::UpdateWorkflowResponse {
            workflow_id: request.workflow_id,
            added: summary.added,
            changed: summary.changed,
            removed: summary.removed,
            kept: summary.kept,
        }))
    }

    async fn version(
        &self,
        _request: Request<proto::Empty>,
    ) -> Result<Response<proto::VersionInfo>, Status> {
        Ok(Response::new(proto::VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            api_version: edgeless_api::API_VERSION,
        }))
    }

    async fn domains(
        &self,
        request: Request<proto::DomainId>,
    ) -> Result<Response<proto::DomainCapabilitiesList>, Status> {
        Ok(Response::new(proto::DomainCapabilitiesList {
            domain_capabilities: self.0.domains(&request.get_ref().domain_id),
        }))
    }
}

#[tonic::async_trait]
impl DomainRegistration for Service {
    async fn update_domain(
        &self,
        request: Request<proto::UpdateDomainRequest>,
    ) -> Result<Response<proto::UpdateDomainResponse>, Status> {
        let orchestrator = caller(&request).name;
        let request = request.into_inner();
        // Only a domain with an ε-BAL balances HTTP requests.
        let http_routes = if request.balancer_url.is_empty() {
            Vec::new()
        } else {
            self.0.http_routes()
        };
        let response = match self.0.update_domain(request, &orchestrator) {
            Ok(reset) => proto::UpdateDomainResponse {
                error: String::new(),
                reset,
                http_routes,
            },
            Err(error) => proto::UpdateDomainResponse {
                error,
                reset: false,
                http_routes: Vec::new(),
            },
        };
        Ok(Response::new(response))
    }
}
