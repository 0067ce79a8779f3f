//! Workflows whose components run in several domains.
//!
//! Each domain's orchestrator learns, per workflow, the components of other
//! domains that its components send to or take events from: their
//! instances, where their nodes are reached (the node's dataplane, or the
//! ε-BAL of its domain when the domain has one), and which of its own
//! components they send to. Instances change when nodes fail, so every
//! second the controller compares what each domain was told with what the
//! domains see now and tells them again what changed (`refresh_wiring`).

use std::collections::HashMap;

use edgeless_api::proto;
use uuid::Uuid;

use super::status::Views;
use super::{Component, Controller, ControllerError, domains_of, lock, patch_mappings};

/// What each domain was last told about a workflow: its remote components.
pub(crate) type Wired = HashMap<String, proto::RemoteComponents>;

/// Component name → the names it sends to.
fn targets_by_name(request: &proto::SpawnWorkflowRequest) -> HashMap<&str, Vec<&str>> {
    request
        .workflow_functions
        .iter()
        .map(|f| (f.name.as_str(), &f.output_mapping))
        .chain(
            request
                .workflow_resources
                .iter()
                .map(|r| (r.name.as_str(), &r.output_mapping)),
        )
        .map(|(name, mapping)| (name, mapping.values().map(String::as_str).collect()))
        .collect()
}

impl Controller {
    /// Tells every domain of the workflow about the other domains'
    /// components, then gives every component its mapping (recorded
    /// everywhere first, then used). Returns what the domains were told.
    pub(crate) async fn wire(
        &self,
        workflow_id: Uuid,
        request: &proto::SpawnWorkflowRequest,
        lids: &HashMap<String, Uuid>,
        components: &[Component],
        before: &Wired,
    ) -> Result<Wired, ControllerError> {
        let domains = domains_of(components);
        let views = if domains.len() > 1 {
            self.domain_views(domains).await
        } else {
            Views::new()
        };
        let wired = self
            .send_remotes(workflow_id, request, components, before, &views)
            .await?;
        let domain_of: HashMap<&str, &str> = components
            .iter()
            .map(|c| (c.name.as_str(), c.domain_id.as_str()))
            .collect();
        for record_only in [true, false] {
            for domain_id in domains_of(components) {
                let mut clients = self.clients(&domain_id).ok_or_else(|| {
                    ControllerError::NoDomain(format!("domain `{domain_id}` disappeared"))
                })?;
                let here = |name: &str| domain_of.get(name) == Some(&domain_id.as_str());
                patch_mappings(&mut clients, request, lids, here, record_only).await?;
            }
        }
        Ok(wired)
    }

    /// Sends each domain the remote components it needs (their instances
    /// as `views` show them), where that changed from `before`; domains
    /// that no longer need any are told so.
    async fn send_remotes(
        &self,
        workflow_id: Uuid,
        request: &proto::SpawnWorkflowRequest,
        components: &[Component],
        before: &Wired,
        views: &Views,
    ) -> Result<Wired, ControllerError> {
        let domains = domains_of(components);
        let desired = if domains.len() > 1 {
            domains
                .iter()
                .map(|d| {
                    let remotes = self.remotes_for(d, workflow_id, request, components, views);
                    (d.clone(), remotes)
                })
                .collect()
        } else {
            Wired::new()
        };
        for (domain_id, remotes) in &desired {
            if before.get(domain_id) == Some(remotes) {
                continue;
            }
            let mut clients = self.clients(domain_id).ok_or_else(|| {
                ControllerError::NoDomain(format!("domain `{domain_id}` disappeared"))
            })?;
            clients
                .wiring
                .set_remotes(remotes.clone())
                .await
                .map_err(|s| ControllerError::Domain {
                    domain: domain_id.clone(),
                    message: s.message().to_string(),
                })?;
        }
        let gone: Wired = before
            .iter()
            .filter(|(d, _)| !desired.contains_key(*d))
            .map(|(d, r)| (d.clone(), r.clone()))
            .collect();
        self.unwire(workflow_id, &gone).await;
        Ok(desired)
    }

