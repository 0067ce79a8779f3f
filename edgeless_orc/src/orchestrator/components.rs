//! Components: start (with `max_instances` instances), stop, patch,
//! migrate, and the domain view.

use edgeless_api::limits::MAX_INSTANCES;
use std::collections::HashMap;

use edgeless_api::InstanceId;
use edgeless_api::proto;
use uuid::Uuid;

use super::{Component, OrcError, Orchestrator, Spec, node_error};
use crate::placement::{self, NodeView, PlacementError};
use crate::registry;

impl Spec {
    /// The class id (functions) or class type (resources).
    pub(super) fn describe(&self) -> String {
        match self {
            Spec::Function(f) => f
                .code
                .as_ref()
                .map(|c| c.function_class_id.clone())
                .unwrap_or_default(),
            Spec::Resource(r) => r.class_type.clone(),
        }
    }

    fn workflow_id(&self) -> &str {
        match self {
            Spec::Function(f) => &f.workflow_id,
            Spec::Resource(r) => &r.workflow_id,
        }
    }

    fn function_type(&self) -> &str {
        match self {
            Spec::Function(f) => f
                .code
                .as_ref()
                .map(|c| c.function_class_type.as_str())
                .unwrap_or(""),
            Spec::Resource(_) => "",
        }
    }

    fn annotations(&self) -> HashMap<String, String> {
        match self {
            Spec::Function(f) => f.annotations.clone(),
            Spec::Resource(_) => HashMap::new(),
        }
    }
}

/// The number of instances a component asks for: `max_instances` (absent: 1;
/// 0: one on every eligible node).
fn desired_instances(
    annotations: &HashMap<String, String>,
    eligible_nodes: usize,
) -> Result<usize, OrcError> {
    match annotations.get("max_instances") {
        None => Ok(1),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(0) => Ok(eligible_nodes.clamp(1, MAX_INSTANCES)),
            Ok(n) if n <= MAX_INSTANCES => Ok(n),
            Ok(_) => Err(OrcError::Invalid(format!(
                "annotation max_instances = {value:?}: at most {MAX_INSTANCES} instances are allowed"
            ))),
            Err(_) => Err(OrcError::Invalid(format!(
                "annotation max_instances = {value:?} is not a number"
            ))),
        },
    }
}

impl Orchestrator {
    /// What placement sees, with each node's current number of instances.
    pub(super) fn views(&self) -> Vec<NodeView> {
        let mut counts: HashMap<Uuid, usize> = HashMap::new();
        for instance in self.components.values().flat_map(|c| &c.instances) {
            *counts.entry(instance.node_id).or_default() += 1;
        }
        registry::views(&self.nodes, &counts)
    }

    pub(super) async fn start(
        &mut self,
        lid: Uuid,
        spec: Spec,
    ) -> Result<Vec<InstanceId>, OrcError> {
        if self.components.contains_key(&lid) {
            return Err(OrcError::Invalid(format!("component {lid} already exists")));
        }
        let annotations = spec.annotations();
        let eligible = placement::eligible(&self.views(), spec.function_type(), &annotations)
            .map(|e| e.len())
            .unwrap_or(0);
        let desired = desired_instances(&annotations, eligible)?;
        let mut instances: Vec<InstanceId> = Vec::with_capacity(desired);
        for _ in 0..desired {
            let avoid: Vec<Uuid> = instances.iter().map(|i| i.node_id).collect();
            match self.start_instance(lid, &spec, &avoid).await {
                Ok(instance) => instances.push(instance),
                Err(error) => {
                    for instance in instances {
                        self.stop_instance(&spec, instance).await;
                    }
                    return Err(error);
                }
            }
        }
        let component = Component {
            spec,
            instances: instances.clone(),
            desired,
            mapping: HashMap::new(),
            failures: Default::default(),
        };
        super::persistence::save_component(&self.store, lid, &component);
        self.components.insert(lid, component);
        Ok(instances)
    }

