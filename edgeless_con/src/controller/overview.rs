//! Everything the dashboard shows, gathered in one pass: the domains with
//! their nodes, the workflows with their components' states and where they
//! run, and how many events each function handled.

use std::collections::HashMap;

use edgeless_api::proto;
use serde::Serialize;

use super::{Controller, status};

/// The cluster at one moment.
#[derive(Serialize)]
pub struct Overview {
    /// When it was gathered (milliseconds since the Unix epoch).
    pub unix_ms: u64,
    pub domains: Vec<DomainPanel>,
    pub workflows: Vec<WorkflowPanel>,
}

/// A domain and its nodes.
#[derive(Serialize)]
pub struct DomainPanel {
    pub id: String,
    pub orchestrator_url: String,
    /// Why its view could not be had, if so.
    pub error: Option<String>,
    pub nodes: Vec<NodePanel>,
}

/// A node as its orchestrator sees it.
#[derive(Serialize)]
pub struct NodePanel {
    pub id: String,
    pub agent_url: String,
    pub labels: Vec<String>,
    pub runtimes: Vec<String>,
    pub cpus: u32,
    /// Seconds until its lease runs out.
    pub lease_remaining: i64,
    /// The node process's CPU use (percent of one core).
    pub cpu_percent: i32,
    /// The node process's resident memory (KiB).
    pub memory_kib: i64,
    pub instances: u32,
}

/// A workflow and its components.
#[derive(Serialize)]
pub struct WorkflowPanel {
    pub id: String,
    pub name: String,
    pub state: String,
    pub domain: String,
    pub components: Vec<ComponentPanel>,
}

/// A component: its state, where its instances run, its events.
#[derive(Serialize)]
pub struct ComponentPanel {
    pub name: String,
    pub state: String,
    pub restarts: u32,
    /// Node ids of its instances.
    pub nodes: Vec<String>,
    /// Events its instances handled so far (functions; 0 for resources).
    pub handled: u64,
}

fn node_panel(node: &proto::NodeView) -> NodePanel {
    let capabilities = node.capabilities.clone().unwrap_or_default();
    let health = node.health.clone().unwrap_or_default();
    NodePanel {
        id: node.node_id.clone(),
        agent_url: node.agent_url.clone(),
        labels: capabilities.labels,
        runtimes: capabilities.runtimes,
        cpus: capabilities.num_cpus,
        lease_remaining: node.lease_remaining,
        cpu_percent: health.proc_cpu_usage,
        memory_kib: health.proc_memory,
        instances: health.num_instances,
    }
}

/// Events handled by each (workflow, function) in `view`, over all nodes.
fn handled_counts(view: &proto::DomainView) -> HashMap<(String, String), u64> {
    let mut counts = HashMap::new();
    let reports = view
        .nodes
        .iter()
        .filter_map(|n| n.health.as_ref())
        .flat_map(|h| h.function_events.iter());
    for report in reports {
        let key = (report.workflow_id.clone(), report.function_name.clone());
        *counts.entry(key).or_default() += report.handled;
    }
    counts
}

impl Controller {
    /// The cluster now (every domain asked once, with a deadline).
    pub async fn overview(&self) -> Overview {
        let urls = self.orchestrator_urls();
        let views = self
            .domain_views(urls.iter().map(|(id, _)| id.clone()))
            .await;
        let domains = urls
            .into_iter()
            .map(|(id, orchestrator_url)| {
                let (error, nodes) = match views.get(&id) {
                    Some(Ok(view)) => (None, view.nodes.iter().map(node_panel).collect()),
                    Some(Err(why)) => (Some(why.clone()), Vec::new()),
                    None => (Some("not asked".into()), Vec::new()),
                };
                DomainPanel {
                    id,
                    orchestrator_url,
                    error,
                    nodes,
                }
            })
            .collect();
        let counts: HashMap<(String, String), u64> = views
            .values()
            .filter_map(|v| v.as_ref().ok())
            .flat_map(handled_counts)
            .collect();
        // Nothing awaits below: the lock is held for the pass only.
        let workflows = super::lock(&self.workflows)
            .iter()
            .map(|(id, w)| {
                let id = id.to_string();
                let observed = status::observe(&w.state, &w.components, &views);
                let components = observed
                    .components
                    .into_iter()
                    .map(|c| ComponentPanel {
                        handled: counts
                            .get(&(id.clone(), c.name.clone()))
                            .copied()
                            .unwrap_or(0),
                        nodes: c.instances.iter().map(|i| i.node_id.clone()).collect(),
                        name: c.name,
                        state: c.state,
                        restarts: c.restarts,
                    })
                    .collect();
                WorkflowPanel {
                    id,
                    name: w.request.name.clone(),
                    state: observed.state,
                    domain: w.domain_label(),
                    components,
                }
            })
            .collect();
        Overview {
            unix_ms: edgeless_api::feed::now_ms(),
            domains,
            workflows,
        }
    }
}
