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

/// The view of a component's domain, as far as it could be had.
pub(crate) enum DomainSight<'a> {
    /// The component has no domain (it waits for one).
    None,
    /// The domain did not answer.
    Unreachable(&'a str),
    /// What its orchestrator sees.
    View(&'a proto::DomainView),
}

/// The views of the domains, as [`Controller::domain_views`] got them.
pub(crate) type Views = HashMap<String, Result<proto::DomainView, String>>;

/// The workflow's state from its components' domains' `views`.
pub(crate) fn observe(state: &State, components: &[Component], views: &Views) -> Observed {
    let mut unreachable = None;
    let mut waiting = false;
    let mapped: Vec<proto::WorkflowComponentMapping> = components
        .iter()
        .map(|c| {
            let lid = c.lid.to_string();
            let sight = sight(&c.domain_id, views);
            let found = match &sight {
                DomainSight::View(view) => component_view(view, &lid),
                _ => None,
            };
            let (state, instances, restarts) = match (&sight, found) {
                (DomainSight::View(_), Some(view))
                    if view.state == "running" && view.instances.is_empty() =>
                {
                    ("missing".to_string(), Vec::new(), view.restarts)
                }
                (DomainSight::View(_), Some(view)) => {
                    (view.state.clone(), view.instances.clone(), view.restarts)
                }
                (DomainSight::View(_), None) => ("missing".to_string(), Vec::new(), 0),
                (DomainSight::Unreachable(why), _) => {
                    unreachable.get_or_insert((c.domain_id.clone(), why.to_string()));
                    ("unknown".to_string(), c.instances.clone(), 0)
                }
                (DomainSight::None, _) => {
                    waiting = true;
                    ("pending".to_string(), Vec::new(), 0)
                }
            };
            proto::WorkflowComponentMapping {
                name: c.name.clone(),
                function_id: lid,
                domain_id: c.domain_id.clone(),
                instances,
                state,
                restarts,
            }
        })
        .collect();
    let placed = components.iter().any(|c| !c.domain_id.is_empty());
    let state = match (state, unreachable) {
        (State::Failed(reason), _) if placed => format!("degraded: {reason}"),
        (State::Failed(reason), _) => format!("failed: {reason}"),
        (State::Running, _) if waiting => {
            "pending: waiting for a domain that can host it".to_string()
        }
        (State::Running, Some((domain_id, why))) => {
            format!("unknown: domain `{domain_id}` does not answer ({why})")
        }
        (State::Running, None) => workflow_state(&mapped),
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
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map(|mut view| {
                    // Sorted, so that each component is found by a binary
                    // search (a domain may hold tens of thousands).
                    view.components
                        .sort_unstable_by(|a, b| a.logical_id.cmp(&b.logical_id));
                    view
                });
            (domain_id, view)
        });
        futures::future::join_all(asks).await.into_iter().collect()
    }
}

/// The status of a workflow just started: every component has its
/// instances.
pub(crate) fn started_status(
    workflow_id: Uuid,
    components: &[Component],
) -> proto::WorkflowInstanceStatus {
    proto::WorkflowInstanceStatus {
        workflow_id: workflow_id.to_string(),
        domain_mapping: components
            .iter()
            .map(|c| proto::WorkflowComponentMapping {
                name: c.name.clone(),
                function_id: c.lid.to_string(),
                domain_id: c.domain_id.clone(),
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
/// Component `lid` in `view`: by a binary search in the sorted views of
/// [`Controller::domain_views`], else by looking at each.
fn component_view<'a>(view: &'a proto::DomainView, lid: &str) -> Option<&'a proto::ComponentView> {
    let components = &view.components;
    match components.binary_search_by(|v| v.logical_id.as_str().cmp(lid)) {
        Ok(i) => Some(&components[i]),
        Err(_) => components.iter().find(|v| v.logical_id == lid),
    }
}

fn sight<'a>(domain_id: &str, views: &'a Views) -> DomainSight<'a> {
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

    fn component(name: &str, domain_id: &str) -> Component {
        Component {
            name: name.to_string(),
            lid: Uuid::new_v4(),
            is_function: true,
            instances: Vec::new(),
            domain_id: domain_id.to_string(),
            previous_domain: String::new(),
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

    fn views(entries: &[(&str, Result<proto::DomainView, String>)]) -> Views {
        entries
            .iter()
            .map(|(d, v)| (d.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_state_follows_the_components() {
        let (a, b) = (component("a", "d"), component("b", "d"));
        let both = [a.clone(), b.clone()];
        let state = |view: proto::DomainView| {
            observe(&State::Running, &both, &views(&[("d", Ok(view))])).state
        };
        assert_eq!(
            state(view_of(&[(&a, "running", 1), (&b, "running", 1)])),
            "running"
        );
        assert_eq!(
            state(view_of(&[
                (&a, "running", 1),
                (&b, "restarting: trapped", 0)
            ])),
            "degraded: b: restarting: trapped"
        );
        assert_eq!(
            state(view_of(&[(&a, "running", 0), (&b, "running", 1)])),
            "degraded: a: missing"
        );
        assert_eq!(
            state(view_of(&[(&a, "running", 1)])),
            "degraded: b: missing"
        );
        assert_eq!(
            state(view_of(&[
                (&a, "failed: trapped (gave up after 5 restarts)", 0),
                (&b, "running", 1)
            ])),
            "failed: a: trapped (gave up after 5 restarts)"
        );
        let observed = observe(
            &State::Running,
            &both,
            &views(&[(
                "d",
                Ok(view_of(&[(&a, "restarting: x", 0), (&b, "running", 1)])),
            )]),
        );
        assert_eq!(observed.components[0].state, "restarting: x");
        assert_eq!(observed.components[0].restarts, 2);
        assert_eq!(
            observe(
                &State::Running,
                &both,
                &views(&[("d", Err("timeout".into()))])
            )
            .state,
            "unknown: domain `d` does not answer (timeout)"
        );
        let waiting = [component("a", ""), component("b", "")];
        assert!(
            observe(&State::Running, &waiting, &Views::new())
                .state
                .starts_with("pending")
        );
        assert_eq!(
            observe(&State::Failed("no domain".into()), &waiting, &Views::new()).state,
            "failed: no domain"
        );
    }

    #[test]
    fn components_of_a_split_workflow_carry_their_own_domains() {
        let (a, b) = (component("a", "site-1"), component("b", "site-2"));
        let both = [a.clone(), b.clone()];
        let seen = views(&[
            ("site-1", Ok(view_of(&[(&a, "running", 1)]))),
            ("site-2", Ok(view_of(&[(&b, "running", 1)]))),
        ]);
        let observed = observe(&State::Running, &both, &seen);
        assert_eq!(observed.state, "running");
        assert_eq!(observed.components[0].domain_id, "site-1");
        assert_eq!(observed.components[1].domain_id, "site-2");
        // One domain lost and its component not yet placed again: the rest
        // runs, so the workflow is degraded, with the reason.
        let lost = [a, component("b", "")];
        let failed = State::Failed("no domain can host `b`".into());
        assert_eq!(
            observe(&failed, &lost, &seen).state,
            "degraded: no domain can host `b`"
        );
    }
}
