//! The requests the controller sends an orchestrator about a workflow's
//! components: start (with a state, for a component moved from another
//! domain), give them their mappings, stop.

use std::collections::HashMap;

use edgeless_api::proto;
use futures::{FutureExt, StreamExt};
use uuid::Uuid;

use super::{Component, ControllerError};
use crate::domains::DomainClients;

/// What an orchestrator's refusal of component `name` becomes.
pub(super) fn refused(
    kind: &'static str,
    name: &str,
) -> impl FnOnce(tonic::Status) -> ControllerError {
    let name = name.to_string();
    move |status: tonic::Status| ControllerError::Component {
        kind,
        name,
        message: status.message().to_string(),
    }
}

/// The names of a workflow's components: functions, then resources.
pub(crate) fn component_names(
    request: &proto::SpawnWorkflowRequest,
) -> impl Iterator<Item = &String> {
    request
        .workflow_functions
        .iter()
        .map(|f| &f.name)
        .chain(request.workflow_resources.iter().map(|r| &r.name))
}

/// Starts the components of `request` whose name `wanted` picks (without
/// their mappings), adding them to `components`.
pub(crate) async fn start_some(
    (domain_id, clients): (&str, &mut DomainClients),
    workflow_id: Uuid,
    request: &proto::SpawnWorkflowRequest,
    lids: &HashMap<String, Uuid>,
    wanted: impl Fn(&str) -> bool,
    components: &mut Vec<Component>,
) -> Result<(), ControllerError> {
    let no_states = HashMap::new();
    start_with_states(
        (domain_id, clients),
        workflow_id,
        (request, lids),
        wanted,
        &no_states,
        components,
    )
    .await
}

/// [`start_some`], where functions named in `states` start from that
/// state (they come from another domain). The starts are sent together
/// (up to [`IN_FLIGHT`] at once); every component that started is added to
/// `components`, even when another failed, so a roll-back stops it.
pub(crate) async fn start_with_states(
    (domain_id, clients): (&str, &mut DomainClients),
    workflow_id: Uuid,
    (request, lids): (&proto::SpawnWorkflowRequest, &HashMap<String, Uuid>),
    wanted: impl Fn(&str) -> bool,
    states: &HashMap<String, Vec<u8>>,
    components: &mut Vec<Component>,
) -> Result<(), ControllerError> {
    let started = |name: &String, is_function: bool, instances| Component {
        name: name.clone(),
        lid: lids[name],
        is_function,
        instances,
        domain_id: domain_id.to_string(),
        previous_domain: String::new(),
    };
    let functions = request
        .workflow_functions
        .iter()
        .filter(|f| wanted(&f.name))
        .map(|function| {
            let spawn = proto::SpawnFunctionRequest {
                component_id: lids[&function.name].to_string(),
                code: function.class_spec.clone(),
                annotations: function.annotations.clone(),
                workflow_id: workflow_id.to_string(),
                state_id: String::new(),
                serialized_state: states.get(&function.name).cloned(),
                function_name: function.name.clone(),
            };
            let mut client = clients.functions.clone();
            async move {
                let response = client
                    .start(spawn)
                    .await
                    .map_err(refused("function", &function.name))?;
                Ok(started(
                    &function.name,
                    true,
                    response.into_inner().instances,
                ))
            }
            .boxed()
        });
    let resources = request
        .workflow_resources
        .iter()
        .filter(|r| wanted(&r.name))
        .map(|resource| {
            let spec = proto::ResourceInstanceSpecification {
                component_id: lids[&resource.name].to_string(),
                class_type: resource.class_type.clone(),
                configuration: resource.configurations.clone(),
                workflow_id: workflow_id.to_string(),
            };
            let mut client = clients.resources.clone();
            async move {
                let response = client
                    .start(spec)
                    .await
                    .map_err(refused("resource", &resource.name))?;
                Ok(started(
                    &resource.name,
                    false,
                    response.into_inner().instances,
                ))
            }
            .boxed()
        });
    // Collected first: the adapters' closures are not held across the wait.
    let requests: Vec<_> = functions.chain(resources).collect();
    let mut outcome = Ok(());
    for result in together(requests).await {
        match result {
            Ok(component) => components.push(component),
            Err(error) => {
                if outcome.is_ok() {
                    outcome = Err(error);
                }
            }
        }
    }
    outcome
}

/// Requests sent to one orchestrator at once.
const IN_FLIGHT: usize = 32;

/// Runs `requests`, up to [`IN_FLIGHT`] at once; their results in order.
async fn together<T>(requests: impl IntoIterator<Item = impl Future<Output = T>>) -> Vec<T> {
    futures::stream::iter(requests)
        .buffered(IN_FLIGHT)
        .collect()
        .await
}

/// Gives the components of `request` that `wanted` picks their mapping, to
/// the logical ids in `lids` (the orchestrator resolves those of other
/// domains' components from what `wiring` told it). Every component gets
/// one, even an empty one: until then its sends wait, so nothing cast
/// during start-up is lost. With `record_only`, the mappings are recorded
/// (each instance learns its sources) but not yet used: a workflow's
/// mappings are all recorded before any is used, so a reply along a
/// mapping patched later is never refused.
pub(crate) async fn patch_mappings(
    clients: &mut DomainClients,
    request: &proto::SpawnWorkflowRequest,
    lids: &HashMap<String, Uuid>,
    wanted: impl Fn(&str) -> bool,
    record_only: bool,
) -> Result<(), ControllerError> {
    let mappings = request
        .workflow_functions
        .iter()
        .map(|f| (&f.name, &f.output_mapping, "function"))
        .chain(
            request
                .workflow_resources
                .iter()
                .map(|r| (&r.name, &r.output_mapping, "resource")),
        )
        .filter(|(name, _, _)| wanted(name))
        .map(|(name, mapping, kind)| {
            let mut clients = clients.clone();
            async move { patch_one(&mut clients, lids, name, mapping, kind, record_only).await }
                .boxed()
        })
        .collect::<Vec<_>>();
    together(mappings).await.into_iter().collect()
}

/// Sends one component's mapping (logical ids) to its orchestrator.
async fn patch_one(
    clients: &mut DomainClients,
    lids: &HashMap<String, Uuid>,
    name: &str,
    mapping: &HashMap<String, String>,
    kind: &'static str,
    record_only: bool,
) -> Result<(), ControllerError> {
    let patch = proto::PatchRequest {
        component_id: lids[name].to_string(),
        output_mapping: mapping
            .iter()
            .map(|(output, target)| {
                let target = edgeless_api::InstanceId::logical(lids[target]);
                (
                    output.clone(),
                    proto::InstanceIdList {
                        instances: vec![target.into()],
                    },
                )
            })
            .collect(),
        // The orchestrator works out each instance's sources, and orders
        // its own patches.
        inputs: Vec::new(),
        inputs_only: record_only,
        generation: 0,
    };
    let result = if kind == "function" {
        clients.functions.patch(patch).await
    } else {
        clients.resources.patch(patch).await
    };
    result.map_err(refused(kind, name))?;
    Ok(())
}

/// Stops `components` (sent together); a failure is logged.
pub(crate) async fn stop_components(clients: &mut DomainClients, components: &[Component]) {
    let stops = components.iter().map(|component| {
        let mut clients = clients.clone();
        async move {
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
        .boxed()
    });
    together(stops.collect::<Vec<_>>()).await;
}
