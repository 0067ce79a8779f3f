//! Components: start (with `max_instances` instances), stop, migrate,
//! and the domain view. Their event wiring is in `patches`.

use edgeless_api::limits::MAX_INSTANCES;
use std::collections::HashMap;

use edgeless_api::InstanceId;
use edgeless_api::proto;
use uuid::Uuid;

use super::calls::{self, Call, Plan};
use super::{Component, OrcError, Orchestrator, Spec};
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

    /// The component's name in its workflow (resources: the logical id).
    pub(super) fn name(&self, lid: Uuid) -> String {
        match self {
            Spec::Function(f) if !f.function_name.is_empty() => f.function_name.clone(),
            _ => lid.to_string(),
        }
    }

    pub(super) fn workflow_id(&self) -> &str {
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
    eligible_nodes: impl FnOnce() -> usize,
) -> Result<usize, OrcError> {
    match annotations.get("max_instances") {
        None => Ok(1),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(0) => Ok(eligible_nodes().clamp(1, MAX_INSTANCES)),
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

/// What placement sees of `nodes` that are not cordoned; with `loads`,
/// each node's current number of instances (those being started included)
/// is counted, which takes a pass over every component (only
/// `LeastLoaded` needs it).
fn node_views<'a>(
    nodes: &'a registry::Registry,
    components: &HashMap<Uuid, Component>,
    cordoned: &std::collections::HashSet<Uuid>,
    loads: bool,
) -> Vec<NodeView<'a>> {
    let mut counts: HashMap<Uuid, usize> = HashMap::new();
    for component in components.values().filter(|_| loads) {
        let nodes = component.instances.iter().map(|i| &i.node_id);
        for node in nodes.chain(&component.starting) {
            *counts.entry(*node).or_default() += 1;
        }
    }
    let mut views = registry::views(nodes, &counts);
    views.retain(|v| !cordoned.contains(&v.node_id));
    views
}

