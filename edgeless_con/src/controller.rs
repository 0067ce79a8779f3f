//! The controller's logic: start, stop, list and inspect workflows, keep the
//! domain registry, and move workflows off domains that disappear.
//!
//! A workflow goes to one domain when one can host it, else its components
//! are split across domains (`crate::placement`). Deploying it starts every
//! function and resource at its domain's orchestrator under a logical id,
//! tells each domain about the components of other domains its components
//! exchange events with (`wiring`), then sends every component its output
//! mapping (in logical ids), so events that functions cast during
//! `handle_init` find their targets. If any step fails, what was started is
//! stopped again and the error names the component. When a domain's lease
//! runs out or its orchestrator restarts, its components are deployed
//! again, with the same ids, on a domain that fits; when none fits the
//! workflow is marked failed with the reason and tried again later (see
//! `reconcile`). State sits behind short locks that are never held across a
//! request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use edgeless_api::proto;
use edgeless_api::workflow::{WorkflowError, validate};
use uuid::Uuid;

use crate::domains::{DomainClients, Domains};
pub(crate) use requests::{
    component_names, patch_mappings, start_some, start_with_states, stop_components,
};

mod claims;
mod http_routes;
mod migrate;
mod names;
mod overview;
mod queries;
mod reconcile;
mod requests;
mod status;
mod update;
mod wiring;

/// Why a workflow request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The workflow is inconsistent.
    #[error(transparent)]
    Invalid(#[from] WorkflowError),
    /// No domain can host it.
    #[error("{0}")]
    NoDomain(String),
    /// The orchestrator refused a component.
    #[error("{kind} `{name}`: {message}")]
    Component {
        /// "function" or "resource".
        kind: &'static str,
        /// Its name in the workflow.
        name: String,
        /// What the orchestrator said.
        message: String,
    },
    /// No such workflow.
    #[error("no workflow {0}")]
    NotFound(String),
    /// A malformed id.
    #[error("invalid workflow id {0:?}")]
    BadId(String),
    /// Another running workflow has the name.
    #[error(
        "a workflow named `{name}` runs already ({holder}); stop it, choose another name, or allow a duplicate"
    )]
    NameTaken {
        /// The name.
        name: String,
        /// The workflow that has it.
        holder: String,
    },
    /// Another tenant's running workflow uses a name this one names.
    #[error("{what} `{name}` is used by a running workflow of another tenant; choose another")]
    Claimed {
        /// What kind of name.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// The domain's orchestrator could not be asked.
    #[error("domain `{domain}`: {message}")]
    Domain {
        /// The domain.
        domain: String,
        /// What went wrong.
        message: String,
    },
}

/// One component of a running workflow.
#[derive(Clone)]
pub(crate) struct Component {
    pub name: String,
    pub lid: Uuid,
    pub is_function: bool,
    pub instances: Vec<proto::InstanceId>,
    /// The domain that runs it; empty while it waits for one.
    pub domain_id: String,
    /// The domain it ran on before that domain was lost; it goes back there
    /// if the domain returns before it is deployed elsewhere.
    pub previous_domain: String,
}

/// Where a workflow stands.
#[derive(Clone, PartialEq)]
pub(crate) enum State {
    Running,
    /// Its domain is gone and no other can host it (yet).
    Failed(String),
}

/// A workflow the controller keeps running.
pub(crate) struct Workflow {
    pub request: proto::SpawnWorkflowRequest,
    pub lids: HashMap<String, Uuid>,
    pub components: Vec<Component>,
    pub state: State,
    /// When it was started (seconds since the Unix epoch).
    pub started_unix: u64,
    /// The tenant it belongs to (its starter's).
    pub tenant: String,
    /// What each domain was last told about the workflow's components in
    /// other domains (see `wiring`).
    pub wired: wiring::Wired,
}

impl Workflow {
    /// The domains its components run on, sorted.
    pub fn domains(&self) -> Vec<String> {
        domains_of(&self.components)
    }

    /// Whether every component has a domain.
    pub fn is_placed(&self) -> bool {
        self.components.iter().all(|c| !c.domain_id.is_empty())
    }

    /// Its domains as one string: "a", "a,b", or "" when none.
    pub fn domain_label(&self) -> String {
        self.domains().join(",")
    }

    /// Whether a caller limited to `scope` (a tenant; `None`: every tenant)
    /// may see it.
    pub fn visible_to(&self, scope: Option<&str>) -> bool {
        scope.is_none_or(|tenant| tenant == self.tenant)
    }
}