    /// Places and starts one physical instance of `spec`, preferring nodes
    /// not in `avoid`.
    pub(super) async fn start_instance(
        &mut self,
        lid: Uuid,
        spec: &Spec,
        avoid: &[Uuid],
    ) -> Result<InstanceId, OrcError> {
        let node_id = self.place(spec, avoid)?;
        self.start_instance_on(lid, spec, node_id).await
    }

    async fn start_instance_on(
        &mut self,
        lid: Uuid,
        spec: &Spec,
        node_id: Uuid,
    ) -> Result<InstanceId, OrcError> {
        let node = self
            .nodes
            .get_mut(&node_id)
            .ok_or(OrcError::NotFound(node_id))?;
        let function_id = Uuid::new_v4();
        let response = match spec {
            Spec::Function(request) => {
                let mut request = request.clone();
                request.component_id = function_id.to_string();
                if request.state_id.is_empty() {
                    request.state_id = lid.to_string();
                }
                request.serialized_state = self.states.get(&request.state_id).cloned();
                node.functions.start(request).await
            }
            Spec::Resource(request) => {
                let mut request = request.clone();
                request.component_id = function_id.to_string();
                node.resources.start(request).await
            }
        }
        .map_err(node_error(node_id))?;
        match response
            .into_inner()
            .instances
            .first()
            .map(InstanceId::try_from)
        {
            Some(Ok(id)) => {
                tracing::info!(component = %lid, instance = %id, "instance started");
                Ok(id)
            }
            _ => Err(OrcError::Node {
                node: node_id,
                message: "the start response names no instance".into(),
            }),
        }
    }

