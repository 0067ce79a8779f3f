//! The controller's logic: start, stop, list and inspect workflows, and keep
//! the domain registry.
//!
//! A workflow goes to one domain as a whole. Starting it gives every function
//! and resource a logical id, starts each at the domain's orchestrator, then
//! sends every component its output mapping (in logical ids), so events that
//! functions cast during `handle_init` find their targets. If any step fails,
//! what was started is stopped again and the error names the component.
//! State sits behind short locks that are never held across a request.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use edgeless_api::proto::{
    self, function_instance_client::FunctionInstanceClient,
    resource_configuration_client::ResourceConfigurationClient,
};
use edgeless_api::workflow::{WorkflowError, validate};
use tonic::transport::Channel;
use uuid::Uuid;

use crate::domains::{self, Domains, Registration};

/// Why a workflow request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The workflow is inconsistent.
    #[error(transparent)]
    Invalid(#[from] WorkflowError),
    /// No domain can host it.
    #[error("{0}")]
    NoDomain(String),
    /// The orchestrator refused a component.
    #[error("{kind} `{name}`: {message}")]
    Component {
        /// "function" or "resource".
        kind: &'static str,
        /// Its name in the workflow.
        name: String,
        /// What the orchestrator said.
        message: String,
    },
    /// No such workflow.
    #[error("no workflow {0}")]
    NotFound(String),
    /// A malformed id.
    #[error("invalid workflow id {0:?}")]
    BadId(String),
}

/// One component of a running workflow.
#[derive(Clone)]
struct Component {
    name: String,
    lid: Uuid,
    is_function: bool,
    instances: Vec<proto::InstanceId>,
}

/// A running workflow.
struct Workflow {
    request: proto::SpawnWorkflowRequest,
    domain_id: String,
    components: Vec<Component>,
}

/// The orchestrator clients of one domain.
#[derive(Clone)]
struct DomainClients {
    functions: FunctionInstanceClient<Channel>,
    resources: ResourceConfigurationClient<Channel>,
}

/// The controller. Cheap to clone.
#[derive(Clone, Default)]
pub struct Controller {
    domains: Arc<Mutex<Domains>>,
    workflows: Arc<Mutex<BTreeMap<Uuid, Workflow>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn parse_id(id: &str) -> Result<Uuid, ControllerError> {
    Uuid::parse_str(id).map_err(|_| ControllerError::BadId(id.to_string()))
}

impl Controller {
    /// Applies a domain's registration; answers whether it must reset.
    pub fn update_domain(&self, request: proto::UpdateDomainRequest) -> Result<bool, String> {
        let id = request.domain_id.clone();
        let url = request.orchestrator_url.clone();
        match domains::register(&mut lock(&self.domains), request)? {
            Registration::New => {
                tracing::info!(domain = %id, orchestrator = %url, "domain registered");
                Ok(false)
            }
            Registration::Refreshed => Ok(false),
            Registration::Restarted => {
                tracing::warn!(domain = %id, "the domain's orchestrator restarted");
                Ok(true)
            }
        }
    }

    /// Drops domains whose lease ran out.
    pub fn expire_domains(&self) {
        let expired = domains::expire(&mut lock(&self.domains), edgeless_api::now_secs());
        for id in expired {
            let orphans: Vec<Uuid> = lock(&self.workflows)
                .iter()
                .filter(|(_, w)| w.domain_id == id)
                .map(|(wid, _)| *wid)
                .collect();
            tracing::warn!(domain = %id, workflows = orphans.len(), "domain lease expired");
        }
    }

    /// The capabilities of one domain, or of all when `domain_id` is empty.
    pub fn domains(&self, domain_id: &str) -> Vec<proto::DomainCapabilitiesEntry> {
        lock(&self.domains)
            .iter()
            .filter(|(id, _)| domain_id.is_empty() || *id == domain_id)
            .map(|(id, d)| proto::DomainCapabilitiesEntry {
                domain_id: id.clone(),
                domain_capabilities: Some(d.capabilities.clone()),
            })
            .collect()
    }

    fn clients(&self, domain_id: &str) -> Option<DomainClients> {
        lock(&self.domains).get(domain_id).map(|d| DomainClients {
            functions: d.functions.clone(),
            resources: d.resources.clone(),
        })
    }

    /// Starts a workflow; returns its status (id and component mapping).
    pub async fn start(
        &self,
        request: proto::SpawnWorkflowRequest,
    ) -> Result<proto::WorkflowInstanceStatus, ControllerError> {
        validate(&request)?;
        let domain_id =
            domains::select(&lock(&self.domains), &request).map_err(ControllerError::NoDomain)?;
        let mut clients = self.clients(&domain_id).ok_or_else(|| {
            ControllerError::NoDomain(format!("domain `{domain_id}` disappeared"))
        })?;
        let workflow_id = Uuid::new_v4();
        let lids: HashMap<&str, Uuid> = request
            .workflow_functions
            .iter()
            .map(|f| f.name.as_str())
            .chain(request.workflow_resources.iter().map(|r| r.name.as_str()))
            .map(|name| (name, Uuid::new_v4()))
            .collect();
        let mut components = Vec::new();
        let started = self
            .start_components(&mut clients, workflow_id, &request, &lids, &mut components)
            .await;
        if let Err(error) = started {
            tracing::warn!(workflow = %workflow_id, %error, "workflow start failed; rolling back");
            stop_components(&mut clients, &components).await;
            return Err(error);
        }
        let status = status(workflow_id, &domain_id, &components);
        tracing::info!(workflow = %workflow_id, domain = %domain_id, components = components.len(), "workflow started");
        lock(&self.workflows).insert(
            workflow_id,
            Workflow {
                request,
                domain_id,
                components,
            },
        );
        Ok(status)
    }

