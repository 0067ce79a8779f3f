//! A workflow's state as its domain sees it: computed from its components'
//! states in the orchestrator's view, never assumed.

use std::collections::HashMap;

use edgeless_api::proto;

use uuid::Uuid;

use super::{Component, Controller, State};

/// What the status of one workflow is made of.
pub(crate) struct Observed {
    /// The workflow's state (see `WorkflowInstanceStatus.state`).
    pub state: String,
    /// Each component's state, instances and restarts, in order.
    pub components: Vec<proto::WorkflowComponentMapping>,
}

/// The view of the workflow's domain, as far as it could be had.
pub(crate) enum DomainSight<'a> {
    /// The workflow has no domain (it waits for one).
    None,
    /// The domain did not answer.
    Unreachable(&'a str),
    /// What its orchestrator sees.
    View(&'a proto::DomainView),
}

/// The workflow's state from `sight` of its domain `domain_id`.
pub(crate) fn observe(
    state: &State,
    domain_id: &str,
    components: &[Component],
    sight: DomainSight<'_>,
) -> Observed {
    let views: HashMap<&str, &proto::ComponentView> = match &sight {
        DomainSight::View(view) => view
            .components
            .iter()
            .map(|c| (c.logical_id.as_str(), c))
            .collect(),
        _ => HashMap::new(),
    };
    let mapped: Vec<proto::WorkflowComponentMapping> = components
        .iter()
        .map(|c| {
            let lid = c.lid.to_string();
            let (state, instances, restarts) = match (&sight, views.get(lid.as_str())) {
                (DomainSight::View(_), Some(view))
                    if view.state == "running" && view.instances.is_empty() =>
                {
                    ("missing".to_string(), Vec::new(), view.restarts)
                }
                (DomainSight::View(_), Some(view)) => {
                    (view.state.clone(), view.instances.clone(), view.restarts)
                }
                (DomainSight::View(_), None) => ("missing".to_string(), Vec::new(), 0),
                _ => ("unknown".to_string(), c.instances.clone(), 0),
            };
            proto::WorkflowComponentMapping {
                name: c.name.clone(),
                function_id: lid,
                domain_id: domain_id.to_string(),
                instances,
                state,
                restarts,
            }
        })
        .collect();
    let state = match (state, &sight) {
        (State::Failed(reason), _) => format!("failed: {reason}"),
        (State::Running, DomainSight::None) => {
            "pending: waiting for a domain that can host it".to_string()
        }
        (State::Running, DomainSight::Unreachable(why)) => {
            format!("unknown: domain `{domain_id}` does not answer ({why})")
        }
        (State::Running, DomainSight::View(_)) => workflow_state(&mapped),
    };
    Observed {
        state,
        components: mapped,
    }
}

/// `running` when every component runs; else the first failed component
/// makes it `failed`, the first other one `degraded`.
fn workflow_state(components: &[proto::WorkflowComponentMapping]) -> String {
    if let Some(failed) = components.iter().find(|c| c.state.starts_with("failed")) {
        let reason = failed.state.trim_start_matches("failed: ");
        return format!("failed: {}: {reason}", failed.name);
    }
    match components.iter().find(|c| c.state != "running") {
        Some(other) => format!("degraded: {}: {}", other.name, other.state),
        None => "running".to_string(),
    }
}

impl Controller {
    /// The views of `domain_ids` (each asked once, all at once, with a
    /// short deadline), or why a domain's could not be had.
    pub(crate) async fn domain_views(
        &self,
        domain_ids: impl IntoIterator<Item = String>,
    ) -> HashMap<String, Result<proto::DomainView, String>> {
        let mut unique: Vec<String> = domain_ids.into_iter().filter(|d| !d.is_empty()).collect();
        unique.sort();
        unique.dedup();
        let asks = unique.into_iter().map(|domain_id| async move {
            let view = tokio::time::timeout(VIEW_DEADLINE, self.domain_view(&domain_id))
                .await
                .map_err(|_| format!("no answer within {VIEW_DEADLINE:?}"))
                .and_then(|r| r.map_err(|e| e.to_string()));
            (domain_id, view)
        });
        futures::future::join_all(asks).await.into_iter().collect()
    }
}

/// The status of a workflow just started: every component has its
/// instances.
pub(crate) fn started_status(
    workflow_id: Uuid,
    domain_id: &str,
    components: &[Component],
) -> proto::WorkflowInstanceStatus {
    proto::WorkflowInstanceStatus {
        workflow_id: workflow_id.to_string(),
        domain_mapping: components
            .iter()
            .map(|c| proto::WorkflowComponentMapping {
                name: c.name.clone(),
                function_id: c.lid.to_string(),
                domain_id: domain_id.to_string(),
                instances: c.instances.clone(),
                state: "running".to_string(),
                restarts: 0,
            })
            .collect(),
        state: "running".to_string(),
    }
}

/// How long `workflow list` and `inspect` wait for a domain's view.
const VIEW_DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);

