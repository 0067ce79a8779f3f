//! What the controller reports: workflow counts, the domains with their
//! balancers and links, one domain's view, and the workflows as their
//! domains see them now (`workflow list`, `workflow inspect`).

use std::collections::{BTreeMap, HashSet};

use edgeless_api::proto;

use super::{Controller, ControllerError, State, Workflow, domains_of, lock, parse_id, status};

impl Controller {
    /// How many workflows run, how many failed, and how many domains are
    /// registered.
    pub fn counts(&self) -> (usize, usize, usize) {
        let workflows = lock(&self.workflows);
        let failed = workflows
            .values()
            .filter(|w| matches!(w.state, State::Failed(_)))
            .count();
        (workflows.len() - failed, failed, lock(&self.domains).len())
    }

    /// The capabilities of one domain, or of all when `domain_id` is empty.
    /// With each: its ε-BAL, and its links to other domains (the domains
    /// its split workflows also use).
    pub fn domains(&self, domain_id: &str) -> Vec<proto::DomainCapabilitiesEntry> {
        let spans: Vec<Vec<String>> = lock(&self.workflows)
            .values()
            .map(Workflow::domains)
            .filter(|d| d.len() > 1)
            .collect();
        let domains = lock(&self.domains);
        let via = |a: &str, b: &str| {
            let relayed = [a, b]
                .iter()
                .any(|d| domains.get(*d).is_some_and(|d| !d.balancer_url.is_empty()));
            if relayed { "balancer" } else { "direct" }
        };
        domains
            .iter()
            .filter(|(id, _)| domain_id.is_empty() || *id == domain_id)
            .map(|(id, d)| {
                let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
                for span in spans.iter().filter(|s| s.contains(id)) {
                    for other in span.iter().filter(|o| *o != id) {
                        *counts.entry(other).or_default() += 1;
                    }
                }
                proto::DomainCapabilitiesEntry {
                    domain_id: id.clone(),
                    domain_capabilities: Some(d.capabilities.clone()),
                    balancer_url: d.balancer_url.clone(),
                    balancer_healthy: d.balancer_healthy,
                    links: counts
                        .into_iter()
                        .map(|(other, workflows)| proto::DomainLink {
                            domain_id: other.to_string(),
                            via: via(id, other).to_string(),
                            workflows,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// What a domain's orchestrator sees: nodes, components, instances.
    pub async fn domain_view(&self, domain_id: &str) -> Result<proto::DomainView, ControllerError> {
        let mut clients = self
            .clients(domain_id)
            .ok_or_else(|| ControllerError::NotFound(format!("domain {domain_id}")))?;
        let view = clients
            .inspection
            .view(proto::Empty {})
            .await
            .map_err(|s| ControllerError::Domain {
                domain: domain_id.to_string(),
                message: s.message().to_string(),
            })?;
        Ok(view.into_inner())
    }

    /// The ids of `tenant`'s workflows.
    pub fn workflow_ids_of(&self, tenant: &str) -> HashSet<String> {
        lock(&self.workflows)
            .iter()
            .filter(|(_, w)| w.tenant == tenant)
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// The workflows `scope` may see, each with its state as its domain
    /// sees it now.
    pub async fn list(&self, scope: Option<&str>) -> Vec<proto::WorkflowSummary> {
        // The domains first, then the workflows as they are once their
        // views arrived (nothing of them copied across the wait).
        let mut domains = std::collections::BTreeSet::new();
        for workflow in lock(&self.workflows).values() {
            if !workflow.visible_to(scope) {
                continue;
            }
            for component in &workflow.components {
                if !domains.contains(&component.domain_id) {
                    domains.insert(component.domain_id.clone());
                }
            }
        }
        let views = self.domain_views(domains).await;
        lock(&self.workflows)
            .iter()
            .filter(|(_, w)| w.visible_to(scope))
            .map(|(id, w)| proto::WorkflowSummary {
                tenant: w.tenant.clone(),
                workflow_id: id.to_string(),
                name: w.request.name.clone(),
                state: status::observe(&w.state, &w.components, &views).state,
                domain_id: w.domain_label(),
                functions: w.request.workflow_functions.len() as u32,
                resources: w.request.workflow_resources.len() as u32,
                started_unix: w.started_unix,
            })
            .collect()
    }

    /// A workflow's request and status, with instances as its domain's
    /// orchestrator sees them now (they change when nodes fail).
    pub async fn inspect(
        &self,
        workflow_id: &str,
        scope: Option<&str>,
    ) -> Result<proto::WorkflowInstanceInfo, ControllerError> {
        let id = parse_id(workflow_id)?;
        let (request, components, state) = {
            let workflows = lock(&self.workflows);
            let w = workflows
                .get(&id)
                .filter(|w| w.visible_to(scope))
                .ok_or_else(|| ControllerError::NotFound(workflow_id.to_string()))?;
            (w.request.clone(), w.components.clone(), w.state.clone())
        };
        let views = self.domain_views(domains_of(&components)).await;
        let observed = status::observe(&state, &components, &views);
        // Secrets in resource settings (passwords, tokens) do not leave the
        // controller.
        let mut request = request;
        for resource in &mut request.workflow_resources {
            edgeless_api::secrets::redact_configuration(&mut resource.configurations);
        }
        for function in &mut request.workflow_functions {
            if let Some(payload) = function
                .annotations
                .get_mut(edgeless_api::annotations::INIT_PAYLOAD)
            {
                *payload = edgeless_api::secrets::redact_payload(payload);
            }
        }
        Ok(proto::WorkflowInstanceInfo {
            request: Some(request),
            status: Some(proto::WorkflowInstanceStatus {
                workflow_id: id.to_string(),
                domain_mapping: observed.components,
                state: observed.state,
            }),
        })
    }
}
