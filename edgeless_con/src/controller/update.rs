//! Changing a running workflow in place (`edgeless_cli workflow apply`).
//!
//! Components are matched by name. One whose spec is the same (function
//! class, code and annotations; resource class and configuration) is kept
//! with its instances; one whose spec changed is started anew under a new
//! logical id and the old one stopped; new ones are started, missing ones
//! stopped. Then every component gets its mapping, so kept components send
//! to the new ones. If a start fails, what was started is stopped and the
//! workflow stays as it was.

use std::collections::{HashMap, HashSet};

use edgeless_api::proto;
use edgeless_api::workflow::validate;
use uuid::Uuid;

use super::{Component, Controller, ControllerError, Deploying, lock, parse_id};

/// What an update did, by component name.
#[derive(Debug, Default, PartialEq)]
pub struct UpdateSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub kept: Vec<String>,
}

/// A component's spec, for comparison: everything but its mapping.
fn specs(request: &proto::SpawnWorkflowRequest) -> HashMap<String, Vec<u8>> {
    let function = |f: &proto::WorkflowFunction| {
        let mut annotations: Vec<_> = f.annotations.iter().collect();
        annotations.sort();
        let class = prost::Message::encode_to_vec(&f.class_spec.clone().unwrap_or_default());
        [
            b"f".to_vec(),
            class,
            format!("{annotations:?}").into_bytes(),
        ]
        .concat()
    };
    let resource = |r: &proto::WorkflowResource| {
        let mut configurations: Vec<_> = r.configurations.iter().collect();
        configurations.sort();
        format!("r{}{configurations:?}", r.class_type).into_bytes()
    };
    request
        .workflow_functions
        .iter()
        .map(|f| (f.name.clone(), function(f)))
        .chain(
            request
                .workflow_resources
                .iter()
                .map(|r| (r.name.clone(), resource(r))),
        )
        .collect()
}

/// Sorts the components of `new` against `old`.
fn compare(old: &proto::SpawnWorkflowRequest, new: &proto::SpawnWorkflowRequest) -> UpdateSummary {
    let (old, new) = (specs(old), specs(new));
    let mut summary = UpdateSummary::default();
    for (name, spec) in &new {
        match old.get(name) {
            None => summary.added.push(name.clone()),
            Some(before) if before == spec => summary.kept.push(name.clone()),
            Some(_) => summary.changed.push(name.clone()),
        }
    }
    summary.removed = old
        .keys()
        .filter(|n| !new.contains_key(*n))
        .cloned()
        .collect();
    for list in [
        &mut summary.added,
        &mut summary.changed,
        &mut summary.removed,
        &mut summary.kept,
    ] {
        list.sort();
    }
    summary
}

impl Controller {
    /// Changes running workflow `workflow_id` into `request` (its name is
    /// kept when `request` has none).
    pub async fn update(
        &self,
        workflow_id: &str,
        mut request: proto::SpawnWorkflowRequest,
        scope: Option<&str>,
    ) -> Result<UpdateSummary, ControllerError> {
        edgeless_api::workflow::unpack_codes(&mut request)?;
        validate(&request)?;
        let id = parse_id(workflow_id)?;
        let super::Running {
            request: old_request,
            lids: old_lids,
            components: old_components,
            wired: old_wired,
        } = self.running(id, scope, "stop it and start it again")?;
        let tenant = super::lock(&self.workflows)
            .get(&id)
            .map(|w| w.tenant.clone())
            .unwrap_or_default();
        self.check_claims(&request, &tenant, Some(id))?;
        if request.name.is_empty() {
            request.name = old_request.name.clone();
        }
        let summary = compare(&old_request, &request);
        let fresh: HashSet<&String> = summary.added.iter().chain(&summary.changed).collect();
        let lids: HashMap<String, Uuid> = specs(&request)
            .into_keys()
            .map(|name| {
                let lid = match old_lids.get(&name) {
                    Some(lid) if !fresh.contains(&name) => *lid,
                    _ => Uuid::new_v4(),
                };
                (name, lid)
            })
            .collect();
        let _deploying = Deploying::new(&self.deploying, &lids);
        let kept: Vec<Component> = old_components
            .iter()
            .filter(|c| summary.kept.contains(&c.name))
            .cloned()
            .collect();
        // New and changed components are placed (beside the kept ones when
        // they fit there), started, and the whole workflow wired anew.
        let deployed = self.deploy(id, &request, &lids, &kept, &old_wired).await;
        let (started, wired) = match deployed {
            Ok(deployed) => deployed,
            Err(error) => {
                tracing::warn!(workflow = %id, %error, "update failed; the workflow stays as it was");
                // Kept components may have been patched already: give them
                // their old mapping back.
                let restored = self
                    .wire(id, &old_request, &old_lids, &old_components, &old_wired)
                    .await;
                if let Err(again) = restored {
                    tracing::error!(workflow = %id, error = %again, "old mappings not restored");
                }
                return Err(error);
            }
        };
        let leaving: Vec<Component> = old_components
            .iter()
            .filter(|c| summary.removed.contains(&c.name) || summary.changed.contains(&c.name))
            .cloned()
            .collect();
        self.stop_everywhere(&leaving).await;
        let mut components = kept;
        components.extend(started);
        {
            let mut workflows = lock(&self.workflows);
            if let Some(workflow) = workflows.get_mut(&id) {
                workflow.request = request;
                workflow.lids = lids;
                workflow.components = components;
                workflow.wired = wired;
                crate::persistence::save(&self.store, id, workflow);
            }
        }
        tracing::info!(
            workflow = %id,
            added = summary.added.len(),
            changed = summary.changed.len(),
            removed = summary.removed.len(),
            kept = summary.kept.len(),
            "workflow updated"
        );
        let message = format!(
            "added {:?}, changed {:?}, removed {:?}",
            summary.added, summary.changed, summary.removed
        );
        self.record("workflow-updated", &id.to_string(), message);
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(name: &str, code: &[u8], annotation: &str) -> proto::WorkflowFunction {
        proto::WorkflowFunction {
            name: name.into(),
            class_spec: Some(proto::FunctionClassSpecification {
                function_class_code: code.to_vec().into(),
                ..Default::default()
            }),
            annotations: [("a".to_string(), annotation.to_string())].into(),
            output_mapping: Default::default(),
        }
    }

    #[test]
    fn components_are_sorted_by_what_changed() {
        let old = proto::SpawnWorkflowRequest {
            workflow_functions: vec![
                function("same", b"1", "x"),
                function("code", b"1", "x"),
                function("annotation", b"1", "x"),
                function("gone", b"1", "x"),
            ],
            ..Default::default()
        };
        let mut new = proto::SpawnWorkflowRequest {
            workflow_functions: vec![
                function("same", b"1", "x"),
                function("code", b"2", "x"),
                function("annotation", b"1", "y"),
                function("new", b"1", "x"),
            ],
            ..Default::default()
        };
        // A different mapping alone is no change: it is patched.
        new.workflow_functions[0]
            .output_mapping
            .insert("out".into(), "new".into());
        assert_eq!(
            compare(&old, &new),
            UpdateSummary {
                added: vec!["new".into()],
                changed: vec!["annotation".into(), "code".into()],
                removed: vec!["gone".into()],
                kept: vec!["same".into()],
            }
        );
    }
}