    /// Tells the domains in `wired` to forget the workflow's remote
    /// components (failures are logged: a domain that is gone forgot).
    pub(crate) async fn unwire(&self, workflow_id: Uuid, wired: &Wired) {
        for domain_id in wired.keys() {
            let Some(mut clients) = self.clients(domain_id) else {
                continue;
            };
            let empty = proto::RemoteComponents {
                workflow_id: workflow_id.to_string(),
                components: Vec::new(),
            };
            if let Err(status) = clients.wiring.set_remotes(empty).await {
                tracing::warn!(domain = %domain_id, workflow = %workflow_id, error = %status.message(), "remote components not cleared");
            }
        }
    }

    /// The components outside `domain_id` that its components exchange
    /// events with, with their instances as their domains see them now.
    fn remotes_for(
        &self,
        domain_id: &str,
        workflow_id: Uuid,
        request: &proto::SpawnWorkflowRequest,
        components: &[Component],
        views: &Views,
    ) -> proto::RemoteComponents {
        let targets = targets_by_name(request);
        let local: HashMap<&str, &Component> = components
            .iter()
            .filter(|c| c.domain_id == domain_id)
            .map(|c| (c.name.as_str(), c))
            .collect();
        let balancers: HashMap<String, String> = lock(&self.domains)
            .iter()
            .map(|(id, d)| (id.clone(), d.balancer_url.clone()))
            .collect();
        let mut remotes = Vec::new();
        for component in components
            .iter()
            .filter(|c| c.domain_id != domain_id && !c.domain_id.is_empty())
        {
            let sends_to: Vec<String> = targets
                .get(component.name.as_str())
                .into_iter()
                .flatten()
                .filter_map(|t| local.get(t))
                .map(|c| c.lid.to_string())
                .collect();
            let is_target = local.keys().any(|l| {
                targets
                    .get(l)
                    .is_some_and(|t| t.contains(&component.name.as_str()))
            });
            if sends_to.is_empty() && !is_target {
                continue;
            }
            let view = views
                .get(&component.domain_id)
                .and_then(|v| v.as_ref().ok());
            let lid = component.lid.to_string();
            let instances = view
                .and_then(|v| v.components.iter().find(|c| c.logical_id == lid))
                .map(|c| c.instances.clone())
                .unwrap_or_else(|| component.instances.clone());
            let balancer = balancers
                .get(&component.domain_id)
                .cloned()
                .unwrap_or_default();
            let node_urls = instances
                .iter()
                .filter_map(|i| {
                    let url = if balancer.is_empty() {
                        view?
                            .nodes
                            .iter()
                            .find(|n| n.node_id == i.node_id)?
                            .invocation_url
                            .clone()
                    } else {
                        balancer.clone()
                    };
                    Some((i.node_id.clone(), url))
                })
                .collect();
            remotes.push(proto::RemoteComponent {
                component_id: lid,
                instances,
                node_urls,
                targets: sends_to,
            });
        }
        remotes.sort_by(|a, b| a.component_id.cmp(&b.component_id));
        proto::RemoteComponents {
            workflow_id: workflow_id.to_string(),
            components: remotes,
        }
    }

    /// Tells the domains of every split workflow what changed about the
    /// other domains' instances (nodes failed, instances moved).
    pub(crate) async fn refresh_wiring(&self) {
        let split: Vec<(Uuid, proto::SpawnWorkflowRequest, Vec<Component>, Wired)> =
            lock(&self.workflows)
                .iter()
                .filter(|(_, w)| w.is_placed() && (w.domains().len() > 1 || !w.wired.is_empty()))
                .map(|(id, w)| {
                    (
                        *id,
                        w.request.clone(),
                        w.components.clone(),
                        w.wired.clone(),
                    )
                })
                .collect();
        // Every domain involved is asked once.
        let views = self
            .domain_views(split.iter().flat_map(|(_, _, c, _)| domains_of(c)))
            .await;
        for (id, request, components, before) in split {
            // A domain that did not answer now keeps what it was told.
            if domains_of(&components)
                .iter()
                .any(|d| !matches!(views.get(d), Some(Ok(_))))
            {
                continue;
            }
            match self
                .send_remotes(id, &request, &components, &before, &views)
                .await
            {
                Ok(wired) => {
                    if let Some(workflow) = lock(&self.workflows).get_mut(&id) {
                        workflow.wired = wired;
                    }
                }
                Err(error) => {
                    tracing::warn!(workflow = %id, %error, "remote components not updated; will retry");
                }
            }
        }
    }
}