/// What the controller could see of `domain_id` in `views`.
pub(crate) fn sight<'a>(
    domain_id: &'a str,
    views: &'a HashMap<String, Result<proto::DomainView, String>>,
) -> DomainSight<'a> {
    match views.get(domain_id) {
        _ if domain_id.is_empty() => DomainSight::None,
        Some(Ok(view)) => DomainSight::View(view),
        Some(Err(why)) => DomainSight::Unreachable(why),
        None => DomainSight::Unreachable("not asked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn component(name: &str) -> Component {
        Component {
            name: name.to_string(),
            lid: Uuid::new_v4(),
            is_function: true,
            instances: Vec::new(),
        }
    }

    fn view_of(components: &[(&Component, &str, usize)]) -> proto::DomainView {
        proto::DomainView {
            components: components
                .iter()
                .map(|(c, state, instances)| proto::ComponentView {
                    logical_id: c.lid.to_string(),
                    state: state.to_string(),
                    instances: vec![proto::InstanceId::default(); *instances],
                    restarts: 2,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn the_state_follows_the_components() {
        let (a, b) = (component("a"), component("b"));
        let both = [a.clone(), b.clone()];
        let state = |view: &proto::DomainView| {
            observe(&State::Running, "d", &both, DomainSight::View(view)).state
        };
        assert_eq!(
            state(&view_of(&[(&a, "running", 1), (&b, "running", 1)])),
            "running"
        );
        assert_eq!(
            state(&view_of(&[
                (&a, "running", 1),
                (&b, "restarting: trapped", 0)
            ])),
            "degraded: b: restarting: trapped"
        );
        assert_eq!(
            state(&view_of(&[(&a, "running", 0), (&b, "running", 1)])),
            "degraded: a: missing"
        );
        assert_eq!(
            state(&view_of(&[(&a, "running", 1)])),
            "degraded: b: missing"
        );
        assert_eq!(
            state(&view_of(&[
                (&a, "failed: trapped (gave up after 5 restarts)", 0),
                (&b, "running", 1)
            ])),
            "failed: a: trapped (gave up after 5 restarts)"
        );
        let observed = observe(
            &State::Running,
            "d",
            &both,
            DomainSight::View(&view_of(&[(&a, "restarting: x", 0), (&b, "running", 1)])),
        );
        assert_eq!(observed.components[0].state, "restarting: x");
        assert_eq!(observed.components[0].restarts, 2);
        assert_eq!(
            observe(
                &State::Running,
                "d",
                &both,
                DomainSight::Unreachable("timeout")
            )
            .state,
            "unknown: domain `d` does not answer (timeout)"
        );
        assert!(
            observe(&State::Running, "", &both, DomainSight::None)
                .state
                .starts_with("pending")
        );
        assert_eq!(
            observe(
                &State::Failed("no domain".into()),
                "",
                &both,
                DomainSight::None
            )
            .state,
            "failed: no domain"
        );
    }
}
