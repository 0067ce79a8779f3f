//! How the controller keeps domains and workflows in step: domains that
//! register (new, back after a lost lease, or with a restarted
//! orchestrator) are reconciled with the components saved on them; domains
//! whose lease runs out lose their components, which are deployed again on
//! a domain that fits, while the workflow's components on other domains
//! keep running and are wired to them anew.

use std::collections::HashSet;

use edgeless_api::proto;
use uuid::Uuid;

use super::{Component, Controller, DOMAIN_GRACE, Deploying, State, lock, stop_components};
use crate::domains::{self, Registration};

impl Controller {
    /// Applies a domain's registration; answers whether it must reset.
    pub fn update_domain(
        &self,
        request: proto::UpdateDomainRequest,
        orchestrator: &str,
    ) -> Result<bool, String> {
        let id = request.domain_id.clone();
        let url = request.orchestrator_url.clone();
        let registration = domains::register(&mut lock(&self.domains), request, orchestrator)?;
        match registration {
            Registration::Refreshed => return Ok(false),
            Registration::New => {
                tracing::info!(domain = %id, orchestrator = %url, "domain registered");
                self.record("domain-registered", "", format!("domain {id} at {url}"));
            }
            Registration::Restarted => {
                tracing::warn!(domain = %id, "the domain's orchestrator restarted; checking its workflows");
                self.record("domain-restarted", "", format!("domain {id} at {url}"));
            }
        }
        // Components it lost, not deployed elsewhere since, go back to it;
        // a restarted orchestrator knows no remote components any more.
        for workflow in lock(&self.workflows).values_mut() {
            let mut back = false;
            for component in &mut workflow.components {
                if component.domain_id.is_empty() && component.previous_domain == id {
                    component.domain_id = id.clone();
                    back = true;
                }
            }
            if back && workflow.is_placed() {
                workflow.state = State::Running;
            }
            workflow.wired.remove(&id);
        }
        lock(&self.unverified).insert(id);
        Ok(false)
    }

    fn orphan_components_of(&self, domain_id: &str) {
        for workflow in lock(&self.workflows).values_mut() {
            for component in &mut workflow.components {
                if component.domain_id == domain_id {
                    component.previous_domain = std::mem::take(&mut component.domain_id);
                }
            }
            workflow.wired.remove(domain_id);
        }
    }

    /// After a restart: a domain that registers must still run the
    /// workflows saved on it (its orchestrator may have restarted too and
    /// kept nothing); those it does not run are deployed again. Workflows
    /// whose domain does not come back within [`DOMAIN_GRACE`] are deployed
    /// elsewhere.
    async fn verify_saved_workflows(&self) {
        let unverified: Vec<String> = lock(&self.unverified).drain().collect();
        for domain_id in unverified {
            let view = match self.domain_view(&domain_id).await {
                Ok(view) => view,
                Err(error) => {
                    tracing::warn!(domain = %domain_id, %error, "cannot check the domain's workflows; will retry");
                    lock(&self.unverified).insert(domain_id);
                    continue;
                }
            };
            self.reconcile(&domain_id, &view).await;
        }
        if self.started.elapsed() > DOMAIN_GRACE {
            let registered: HashSet<String> = lock(&self.domains).keys().cloned().collect();
            for workflow in lock(&self.workflows).values_mut() {
                for component in &mut workflow.components {
                    if !component.domain_id.is_empty() && !registered.contains(&component.domain_id)
                    {
                        tracing::warn!(domain = %component.domain_id, component = %component.name, "the domain of a saved component did not come back; deploying it elsewhere");
                        component.domain_id.clear();
                    }
                }
            }
        }
    }

    /// Whether `workflow_id` is, or was, one of this controller's: it runs
    /// it, stopped it, or its saved state is older than this run (it knew
    /// every workflow it ran).
    fn knew_workflow(&self, workflow_id: &str) -> bool {
        self.store.has_history()
            || Uuid::parse_str(workflow_id).is_ok_and(|id| {
                lock(&self.workflows).contains_key(&id) || lock(&self.retired).contains(&id)
            })
    }

