//! Moving a workflow, or one of its components, to another domain
//! (`edgeless_cli workflow migrate` and `migrate-component`).
//!
//! Each moving component is handed over by its domain: stopped there, with
//! its last `sync`ed state returned once the nodes that ran it have reported
//! it. It then starts in the target domain under the same logical id, from
//! that state, and the workflow is wired anew (mappings, and what each
//! domain knows of the others). It never runs in two places; its events
//! pause for a stop and a start.

use std::collections::HashMap;

use edgeless_api::proto;

use super::{
    Component, Controller, ControllerError, Deploying, domains_of, lock, parse_id,
    start_with_states,
};

impl Controller {
    /// Moves `component` of workflow `workflow_id` (empty: every component)
    /// to domain `domain_id`.
    pub async fn migrate(
        &self,
        workflow_id: &str,
        domain_id: &str,
        component: &str,
        scope: Option<&str>,
    ) -> Result<(), ControllerError> {
        let id = parse_id(workflow_id)?;
        let super::Running {
            request,
            lids,
            components,
            wired,
        } = self.running(id, scope, "it cannot be moved until it is")?;
        if !component.is_empty() && !components.iter().any(|c| c.name == component) {
            return Err(ControllerError::NotFound(format!(
                "component `{component}` in workflow {id}"
            )));
        }
        let moving: Vec<Component> = components
            .iter()
            .filter(|c| component.is_empty() || c.name == component)
            .filter(|c| c.domain_id != domain_id)
            .cloned()
            .collect();
        self.check_move(&request, &components, &moving, domain_id)?;
        if moving.is_empty() {
            return Ok(());
        }
        let _deploying = Deploying::new(&self.deploying, &lids);
        // All at once: each waits for its nodes' next refresh.
        let handed = futures::future::join_all(moving.iter().map(|c| self.hand_over(c))).await;
        let mut states = HashMap::new();
        let mut failure = None;
        let mut stopped = Vec::new();
        for (c, state) in moving.iter().zip(handed) {
            match state {
                Ok(state) => {
                    stopped.push(c.clone());
                    if let Some(state) = state {
                        states.insert(c.name.clone(), state);
                    }
                }
                Err(error) => failure = Some(error),
            }
        }
        if let Some(error) = failure {
            // Those handed over are stopped: placed again like those of a
            // lost domain.
            self.unplace(id, &stopped);
            return Err(error);
        }
        let moved = self
            .start_moved(id, (&request, &lids), &moving, domain_id, &states)
            .await;
        let mut now: Vec<Component> = components
            .iter()
            .filter(|c| !moving.iter().any(|m| m.lid == c.lid))
            .cloned()
            .collect();
        let started = match moved {
            Ok(started) => started,
            Err(error) => {
                // The handed-over components are stopped: they are placed
                // again (anywhere that fits) like those of a lost domain.
                self.unplace(id, &moving);
                return Err(error);
            }
        };
        now.extend(started);
        let wired = self.wire(id, &request, &lids, &now, &wired).await?;
        {
            let mut workflows = lock(&self.workflows);
            if let Some(workflow) = workflows.get_mut(&id) {
                for c in &mut workflow.components {
                    if let Some(new) = now.iter().find(|n| n.lid == c.lid) {
                        *c = new.clone();
                    }
                }
                workflow.wired = wired;
                crate::persistence::save(&self.store, id, workflow);
            }
        }
        let names: Vec<&str> = moving.iter().map(|c| c.name.as_str()).collect();
        let message = format!("{} to domain {domain_id}", names.join(", "));
        tracing::info!(workflow = %id, domain = %domain_id, components = %names.join(","), "migrated");
        self.record("workflow-migrated", &id.to_string(), message);
        Ok(())
    }

    /// Marks `stopped` components of workflow `id` as waiting for a domain.
    fn unplace(&self, id: uuid::Uuid, stopped: &[Component]) {
        if let Some(workflow) = lock(&self.workflows).get_mut(&id) {
            for c in &mut workflow.components {
                if stopped.iter().any(|m| m.lid == c.lid) {
                    c.domain_id.clear();
                }
            }
        }
    }

    /// Stops `c` in its domain; its last synced state, if any.
    async fn hand_over(&self, c: &Component) -> Result<Option<Vec<u8>>, ControllerError> {
        let mut clients = self.clients(&c.domain_id).ok_or_else(|| {
            ControllerError::NoDomain(format!("domain `{}` disappeared", c.domain_id))
        })?;
        let request = proto::ComponentId {
            component_id: c.lid.to_string(),
        };
        let state =
            clients
                .wiring
                .hand_over(request)
                .await
                .map_err(|s| ControllerError::Domain {
                    domain: c.domain_id.clone(),
                    message: format!("`{}` not handed over: {}", c.name, s.message()),
                })?;
        Ok(state.into_inner().state)
    }

    /// Refuses a move the target domain or the workflow's annotations do
    /// not allow.
    fn check_move(
        &self,
        request: &proto::SpawnWorkflowRequest,
        components: &[Component],
        moving: &[Component],
        domain_id: &str,
    ) -> Result<(), ControllerError> {
        let domains = lock(&self.domains);
        if !domains.contains_key(domain_id) {
            return Err(ControllerError::NotFound(format!("domain {domain_id}")));
        }
        for c in moving {
            if let Some(why) = crate::placement::why_not(&domains, request, domain_id, &c.name) {
                return Err(ControllerError::NoDomain(format!(
                    "`{}` cannot move: domain `{domain_id}` {why}",
                    c.name
                )));
            }
        }
        let rules =
            edgeless_api::annotations::workflow_placement(&request.annotations).unwrap_or_default();
        let after: Vec<Component> = components
            .iter()
            .map(|c| {
                let mut c = c.clone();
                if moving.iter().any(|m| m.lid == c.lid) {
                    c.domain_id = domain_id.to_string();
                }
                c
            })
            .collect();
        let colocated: Vec<&Component> = after
            .iter()
            .filter(|c| rules.colocate.contains(&c.name))
            .collect();
        if colocated
            .iter()
            .any(|c| c.domain_id != colocated[0].domain_id)
        {
            return Err(ControllerError::NoDomain(format!(
                "components {} must share a domain (colocate): move the workflow, or each of them",
                rules.colocate.join(", ")
            )));
        }
        let spans = domains_of(&after).len();
        if let Some(max) = rules.max_domains
            && spans > max as usize
        {
            return Err(ControllerError::NoDomain(format!(
                "the workflow would span {spans} domains; max_domains is {max}"
            )));
        }
        Ok(())
    }

    /// Starts the handed-over components in `domain_id`, from their states.
    async fn start_moved(
        &self,
        id: uuid::Uuid,
        workflow: (&proto::SpawnWorkflowRequest, &HashMap<String, uuid::Uuid>),
        moving: &[Component],
        domain_id: &str,
        states: &HashMap<String, Vec<u8>>,
    ) -> Result<Vec<Component>, ControllerError> {
        let mut clients = self.clients(domain_id).ok_or_else(|| {
            ControllerError::NoDomain(format!("domain `{domain_id}` disappeared"))
        })?;
        let wanted = |name: &str| moving.iter().any(|m| m.name == name);
        let mut started = Vec::new();
        let site = (domain_id, &mut clients);
        let outcome = start_with_states(site, id, workflow, wanted, states, &mut started).await;
        if let Err(error) = outcome {
            self.stop_everywhere(&started).await;
            return Err(error);
        }
        Ok(started)
    }
}
