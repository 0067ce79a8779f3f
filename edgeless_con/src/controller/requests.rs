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
/// state (they come from another domain). The starts go in one request
/// (one at a time, [`IN_FLIGHT`] at once, to orchestrators that predate
/// it); every component that started is added to `components`, even when
/// another failed, so a roll-back stops it.
pub(crate) async fn start_with_states(
    (domain_id, clients): (&str, &mut DomainClients),
    workflow_id: Uuid,
    (request, lids): (&proto::SpawnWorkflowRequest, &HashMap<String, Uuid>),
    wanted: impl Fn(&str) -> bool,
    states: &HashMap<String, Vec<u8>>,
    components: &mut Vec<Component>,
) -> Result<(), ControllerError> {
    use proto::start_request::Component as Start;
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
            (&function.name, Start::Function(spawn))
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
            (&resource.name, Start::Resource(spec))
        });
    let starts: Vec<(&String, Start)> = functions.chain(resources).collect();
    if starts.is_empty() {
        return Ok(());
    }
    let kinds: Vec<(&String, bool)> = starts
        .iter()
        .map(|(name, start)| (*name, matches!(start, Start::Function(_))))
        .collect();
    let outcomes = start_all((domain_id, clients), starts).await?;
    let mut outcome = Ok(());
    for ((name, is_function), result) in kinds.into_iter().zip(outcomes) {
        match result {
            Ok(instances) => components.push(Component {
                name: name.clone(),
                lid: lids[name],
                is_function,
                instances,
                domain_id: domain_id.to_string(),
                previous_domain: String::new(),
            }),
            Err(message) => {
                if outcome.is_ok() {
                    let kind = if is_function { "function" } else { "resource" };
                    outcome = Err(ControllerError::Component {
                        kind,
                        name: name.clone(),
                        message,
                    });
                }
            }
        }
    }
    outcome
}

/// Sends `starts` to the orchestrator; the instances or the refusal of
/// each, in order. Fails only when the orchestrator cannot be asked.
async fn start_all(
    (domain_id, clients): (&str, &DomainClients),
    starts: Vec<(&String, proto::start_request::Component)>,
) -> Result<Vec<Result<Vec<proto::InstanceId>, String>>, ControllerError> {
    use proto::start_request::Component as Start;
    let count = starts.len();
    let mut all = proto::StartRequests {
        starts: starts
            .iter()
            .map(|(_, start)| proto::StartRequest {
                component: Some(start.clone()),
            })
            .collect(),
        codes: Vec::new(),
    };
    // Code shared by many functions goes once.
    edgeless_api::code_table::pack_starts(&mut all);
    let status = match clients.wiring.clone().start_all(all).await {
        Ok(answer) => {
            let results = answer.into_inner().results;
            if results.len() != count {
                return Err(ControllerError::Domain {
                    domain: domain_id.to_string(),
                    message: format!("{} results for {count} starts", results.len()),
                });
            }
            return Ok(results
                .into_iter()
                .map(|r| match r.error.is_empty() {
                    true => Ok(r.instances),
                    false => Err(r.error),
                })
                .collect());
        }
        Err(status) => status,
    };
    if status.code() != tonic::Code::Unimplemented {
        return Ok(vec![Err(status.message().to_string()); count]);
    }
    let one_by_one = starts.into_iter().map(|(_, start)| {
        let clients = clients.clone();
        async move {
            let answer = match start {
                Start::Function(spawn) => clients.functions.clone().start(spawn).await,
                Start::Resource(spec) => clients.resources.clone().start(spec).await,
            };
            answer
                .map(|r| r.into_inner().instances)
                .map_err(|s| s.message().to_string())
        }
        .boxed()
    });
    Ok(together(one_by_one.collect::<Vec<_>>()).await)
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
    let patches: Vec<(&str, &'static str, proto::PatchRequest)> = request
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
        .map(|(name, mapping, kind)| (name.as_str(), kind, patch(lids, name, mapping, record_only)))
        .collect();
    if patches.is_empty() {
        return Ok(());
    }
    // All in one request; one at a time to orchestrators that predate it.
    let all = proto::PatchRequests {
        patches: patches.iter().map(|(_, _, p)| p.clone()).collect(),
    };
    match clients.wiring.patch_all(all).await {
        Ok(results) => {
            let errors = results.into_inner().errors;
            for ((name, kind, _), error) in patches.iter().zip(&errors) {
                if !error.is_empty() {
                    return Err(ControllerError::Component {
                        kind,
                        name: name.to_string(),
                        message: error.clone(),
                    });
                }
            }
            Ok(())
        }
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            let one_by_one = patches.into_iter().map(|(name, kind, patch)| {
                let mut clients = clients.clone();
                async move {
                    let result = if kind == "function" {
                        clients.functions.patch(patch).await
                    } else {
                        clients.resources.patch(patch).await
                    };
                    result.map(|_| ()).map_err(refused(kind, name))
                }
                .boxed()
            });
            together(one_by_one.collect::<Vec<_>>())
                .await
                .into_iter()
                .collect()
        }
        Err(status) => Err(ControllerError::Component {
            kind: "workflow",
            name: request.name.clone(),
            message: status.message().to_string(),
        }),
    }
}

/// The request that gives component `name` its mapping (logical ids).
fn patch(
    lids: &HashMap<String, Uuid>,
    name: &str,
    mapping: &HashMap<String, String>,
    record_only: bool,
) -> proto::PatchRequest {
    proto::PatchRequest {
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
    }
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