impl Orchestrator {
    /// What placement sees, for eligibility (no loads counted).
    pub(super) fn views(&self) -> Vec<NodeView<'_>> {
        node_views(&self.nodes, &self.components, &self.cordoned, false)
    }

    /// Places a new component and records it as starting; returns the
    /// starts to send.
    pub(super) fn plan_start(
        &mut self,
        lid: Uuid,
        spec: Spec,
    ) -> Result<Vec<Call<InstanceId>>, OrcError> {
        if self.components.contains_key(&lid) {
            return Err(OrcError::Invalid(format!("component {lid} already exists")));
        }
        // WASM code is named by its key, so that nodes that have it are
        // not sent it again.
        let mut spec = spec;
        if let Spec::Function(request) = &mut spec
            && let Some(class) = &mut request.code
            && class.function_class_type == edgeless_api::RUST_WASM
            && !class.function_class_code.is_empty()
        {
            class.function_class_code_key = super::persistence::code_key(&self.store, class);
        }
        // A function moved from another domain brings its last state.
        if let Spec::Function(request) = &spec
            && let Some(state) = &request.serialized_state
        {
            let key = match request.state_id.as_str() {
                "" => lid.to_string(),
                id => id.to_string(),
            };
            let saved = vec![(key.clone(), state.clone())];
            super::persistence::save_states(&self.store, saved);
            self.states.insert(key, state.clone());
        }
        let annotations = spec.annotations();
        // Only `max_instances = 0` (one per eligible node) needs the count.
        let eligible = || {
            placement::eligible(&self.views(), spec.function_type(), &annotations)
                .map(|e| e.len())
                .unwrap_or(0)
        };
        let desired = desired_instances(&annotations, eligible)?;
        let nodes = self.place_many(&spec, desired, &[])?;
        let starts = nodes
            .iter()
            .map(|node| self.start_call(lid, &spec, *node))
            .collect::<Result<Vec<_>, _>>()?;
        let component = Component {
            spec,
            instances: Vec::new(),
            desired,
            mapping: HashMap::new(),
            failures: Default::default(),
            starting: nodes,
        };
        self.components.insert(lid, component);
        Ok(starts)
    }

    /// Records what the starts of a new component returned. When one
    /// failed, or the component was stopped meanwhile, the started
    /// instances are stopped and the component forgotten.
    pub(super) fn finish_start(
        &mut self,
        lid: Uuid,
        spec: &Spec,
        results: Vec<Result<InstanceId, OrcError>>,
    ) -> Result<Vec<InstanceId>, OrcError> {
        let mut started = Vec::new();
        let mut error = None;
        for result in results {
            match result {
                Ok(instance) => started.push(instance),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        let still_wanted = self
            .components
            .get(&lid)
            .is_some_and(|c| c.instances.is_empty() && !c.starting.is_empty());
        let error = match error {
            Some(error) => Some(error),
            None if !still_wanted => Some(OrcError::NotFound(lid)),
            None => None,
        };
        if let Some(error) = error {
            if still_wanted {
                self.components.remove(&lid);
            }
            let stops = started
                .into_iter()
                .filter_map(|i| self.stop_call(spec, i))
                .collect();
            calls::spawn(vec![stops]);
            return Err(error);
        }
        let component = self
            .components
            .get_mut(&lid)
            .ok_or(OrcError::NotFound(lid))?;
        component.instances.clone_from(&started);
        component.starting.clear();
        super::persistence::save_component(&self.store, lid, component);
        for instance in &started {
            let message = format!(
                "class {}, instance {}",
                spec.describe(),
                instance.function_id
            );
            self.record(
                "instance-started",
                Some((lid, spec)),
                Some(instance.node_id),
                message,
            );
        }
        Ok(started)
    }

    /// `count` nodes for instances of `spec`, preferring nodes not in
    /// `used` and different from each other.
    pub(super) fn place_many(
        &mut self,
        spec: &Spec,
        count: usize,
        used: &[Uuid],
    ) -> Result<Vec<Uuid>, OrcError> {
        let mut avoid = used.to_vec();
        let mut chosen = Vec::with_capacity(count);
        for _ in 0..count {
            let node = self.place(spec, &avoid)?;
            avoid.push(node);
            chosen.push(node);
        }
        Ok(chosen)
    }

    /// The start of one instance of `lid` on `node_id`, with the function's
    /// last synced state.
    pub(super) fn start_call(
        &self,
        lid: Uuid,
        spec: &Spec,
        node_id: Uuid,
    ) -> Result<Call<InstanceId>, OrcError> {
        let node = self
            .nodes
            .get(&node_id)
            .ok_or(OrcError::NotFound(node_id))?;
        let state = match spec {
            Spec::Function(request) if request.state_id.is_empty() => {
                self.states.get(&lid.to_string()).cloned()
            }
            Spec::Function(request) => self.states.get(&request.state_id).cloned(),
            Spec::Resource(_) => None,
        };
        Ok(calls::start(
            node_id,
            node,
            Uuid::new_v4(),
            lid,
            spec,
            state,
        ))
    }

    fn place(&mut self, spec: &Spec, avoid: &[Uuid]) -> Result<Uuid, OrcError> {
        let placement_error = |source| {
            self.metrics.placement_failures.inc();
            OrcError::Placement {
                component: spec.describe(),
                source,
            }
        };
        match spec {
            Spec::Function(request) => {
                let strategy = self.config.baseline.orchestration_strategy;
                let loads = strategy == crate::config::Strategy::LeastLoaded;
                let views = node_views(&self.nodes, &self.components, &self.cordoned, loads);
                self.placer
                    .place(
                        strategy,
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
                    node.ready
                        && node
                            .providers
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

    /// Forgets a component; returns the stops of its instances.
    pub(super) fn stop(&mut self, lid: Uuid) -> Result<Plan, OrcError> {
        let component = self
            .components
            .remove(&lid)
            .ok_or(OrcError::NotFound(lid))?;
        self.states.remove(&lid.to_string());
        super::persistence::remove_component(&self.store, lid);
        let stops = component
            .instances
            .iter()
            .filter_map(|instance| self.stop_call(&component.spec, *instance))
            .collect();
        let message = format!("{} instances stopped", component.instances.len());
        self.record(
            "component-stopped",
            Some((lid, &component.spec)),
            None,
            message,
        );
        Ok(vec![stops])
    }

    /// The stop of one instance (none when its node is gone).
    pub(super) fn stop_call(&self, spec: &Spec, instance: InstanceId) -> Option<Call<()>> {
        let node = self.nodes.get(&instance.node_id)?;
        Some(calls::stop(node, spec, instance))
    }

    /// Chooses where to move one instance of `lid`: the first of `targets`
    /// that can host it and does not run it yet. Returns the start to send.
    pub(super) fn plan_migrate(
        &mut self,
        lid: Uuid,
        targets: Vec<Uuid>,
    ) -> Result<(Spec, Call<InstanceId>), OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        if !component.starting.is_empty() {
            return Err(OrcError::Invalid(format!(
                "component {lid} is being started; try again"
            )));
        }
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
        let start = self.start_call(lid, &spec, target)?;
        if let Some(component) = self.components.get_mut(&lid) {
            component.starting.push(target);
        }
        Ok((spec, start))
    }

    /// Puts the moved instance in place of the old one; returns the
    /// re-patches and then the old instance's stop.
    pub(super) fn finish_migrate(
        &mut self,
        lid: Uuid,
        spec: &Spec,
        started: Result<InstanceId, OrcError>,
    ) -> Result<Plan, OrcError> {
        if let Some(component) = self.components.get_mut(&lid) {
            component.starting.clear();
        }
        let new = started?;
        let Some(component) = self.components.get_mut(&lid) else {
            calls::spawn(vec![self.stop_call(spec, new).into_iter().collect()]);
            return Err(OrcError::NotFound(lid));
        };
        let old = component.instances.first().copied();
        component.instances.retain(|i| Some(*i) != old);
        component.instances.push(new);
        let mut plan = self.repatch(&[lid]);
        plan.push(
            old.and_then(|old| self.stop_call(spec, old))
                .into_iter()
                .collect(),
        );
        tracing::info!(component = %lid, to = %new, "component migrated");
        let message = format!("moved to instance {new}");
        self.record(
            "instance-migrated",
            Some((lid, spec)),
            Some(new.node_id),
            message,
        );
        Ok(plan)
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
                    let mut view = registry::view(id, node, deadline as i64 - now as i64);
                    view.cordoned = self.cordoned.contains(id);
                    view
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
                        _ if c.instances.is_empty() && !c.starting.is_empty() => {
                            "starting".to_string()
                        }
                        _ => "running".to_string(),
                    },
                    restarts: if c.failures.gave_up {
                        c.failures.count.saturating_sub(1)
                    } else {
                        c.failures.count
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
        assert_eq!(desired_instances(&HashMap::new(), || 3).unwrap(), 1);
        assert_eq!(desired_instances(&with("2"), || 3).unwrap(), 2);
        assert_eq!(desired_instances(&with("0"), || 3).unwrap(), 3);
        assert_eq!(desired_instances(&with("0"), || 0).unwrap(), 1);
        let err = desired_instances(&with("many"), || 3).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid request: annotation max_instances = \"many\" is not a number"
        );
        assert_eq!(desired_instances(&with("256"), || 3).unwrap(), 256);
        assert_eq!(desired_instances(&with("0"), || 100_000).unwrap(), 256);
        for huge in ["257", "18446744073709551615", "9999999999999"] {
            let err = desired_instances(&with(huge), || 3)
                .unwrap_err()
                .to_string();
            assert!(err.contains("at most 256 instances"), "{huge}: {err}");
        }
    }
}