/// The controller. Cheap to clone.
#[derive(Clone)]
pub struct Controller {
    domains: Arc<Mutex<Domains>>,
    workflows: Arc<Mutex<BTreeMap<Uuid, Workflow>>>,
    /// Domains that registered (anew, or with a restarted orchestrator):
    /// what they run is reconciled with what the controller expects.
    unverified: Arc<Mutex<HashSet<String>>>,
    /// Logical ids of components being deployed right now (not strays).
    deploying: Arc<Mutex<HashSet<Uuid>>>,
    /// (tenant, name) of workflows being started right now.
    starting_names: Arc<Mutex<HashSet<(String, String)>>>,
    /// Where workflows are kept across restarts.
    store: crate::persistence::Kept,
    /// Workflows stopped since the controller started (the most recent
    /// [`MAX_RETIRED`]): components of theirs that a domain still runs are
    /// stopped when it is reconciled.
    retired: Arc<Mutex<std::collections::VecDeque<Uuid>>>,
    /// When the controller started: workflows of a domain that has not
    /// registered within [`DOMAIN_GRACE`] of it are deployed elsewhere.
    started: std::time::Instant,
    /// What happened (for `edgeless_cli events` and the dashboard).
    events: edgeless_api::feed::EventJournal,
    /// Where each host served through http-ingress is (for ε-BALs).
    http_routes: Arc<Mutex<Vec<proto::HttpRoute>>>,
}

/// How many stopped workflows the controller remembers.
const MAX_RETIRED: usize = 10_000;