    fn place(&mut self, spec: &Spec, avoid: &[Uuid]) -> Result<Uuid, OrcError> {
        let placement_error = |source| OrcError::Placement {
            component: spec.describe(),
            source,
        };
        match spec {
            Spec::Function(request) => {
                let views = self.views();
                self.placer
                    .place(
                        self.config.baseline.orchestration_strategy,
                        &views,
                        spec.function_type(),
                        &request.annotations,
                        avoid,
                    )
                    .map_err(placement_error)
            }
            Spec::Resource(request) => self
                .nodes
                .iter()
                .find(|(_, node)| {
                    node.providers
                        .iter()
                        .any(|p| p.class_type == request.class_type)
                })
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    placement_error(PlacementError::Unsatisfied(format!(
                        "a provider of resource class `{}`",
                        request.class_type
                    )))
                }),
        }
    }

    pub(super) async fn stop(&mut self, lid: Uuid) -> Result<(), OrcError> {
        let component = self
            .components
            .remove(&lid)
            .ok_or(OrcError::NotFound(lid))?;
        self.states.remove(&lid.to_string());
        super::persistence::remove_component(&self.store, lid);
        for instance in component.instances {
            self.stop_instance(&component.spec, instance).await;
        }
        Ok(())
    }

    pub(super) async fn stop_instance(&mut self, spec: &Spec, instance: InstanceId) {
        let Some(node) = self.nodes.get_mut(&instance.node_id) else {
            return;
        };
        let request = proto::ComponentId {
            component_id: instance.function_id.to_string(),
        };
        let result = match spec {
            Spec::Function(_) => node.functions.stop(request).await,
            Spec::Resource(_) => node.resources.stop(request).await,
        };
        if let Err(status) = result {
            tracing::warn!(%instance, error = %status.message(), "stop failed");
        }
    }

    pub(super) async fn patch(
        &mut self,
        lid: Uuid,
        mapping: HashMap<String, Vec<Uuid>>,
        record_only: bool,
    ) -> Result<(), OrcError> {
        let component = self
            .components
            .get_mut(&lid)
            .ok_or(OrcError::NotFound(lid))?;
        // Old and new targets learn their sources, unless the mapping was
        // recorded before and is unchanged.
        let mut targets: Vec<Uuid> = if record_only || component.mapping != mapping {
            component
                .mapping
                .values()
                .chain(mapping.values())
                .flatten()
                .copied()
                .collect()
        } else {
            Vec::new()
        };
        component.mapping = mapping;
        super::persistence::save_component(&self.store, lid, component);
        // The targets learn their new sources before the sources send.
        targets.sort();
        targets.dedup();
        for target in targets.into_iter().filter(|t| *t != lid) {
            if let Err(error) = self.apply_inputs(target).await {
                tracing::warn!(component = %target, %error, "inputs not updated");
            }
        }
        if record_only {
            return Ok(());
        }
        self.apply_patch(lid).await
    }

    /// The instances of every component that maps an output to `lid`.
    fn inputs_of(&self, lid: Uuid) -> Vec<proto::InstanceId> {
        self.components
            .values()
            .filter(|c| c.mapping.values().flatten().any(|t| *t == lid))
            .flat_map(|c| c.instances.iter().map(|i| proto::InstanceId::from(*i)))
            .collect()
    }

    /// Tells each instance of `lid` which instances may send to it.
    async fn apply_inputs(&mut self, lid: Uuid) -> Result<(), OrcError> {
        let inputs = self.inputs_of(lid);
        self.send_patch(lid, HashMap::new(), inputs, true).await
    }

    /// Sends a component's mapping, translated to physical instances, to
    /// each of its instances.
    async fn apply_patch(&mut self, lid: Uuid) -> Result<(), OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let mut physical = HashMap::new();
        for (output, targets) in &component.mapping {
            let mut instances = Vec::new();
            for target in targets {
                let target_component = self.components.get(target).ok_or_else(|| {
                    OrcError::Invalid(format!(
                        "output `{output}` of {lid} targets unknown component {target}"
                    ))
                })?;
                instances.extend(
                    target_component
                        .instances
                        .iter()
                        .map(|i| proto::InstanceId::from(*i)),
                );
            }
            physical.insert(output.clone(), proto::InstanceIdList { instances });
        }
        let inputs = self.inputs_of(lid);
        self.send_patch(lid, physical, inputs, false).await
    }

    /// Sends one patch to every instance of `lid`.
    async fn send_patch(
        &mut self,
        lid: Uuid,
        physical: HashMap<String, proto::InstanceIdList>,
        inputs: Vec<proto::InstanceId>,
        inputs_only: bool,
    ) -> Result<(), OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let is_function = matches!(component.spec, Spec::Function(_));
        for instance in component.instances.clone() {
            let Some(node) = self.nodes.get_mut(&instance.node_id) else {
                continue;
            };
            let request = proto::PatchRequest {
                component_id: instance.function_id.to_string(),
                output_mapping: physical.clone(),
                inputs: inputs.clone(),
                inputs_only,
            };
            let result = if is_function {
                node.functions.patch(request).await
            } else {
                node.resources.patch(request).await
            };
            match result {
                Ok(_) => {}
                // The instance failed meanwhile; its failure report restarts
                // it, and the restart patches it again.
                Err(status) if status.code() == tonic::Code::NotFound => {
                    tracing::info!(%instance, "patch skipped: the instance is gone")
                }
                Err(status) => return Err(node_error(instance.node_id)(status)),
            }
        }
        Ok(())
    }

    /// Patches the components in `changed`, every component that maps an
    /// output to one of them, and every component they map to (whose
    /// sources changed; patched first, so they take the new sources' events).
    pub(super) async fn repatch(&mut self, changed: &[Uuid]) {
        if changed.is_empty() {
            return;
        }
        let targets: Vec<Uuid> = changed
            .iter()
            .filter_map(|lid| self.components.get(lid))
            .flat_map(|c| c.mapping.values().flatten().copied())
            .filter(|t| self.components.contains_key(t))
            .collect();
        let mut to_patch = targets;
        to_patch.extend(
            self.components
                .iter()
                .filter(|(lid, c)| {
                    changed.contains(lid)
                        || c.mapping.values().flatten().any(|t| changed.contains(t))
                })
                .map(|(lid, _)| *lid),
        );
        let mut seen = std::collections::HashSet::new();
        to_patch.retain(|lid| seen.insert(*lid));
        for lid in to_patch {
            if let Err(error) = self.apply_patch(lid).await {
                tracing::warn!(component = %lid, %error, "re-patch failed");
            }
        }
    }

    /// Moves one instance of `lid` to the first of `targets` that can host
    /// it and does not run it yet: start there, re-patch, stop the old one.
    pub(super) async fn migrate(&mut self, lid: Uuid, targets: Vec<Uuid>) -> Result<(), OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let spec = component.spec.clone();
        let current = component.instances.clone();
        let views = self.views();
        let annotations = spec.annotations();
        let eligible =
            placement::eligible(&views, spec.function_type(), &annotations).map_err(|source| {
                OrcError::Placement {
                    component: spec.describe(),
                    source,
                }
            })?;
        let target = targets
            .iter()
            .find(|t| eligible.iter().any(|n| n.node_id == **t) && !current.iter().any(|i| i.node_id == **t))
            .copied()
            .ok_or_else(|| {
                OrcError::Invalid(format!(
                    "none of the nodes {targets:?} can take component {lid} (unknown, ineligible, or already running it)"
                ))
            })?;
        let new = self.start_instance_on(lid, &spec, target).await?;
        let old = current.first().copied();
        if let Some(component) = self.components.get_mut(&lid) {
            component.instances.retain(|i| Some(*i) != old);
            component.instances.push(new);
        }
        self.repatch(&[lid]).await;
        if let Some(old) = old {
            self.stop_instance(&spec, old).await;
        }
        tracing::info!(component = %lid, to = %new, "component migrated");
        Ok(())
    }

    pub(super) fn view(&self) -> proto::DomainView {
        let now = edgeless_api::now_secs();
        proto::DomainView {
            domain_id: self.config.general.domain_id.clone(),
            nodes: self
                .nodes
                .iter()
                .map(|(id, node)| {
                    let leases = super::leases(&self.leases);
                    let deadline = leases.get(id).map(|l| l.deadline).unwrap_or(0);
                    registry::view(id, node, deadline as i64 - now as i64)
                })
                .collect(),
            components: self
                .components
                .iter()
                .map(|(lid, c)| proto::ComponentView {
                    logical_id: lid.to_string(),
                    kind: match c.spec {
                        Spec::Function(_) => "function".into(),
                        Spec::Resource(_) => "resource".into(),
                    },
                    class: c.spec.describe(),
                    workflow_id: c.spec.workflow_id().to_string(),
                    instances: c.instances.iter().map(|i| (*i).into()).collect(),
                    state: match &c.failures {
                        f if f.gave_up => format!(
                            "failed: {} (gave up after {} restarts)",
                            f.last_reason,
                            f.count.saturating_sub(1)
                        ),
                        f if c.instances.len() < c.desired && f.count > 0 => {
                            format!("restarting: {}", f.last_reason)
                        }
                        _ => "running".to_string(),
                    },
                    output_mapping: c
                        .mapping
                        .iter()
                        .map(|(output, targets)| {
                            let instances = targets
                                .iter()
                                .map(|t| InstanceId::logical(*t).into())
                                .collect();
                            (output.clone(), proto::InstanceIdList { instances })
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_instances_is_read_from_annotations() {
        let with = |v: &str| HashMap::from([("max_instances".to_string(), v.to_string())]);
        assert_eq!(desired_instances(&HashMap::new(), 3).unwrap(), 1);
        assert_eq!(desired_instances(&with("2"), 3).unwrap(), 2);
        assert_eq!(desired_instances(&with("0"), 3).unwrap(), 3);
        assert_eq!(desired_instances(&with("0"), 0).unwrap(), 1);
        let err = desired_instances(&with("many"), 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid request: annotation max_instances = \"many\" is not a number"
        );
        assert_eq!(desired_instances(&with("256"), 3).unwrap(), 256);
        assert_eq!(desired_instances(&with("0"), 100_000).unwrap(), 256);
        for huge in ["257", "18446744073709551615", "9999999999999"] {
            let err = desired_instances(&with(huge), 3).unwrap_err().to_string();
            assert!(err.contains("at most 256 instances"), "{huge}: {err}");
        }
    }
}
