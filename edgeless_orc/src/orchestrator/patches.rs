//! Event wiring of components: a component's output mapping becomes
//! patches to its nodes (its outputs) and to its targets' nodes (their
//! accepted sources), and is re-sent when instances move.

use std::collections::HashMap;

use edgeless_api::proto;
use uuid::Uuid;

use super::calls::{self, Call, Plan};
use super::{OrcError, Orchestrator, Spec};

impl Orchestrator {
    /// Records a component's mapping; returns the patches that tell its
    /// targets their sources and then (unless `record_only`) the component
    /// its outputs.
    pub(super) fn patch(
        &mut self,
        lid: Uuid,
        mapping: HashMap<String, Vec<Uuid>>,
        record_only: bool,
    ) -> Result<Plan, OrcError> {
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
        super::persistence::save_mapping(&self.store, lid, &component.mapping);
        // The targets learn their new sources before the sources send.
        targets.sort();
        targets.dedup();
        let inputs = targets
            .into_iter()
            .filter(|t| *t != lid)
            .flat_map(|target| self.inputs_patch(target))
            .collect();
        if record_only {
            return Ok(vec![inputs]);
        }
        Ok(vec![inputs, self.outputs_patch(lid, true)?])
    }

    /// The instances of every component that maps an output to `lid`.
    fn inputs_of(&self, lid: Uuid) -> Vec<proto::InstanceId> {
        self.components
            .values()
            .filter(|c| c.mapping.values().flatten().any(|t| *t == lid))
            .flat_map(|c| c.instances.iter().map(|i| proto::InstanceId::from(*i)))
            .chain(self.remote_inputs_of(lid))
            .collect()
    }

    /// Patches that tell each instance of `lid` which instances may send
    /// to it (failures are logged).
    pub(super) fn inputs_patch(&self, lid: Uuid) -> Vec<Call<()>> {
        let inputs = self.inputs_of(lid);
        self.patch_calls(lid, HashMap::new(), inputs, true, false)
            .unwrap_or_default()
    }

    /// Patches that send a component's mapping, translated to physical
    /// instances, to each of its instances; with `required`, their failures
    /// are returned, else logged.
    pub(super) fn outputs_patch(
        &self,
        lid: Uuid,
        required: bool,
    ) -> Result<Vec<Call<()>>, OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let mut physical = HashMap::new();
        for (output, targets) in &component.mapping {
            let mut instances = Vec::new();
            for target in targets {
                let target_instances = match self.components.get(target) {
                    Some(local) => &local.instances,
                    None => match self.remotes.get(target) {
                        Some(remote) => &remote.instances,
                        None => {
                            return Err(OrcError::Invalid(format!(
                                "output `{output}` of {lid} targets unknown component {target}"
                            )));
                        }
                    },
                };
                instances.extend(target_instances.iter().map(|i| proto::InstanceId::from(*i)));
            }
            physical.insert(output.clone(), proto::InstanceIdList { instances });
        }
        let inputs = self.inputs_of(lid);
        self.patch_calls(lid, physical, inputs, false, required)
    }

    /// One patch for every instance of `lid`.
    fn patch_calls(
        &self,
        lid: Uuid,
        physical: HashMap<String, proto::InstanceIdList>,
        inputs: Vec<proto::InstanceId>,
        inputs_only: bool,
        required: bool,
    ) -> Result<Vec<Call<()>>, OrcError> {
        let component = self.components.get(&lid).ok_or(OrcError::NotFound(lid))?;
        let is_function = matches!(component.spec, Spec::Function(_));
        let generation = self
            .patch_generation
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The nodes its instances send to, and answer calls from.
        let mut peers: Vec<Uuid> = physical
            .values()
            .flat_map(|list| list.instances.iter())
            .chain(inputs.iter())
            .filter_map(|i| Uuid::parse_str(&i.node_id).ok())
            .collect();
        peers.sort_unstable();
        peers.dedup();
        let mut links = super::links(&self.links);
        let mut patches = Vec::new();
        for instance in &component.instances {
            let Some(node) = self.nodes.get(&instance.node_id) else {
                continue;
            };
            let ready = links.ensure(&self.nodes, instance.node_id, peers.iter().copied());
            let request = proto::PatchRequest {
                component_id: instance.function_id.to_string(),
                output_mapping: physical.clone(),
                inputs: inputs.clone(),
                inputs_only,
                generation,
            };
            let patch = calls::patch(node, is_function, *instance, request, required);
            patches.push(super::links::after(ready, patch));
        }
        Ok(patches)
    }

    /// Patches for the components in `changed`, every component that maps
    /// an output to one of them, and every component they map to (whose
    /// sources changed; patched first, so they take the new sources'
    /// events). Failures are logged.
    pub(super) fn repatch(&self, changed: &[Uuid]) -> Plan {
        let mut seen = std::collections::HashSet::new();
        let targets: Vec<Uuid> = changed
            .iter()
            .filter_map(|lid| self.components.get(lid))
            .flat_map(|c| c.mapping.values().flatten().copied())
            .filter(|t| self.components.contains_key(t) && seen.insert(*t))
            .collect();
        let sources: Vec<Uuid> = self
            .components
            .iter()
            .filter(|(lid, c)| {
                changed.contains(lid) || c.mapping.values().flatten().any(|t| changed.contains(t))
            })
            .map(|(lid, _)| *lid)
            .filter(|lid| seen.insert(*lid))
            .collect();
        let patches = |lids: Vec<Uuid>| -> Vec<Call<()>> {
            lids.into_iter()
                .flat_map(|lid| {
                    self.outputs_patch(lid, false).unwrap_or_else(|error| {
                        tracing::warn!(component = %lid, %error, "re-patch failed");
                        Vec::new()
                    })
                })
                .collect()
        };
        vec![patches(targets), patches(sources)]
    }
}