/// How long after a restart the controller waits for the domains of its
/// saved workflows.
const DOMAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Controller {
    fn default() -> Self {
        Self {
            domains: Arc::default(),
            workflows: Arc::default(),
            unverified: Arc::default(),
            deploying: Arc::default(),
            starting_names: Arc::default(),
            store: Default::default(),
            retired: Arc::default(),
            started: std::time::Instant::now(),
            events: edgeless_api::feed::EventJournal::new(edgeless_api::feed::KEPT_EVENTS),
            http_routes: Arc::default(),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Marks a workflow's components as being deployed until dropped (after
/// the workflow is recorded).
struct Deploying<'a> {
    set: &'a Mutex<HashSet<Uuid>>,
    lids: Vec<Uuid>,
}

impl<'a> Deploying<'a> {
    fn new(set: &'a Mutex<HashSet<Uuid>>, lids: &HashMap<String, Uuid>) -> Self {
        let lids: Vec<Uuid> = lids.values().copied().collect();
        lock(set).extend(lids.iter().copied());
        Self { set, lids }
    }
}

impl Drop for Deploying<'_> {
    fn drop(&mut self) {
        let mut set = lock(self.set);
        for lid in &self.lids {
            set.remove(lid);
        }
    }
}

/// What a change to a running workflow starts from.
pub(crate) struct Running {
    pub request: proto::SpawnWorkflowRequest,
    pub lids: HashMap<String, Uuid>,
    pub components: Vec<Component>,
    pub wired: wiring::Wired,
}

impl Controller {
    /// Workflow `id` as `scope` may change it: it must run, every component
    /// on a domain; else the error ends with `otherwise`.
    pub(crate) fn running(
        &self,
        id: Uuid,
        scope: Option<&str>,
        otherwise: &str,
    ) -> Result<Running, ControllerError> {
        let workflows = lock(&self.workflows);
        let w = workflows
            .get(&id)
            .filter(|w| w.visible_to(scope))
            .ok_or_else(|| ControllerError::NotFound(id.to_string()))?;
        if w.state != State::Running || !w.is_placed() {
            return Err(ControllerError::NoDomain(format!(
                "workflow {id} is not running on its domains now; {otherwise}"
            )));
        }
        Ok(Running {
            request: w.request.clone(),
            lids: w.lids.clone(),
            components: w.components.clone(),
            wired: w.wired.clone(),
        })
    }
}

/// The distinct domains of `components`, sorted.
pub(crate) fn domains_of(components: &[Component]) -> Vec<String> {
    let mut domains: Vec<String> = components
        .iter()
        .filter(|c| !c.domain_id.is_empty())
        .map(|c| c.domain_id.clone())
        .collect();
    domains.sort();
    domains.dedup();
    domains
}

fn parse_id(id: &str) -> Result<Uuid, ControllerError> {
    Uuid::parse_str(id).map_err(|_| ControllerError::BadId(id.to_string()))
}

impl Controller {
    /// A controller that keeps its workflows in `data_dir` (empty: nowhere),
    /// with the workflows saved there.
    pub fn open(data_dir: &str) -> Result<Self, edgeless_api::store::StoreError> {
        if data_dir.is_empty() {
            tracing::warn!(
                "data_dir is empty: workflows are not kept, and a restart of the controller loses them (their functions keep running, unmanaged)"
            );
        }
        let (store, saved) = crate::persistence::open(data_dir)?;
        if !saved.is_empty() {
            tracing::info!(
                count = saved.len(),
                "workflows read back; waiting for their domains"
            );
        }
        let controller = Self {
            store,
            ..Self::default()
        };
        lock(&controller.workflows).extend(saved);
        Ok(controller)
    }

    /// What the controller recorded.
    pub fn events(&self) -> &edgeless_api::feed::EventJournal {
        &self.events
    }

    /// Records that `kind` happened to a workflow (or, with an empty id,
    /// to the cluster).
    pub(crate) fn record(&self, kind: &str, workflow_id: &str, message: String) {
        let happened = edgeless_api::feed::Happened {
            kind,
            workflow_id,
            component: "",
            node_id: "",
            message,
        };
        self.events.record(happened.at("controller"));
    }

    /// The orchestrator URL of every registered domain, by domain id.
    pub fn orchestrator_urls(&self) -> Vec<(String, String)> {
        lock(&self.domains)
            .iter()
            .map(|(id, d)| (id.clone(), d.orchestrator_url.clone()))
            .collect()
    }

    /// Where domain `domain_id`'s orchestrator listens, with the link
    /// credential to present there.
    pub fn orchestrator_link(&self, domain_id: &str) -> Option<(String, String)> {
        lock(&self.domains)
            .get(domain_id)
            .map(|d| (d.orchestrator_url.clone(), d.link_token.clone()))
    }

    /// Whether `scope` may see running workflow `workflow_id`.
    pub fn is_visible(&self, workflow_id: &str, scope: Option<&str>) -> bool {
        Uuid::parse_str(workflow_id)
            .ok()
            .and_then(|id| lock(&self.workflows).get(&id).map(|w| w.visible_to(scope)))
            .unwrap_or(false)
    }

    /// The clients of domain `domain_id`'s orchestrator.
    fn clients(&self, domain_id: &str) -> Option<DomainClients> {
        lock(&self.domains)
            .get(domain_id)
            .map(|d| d.clients.clone())
    }

    /// Cordons, uncordons or drains node `node_id`, wherever it is.
    pub async fn set_node_state(&self, node_id: &str, action: &str) -> Result<(), ControllerError> {
        let domains: Vec<String> = self
            .orchestrator_urls()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let views = self.domain_views(domains).await;
        let domain = views
            .iter()
            .find(|(_, view)| {
                view.as_ref()
                    .is_ok_and(|v| v.nodes.iter().any(|n| n.node_id == node_id))
            })
            .map(|(id, _)| id.clone())
            .ok_or_else(|| ControllerError::NotFound(format!("node {node_id}")))?;
        let mut clients = self
            .clients(&domain)
            .ok_or_else(|| ControllerError::NotFound(format!("domain {domain}")))?;
        clients
            .inspection
            .set_node_state(proto::NodeStateRequest {
                node_id: node_id.to_string(),
                action: action.to_string(),
            })
            .await
            .map_err(|s| ControllerError::Domain {
                domain,
                message: s.message().to_string(),
            })?;
        Ok(())
    }

    /// Starts a workflow for `tenant`; returns its status (id and
    /// component mapping).
    pub async fn start(
        &self,
        mut request: proto::SpawnWorkflowRequest,
        tenant: &str,
    ) -> Result<proto::WorkflowInstanceStatus, ControllerError> {
        edgeless_api::workflow::unpack_codes(&mut request)?;
        validate(&request)?;
        let _name = self.claim_name(&request, tenant)?;
        self.check_claims(&request, tenant, None)?;
        let workflow_id = Uuid::new_v4();
        let lids: HashMap<String, Uuid> = request
            .workflow_functions
            .iter()
            .map(|f| f.name.clone())
            .chain(request.workflow_resources.iter().map(|r| r.name.clone()))
            .map(|name| (name, Uuid::new_v4()))
            .collect();
        let _deploying = Deploying::new(&self.deploying, &lids);
        let (components, wired) = self
            .deploy(workflow_id, &request, &lids, &[], &wiring::Wired::new())
            .await?;
        let status = status::started_status(workflow_id, &components);
        let domains = domains_of(&components).join(",");
        tracing::info!(workflow = %workflow_id, domains = %domains, components = components.len(), "workflow started");
        let message = format!(
            "{:?} in domain {domains}, {} components",
            request.name,
            components.len()
        );
        self.record("workflow-started", &workflow_id.to_string(), message);
        let workflow = Workflow {
            request,
            lids,
            components,
            state: State::Running,
            started_unix: edgeless_api::now_secs(),
            tenant: tenant.to_string(),
            wired,
        };
        crate::persistence::save(&self.store, workflow_id, &workflow);
        lock(&self.workflows).insert(workflow_id, workflow);
        Ok(status)
    }

    /// Places every component of `request` not among `placed` (running
    /// already), starts it in its domain, and wires the whole workflow
    /// (`wired`: what the domains were told before). Returns the new
    /// components and what the domains were told; on failure stops what
    /// was started.
    async fn deploy(
        &self,
        workflow_id: Uuid,
        request: &proto::SpawnWorkflowRequest,
        lids: &HashMap<String, Uuid>,
        placed: &[Component],
        wired: &wiring::Wired,
    ) -> Result<(Vec<Component>, wiring::Wired), ControllerError> {
        let fixed: crate::placement::Placement = placed
            .iter()
            .map(|c| (c.name.clone(), c.domain_id.clone()))
            .collect();
        let wanted: Vec<String> = component_names(request)
            .filter(|name| !fixed.contains_key(*name))
            .cloned()
            .collect();
        let placement = crate::placement::plan(&lock(&self.domains), request, &fixed, &wanted)
            .map_err(ControllerError::NoDomain)?;
        let mut started = Vec::new();
        let outcome = async {
            let mut targets: Vec<&String> = placement.values().collect();
            targets.sort();
            targets.dedup();
            for domain_id in targets {
                let mut clients = self.clients(domain_id).ok_or_else(|| {
                    ControllerError::NoDomain(format!("domain `{domain_id}` disappeared"))
                })?;
                let here = |name: &str| placement.get(name) == Some(domain_id);
                let site = (domain_id.as_str(), &mut clients);
                start_some(site, workflow_id, request, lids, here, &mut started).await?;
            }
            let all: Vec<Component> = placed.iter().chain(&started).cloned().collect();
            self.wire(workflow_id, request, lids, &all, wired).await
        }
        .await;
        match outcome {
            Ok(wired) => Ok((started, wired)),
            Err(error) => {
                tracing::warn!(workflow = %workflow_id, %error, "deployment failed; rolling back");
                self.stop_everywhere(&started).await;
                Err(error)
            }
        }
    }

    /// Stops `components`, each in its domain.
    pub(crate) async fn stop_everywhere(&self, components: &[Component]) {
        for domain_id in domains_of(components) {
            if let Some(mut clients) = self.clients(&domain_id) {
                let here: Vec<Component> = components
                    .iter()
                    .filter(|c| c.domain_id == domain_id)
                    .cloned()
                    .collect();
                stop_components(&mut clients, &here).await;
            }
        }
    }

    /// Stops a workflow that `scope` may see, and all its components.
    pub async fn stop(
        &self,
        workflow_id: &str,
        scope: Option<&str>,
    ) -> Result<(), ControllerError> {
        let id = parse_id(workflow_id)?;
        let workflow = {
            let mut workflows = lock(&self.workflows);
            if !workflows.get(&id).is_some_and(|w| w.visible_to(scope)) {
                return Err(ControllerError::NotFound(workflow_id.to_string()));
            }
            workflows.remove(&id)
        }
        .ok_or_else(|| ControllerError::NotFound(workflow_id.to_string()))?;
        crate::persistence::remove(&self.store, id);
        {
            let mut retired = lock(&self.retired);
            if retired.len() >= MAX_RETIRED {
                retired.pop_front();
            }
            retired.push_back(id);
        }
        self.stop_everywhere(&workflow.components).await;
        self.unwire(id, &workflow.wired).await;
        tracing::info!(workflow = %id, "workflow stopped");
        let message = format!("{:?}", workflow.request.name);
        self.record("workflow-stopped", &id.to_string(), message);
        Ok(())
    }
}