    /// Makes a domain run what the controller expects of it: components of
    /// its own workflows that the domain should not run (stopped, or
    /// deployed elsewhere meanwhile) are stopped; workflows with components
    /// missing are stopped there and deployed again. Components of
    /// workflows this controller never knew (it started without its state)
    /// are left running, and the log says so.
    async fn reconcile(&self, domain_id: &str, view: &proto::DomainView) {
        let on_domain: Vec<(Uuid, Vec<Component>)> = lock(&self.workflows)
            .iter()
            .map(|(id, w)| {
                let here = w
                    .components
                    .iter()
                    .filter(|c| c.domain_id == domain_id)
                    .cloned()
                    .collect::<Vec<_>>();
                (*id, here)
            })
            .filter(|(_, here)| !here.is_empty())
            .collect();
        let expected: HashSet<String> = on_domain
            .iter()
            .flat_map(|(_, components)| components.iter().map(|c| c.lid.to_string()))
            .collect();
        let (strays, unknown): (Vec<&proto::ComponentView>, Vec<&proto::ComponentView>) = view
            .components
            .iter()
            .filter(|c| !expected.contains(&c.logical_id))
            .partition(|c| self.knew_workflow(&c.workflow_id));
        if !unknown.is_empty() {
            let mut workflows: Vec<&str> = unknown.iter().map(|c| c.workflow_id.as_str()).collect();
            workflows.sort_unstable();
            workflows.dedup();
            tracing::warn!(
                domain = %domain_id,
                count = unknown.len(),
                workflows = %workflows.join(", "),
                "the domain runs components of workflows this controller does not know (it started without their state); left running, unmanaged (restore the controller's data_dir to manage them again)"
            );
        }
        let strays: Vec<Component> = strays
            .into_iter()
            .filter(|c| {
                let deploying = lock(&self.deploying);
                !Uuid::parse_str(&c.logical_id).is_ok_and(|lid| deploying.contains(&lid))
            })
            .filter_map(|c| {
                Some(Component {
                    name: c.class.clone(),
                    lid: Uuid::parse_str(&c.logical_id).ok()?,
                    is_function: c.kind == "function",
                    instances: Vec::new(),
                    domain_id: domain_id.to_string(),
                    previous_domain: String::new(),
                })
            })
            .collect();
        let Some(mut clients) = self.clients(domain_id) else {
            return;
        };
        if !strays.is_empty() {
            tracing::warn!(domain = %domain_id, count = strays.len(), "stopping components of workflows this controller stopped or moved");
            stop_components(&mut clients, &strays).await;
        }
        let running: HashSet<&str> = view
            .components
            .iter()
            .map(|c| c.logical_id.as_str())
            .collect();
        for (id, components) in on_domain {
            if components
                .iter()
                .all(|c| running.contains(c.lid.to_string().as_str()))
            {
                tracing::info!(workflow = %id, domain = %domain_id, "saved workflow still runs");
                continue;
            }
            tracing::warn!(workflow = %id, domain = %domain_id, "the domain no longer runs all of the workflow's components there; deploying them again");
            stop_components(&mut clients, &components).await;
            if let Some(workflow) = lock(&self.workflows).get_mut(&id) {
                for component in &mut workflow.components {
                    if component.domain_id == domain_id {
                        component.domain_id.clear();
                    }
                }
            }
        }
    }

    /// Drops domains whose lease ran out and deploys their components
    /// again elsewhere; tells split workflows' domains what changed. Called
    /// every second.
    pub async fn check_domains(&self) {
        let expired = domains::expire(&mut lock(&self.domains), edgeless_api::now_secs());
        for id in &expired {
            tracing::warn!(domain = %id, "domain lease expired");
            self.record("domain-lost", "", format!("domain {id}: its lease expired"));
            self.orphan_components_of(id);
        }
        self.verify_saved_workflows().await;
        let orphans: Vec<Uuid> = lock(&self.workflows)
            .iter()
            .filter(|(_, w)| !w.is_placed())
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            self.redeploy(id).await;
        }
        self.refresh_wiring().await;
        self.refresh_http_routes().await;
    }

    /// Deploys the components of workflow `id` that have no domain, and
    /// wires them to those that kept theirs.
    async fn redeploy(&self, id: Uuid) {
        let Some((request, lids, old_state, placed, wired)) =
            lock(&self.workflows).get(&id).map(|w| {
                let placed: Vec<Component> = w
                    .components
                    .iter()
                    .filter(|c| !c.domain_id.is_empty())
                    .cloned()
                    .collect();
                (
                    w.request.clone(),
                    w.lids.clone(),
                    w.state.clone(),
                    placed,
                    w.wired.clone(),
                )
            })
        else {
            return;
        };
        let _deploying = Deploying::new(&self.deploying, &lids);
        let deployed = self.deploy(id, &request, &lids, &placed, &wired).await;
        let undo = {
            let mut workflows = lock(&self.workflows);
            match (workflows.get_mut(&id), deployed) {
                // Stopped while being deployed: undo below.
                (None, Ok((started, wired))) => Some((started, wired)),
                (None, Err(_)) => None,
                (Some(workflow), Ok((started, wired))) => {
                    let domains = super::domains_of(&started).join(",");
                    tracing::info!(workflow = %id, domains = %domains, components = started.len(), "workflow deployed again");
                    self.record(
                        "workflow-redeployed",
                        &id.to_string(),
                        format!("{} components to domain {domains}", started.len()),
                    );
                    for component in &mut workflow.components {
                        if let Some(new) = started.iter().find(|s| s.lid == component.lid) {
                            *component = new.clone();
                        }
                    }
                    workflow.wired = wired;
                    workflow.state = State::Running;
                    crate::persistence::save(&self.store, id, workflow);
                    None
                }
                (Some(workflow), Err(error)) => {
                    let state = State::Failed(error.to_string());
                    if state != old_state {
                        tracing::error!(workflow = %id, %error, "components cannot be deployed again; will retry");
                        self.record("workflow-failed", &id.to_string(), error.to_string());
                    }
                    workflow.state = state;
                    None
                }
            }
        };
        if let Some((started, wired)) = undo {
            self.stop_everywhere(&started).await;
            self.unwire(id, &wired).await;
        }
    }
}