    async fn start_components(
        &self,
        clients: &mut DomainClients,
        workflow_id: Uuid,
        request: &proto::SpawnWorkflowRequest,
        lids: &HashMap<&str, Uuid>,
        components: &mut Vec<Component>,
    ) -> Result<(), ControllerError> {
        let failed = |kind, name: &str| {
            let name = name.to_string();
            move |status: tonic::Status| ControllerError::Component {
                kind,
                name,
                message: status.message().to_string(),
            }
        };
        for function in &request.workflow_functions {
            let lid = lids[function.name.as_str()];
            let spawn = proto::SpawnFunctionRequest {
                component_id: lid.to_string(),
                code: function.class_spec.clone(),
                annotations: function.annotations.clone(),
                workflow_id: workflow_id.to_string(),
                state_id: String::new(),
            };
            let response = clients
                .functions
                .start(spawn)
                .await
                .map_err(failed("function", &function.name))?;
            components.push(Component {
                name: function.name.clone(),
                lid,
                is_function: true,
                instances: response.into_inner().instances,
            });
        }
        for resource in &request.workflow_resources {
            let lid = lids[resource.name.as_str()];
            let spec = proto::ResourceInstanceSpecification {
                component_id: lid.to_string(),
                class_type: resource.class_type.clone(),
                configuration: resource.configurations.clone(),
                workflow_id: workflow_id.to_string(),
            };
            let response = clients
                .resources
                .start(spec)
                .await
                .map_err(failed("resource", &resource.name))?;
            components.push(Component {
                name: resource.name.clone(),
                lid,
                is_function: false,
                instances: response.into_inner().instances,
            });
        }
        // Every component gets its mapping, even an empty one: until then its
        // sends wait, so nothing cast during start-up is lost.
        let mappings = request
            .workflow_functions
            .iter()
            .map(|f| (&f.name, &f.output_mapping, "function"))
            .chain(
                request
                    .workflow_resources
                    .iter()
                    .map(|r| (&r.name, &r.output_mapping, "resource")),
            );
        for (name, mapping, kind) in mappings {
            let patch = proto::PatchRequest {
                component_id: lids[name.as_str()].to_string(),
                output_mapping: mapping
                    .iter()
                    .map(|(output, target)| {
                        let target = edgeless_api::InstanceId::logical(lids[target.as_str()]);
                        (
                            output.clone(),
                            proto::InstanceIdList {
                                instances: vec![target.into()],
                            },
                        )
                    })
                    .collect(),
            };
            let result = if kind == "function" {
                clients.functions.patch(patch).await
            } else {
                clients.resources.patch(patch).await
            };
            result.map_err(failed(kind, name))?;
        }
        Ok(())
    }

    /// Stops a workflow and all its components.
    pub async fn stop(&self, workflow_id: &str) -> Result<(), ControllerError> {
        let id = parse_id(workflow_id)?;
        let workflow = lock(&self.workflows)
            .remove(&id)
            .ok_or_else(|| ControllerError::NotFound(workflow_id.to_string()))?;
        if let Some(mut clients) = self.clients(&workflow.domain_id) {
            stop_components(&mut clients, &workflow.components).await;
        }
        tracing::info!(workflow = %id, "workflow stopped");
        Ok(())
    }

    /// The ids of the running workflows.
    pub fn list(&self) -> Vec<String> {
        lock(&self.workflows).keys().map(Uuid::to_string).collect()
    }

    /// A workflow's request and status.
    pub fn inspect(
        &self,
        workflow_id: &str,
    ) -> Result<proto::WorkflowInstanceInfo, ControllerError> {
        let id = parse_id(workflow_id)?;
        let workflows = lock(&self.workflows);
        let workflow = workflows
            .get(&id)
            .ok_or_else(|| ControllerError::NotFound(workflow_id.to_string()))?;
        Ok(proto::WorkflowInstanceInfo {
            request: Some(workflow.request.clone()),
            status: Some(status(id, &workflow.domain_id, &workflow.components)),
        })
    }
}

fn status(
    workflow_id: Uuid,
    domain_id: &str,
    components: &[Component],
) -> proto::WorkflowInstanceStatus {
    proto::WorkflowInstanceStatus {
        workflow_id: workflow_id.to_string(),
        domain_mapping: components
            .iter()
            .map(|c| proto::WorkflowComponentMapping {
                name: c.name.clone(),
                function_id: c.lid.to_string(),
                domain_id: domain_id.to_string(),
                instances: c.instances.clone(),
            })
            .collect(),
    }
}

async fn stop_components(clients: &mut DomainClients, components: &[Component]) {
    for component in components {
        let request = proto::ComponentId {
            component_id: component.lid.to_string(),
        };
        let result = if component.is_function {
            clients.functions.stop(request).await.map(|_| ())
        } else {
            clients.resources.stop(request).await.map(|_| ())
        };
        if let Err(status) = result {
            tracing::warn!(component = %component.name, error = %status.message(), "stop failed");
        }
    }
}
