//! The orchestrator's state and logic, owned by one task (an actor).
//!
//! The controller speaks in logical components; this task maps each to
//! physical instances on nodes (`components.rs`), keeps their output mappings
//! in step (a patch in logical ids becomes one patch per instance in physical
//! ids), tells each node about the peers its instances exchange events with
//! (`links.rs`), and repairs what node loss breaks
//! (`nodes.rs`): instances of a lost node are re-created elsewhere and every
//! mapping that pointed at them is patched again. Requests are handled one at
//! a time, in order; the task never waits for a node (`calls.rs`).

mod calls;
mod components;
mod handle;
mod links;
mod nodes;
mod patches;
mod persistence;
mod remotes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use edgeless_api::InstanceId;
use edgeless_api::proto;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::config::Config;
use crate::metrics::{OrchestratorMetrics, STATES, StateLabel};
use crate::placement::{PlacementError, Placer};
use crate::registry::{Node, Registry};
use calls::{Call, Plan};
pub use handle::OrchestratorHandle;

/// Why a request to the orchestrator failed.
#[derive(Debug, thiserror::Error)]
pub enum OrcError {
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// No node can host the component.
    #[error("cannot place `{component}`: {source}")]
    Placement {
        /// The component's class or type.
        component: String,
        /// Why.
        source: PlacementError,
    },
    /// The node refused or could not be reached.
    #[error("node {node}: {message}")]
    Node {
        /// The node.
        node: Uuid,
        /// What it said.
        message: String,
    },
    /// No such logical component.
    #[error("no component {0} in this domain")]
    NotFound(Uuid),
    /// The orchestrator task is gone.
    #[error("the orchestrator is shutting down")]
    Stopped,
    /// The caller may not do this.
    #[error("{0}")]
    Refused(String),
}

/// What the controller asked for: a function or a resource.
#[derive(Clone)]
enum Spec {
    Function(proto::SpawnFunctionRequest),
    Resource(proto::ResourceInstanceSpecification),
}

enum Command {
    /// Places a new component; answers with the starts to send.
    PlanStart(Uuid, Spec, Reply<Vec<Call<InstanceId>>>),
    /// What the starts returned.
    FinishStart(
        Uuid,
        Spec,
        Vec<Result<InstanceId, OrcError>>,
        Reply<Vec<InstanceId>>,
    ),
    /// Instances re-created by a repair, for a component with this spec.
    Recreated(Uuid, Spec, Vec<Result<InstanceId, OrcError>>),
    Stop(Uuid, Reply<Plan>),
    /// A component's mapping; with `true`, only recorded (its targets
    /// learn their sources) and not yet sent to the component.
    Patch(Uuid, HashMap<String, Vec<Uuid>>, bool, Reply<Plan>),
    /// A known node's refresh (its lease is already renewed).
    Refresh(proto::UpdateNodeRequest),
    /// A registration, with the name of the node identity that sent it;
    /// answers with the node to reset, or none when it is known already.
    Admit(
        proto::UpdateNodeRequest,
        String,
        Reply<Option<(Uuid, Node)>>,
    ),
    /// A node that was reset joins; answers with the peer updates to send.
    Join(Box<(proto::UpdateNodeRequest, Node)>, String, Reply<Plan>),
    /// A joined node knows its peers: instances may be placed on it.
    Joined(Uuid),
    View(oneshot::Sender<proto::DomainView>),
    /// The log clients of the registered nodes, by node id.
    LogClients(oneshot::Sender<Vec<(Uuid, crate::registry::LogsClient)>>),
    PlanMigrate(Uuid, Vec<Uuid>, Reply<(Spec, Call<InstanceId>)>),
    FinishMigrate(Uuid, Spec, Result<InstanceId, OrcError>, Reply<Plan>),
    TakeSamples(oneshot::Sender<HashMap<String, Vec<f64>>>),
    /// Cordons, uncordons or drains a node; answers with the stops of a
    /// drained node's instances.
    NodeState(Uuid, NodeAction, Reply<Plan>),
    /// The remote components of one workflow; answers with the peer
    /// updates and patches to send.
    SetRemotes(proto::RemoteComponents, Reply<Plan>),
    /// Stops a component that moves to another domain, keeping its state
    /// until its nodes have reported it; answers with the stops.
    HandOver(Uuid, Reply<Plan>),
    /// The handed-over state, once every node that ran the component has
    /// reported since (`None` while waiting).
    HandedOver(Uuid, oneshot::Sender<Option<Option<Vec<u8>>>>),
    Reset(oneshot::Sender<Plan>),
    Tick,
}

type Reply<T> = oneshot::Sender<Result<T, OrcError>>;

/// What an operator does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    /// It takes no new instances.
    Cordon,
    /// It takes instances again.
    Uncordon,
    /// Cordon, and re-create its instances on other nodes.
    Drain,
}

impl std::str::FromStr for NodeAction {
    type Err = String;
    fn from_str(action: &str) -> Result<Self, String> {
        match action {
            "cordon" => Ok(Self::Cordon),
            "uncordon" => Ok(Self::Uncordon),
            "drain" => Ok(Self::Drain),
            other => Err(format!(
                "`{other}` is not a node action (cordon, uncordon, drain)"
            )),
        }
    }
}

/// A node's lease: renewed by every refresh with the same nonce.
struct Lease {
    nonce: u64,
    deadline: u64,
    /// The node identity that registered it.
    owner: String,
    /// The hash of the link credential of the node process that holds it.
    link: String,
}

impl Lease {
    /// Whether `request` comes from the process that holds the lease.
    fn held_by(&self, request: &proto::UpdateNodeRequest, owner: &str) -> bool {
        self.nonce == request.nonce
            && self.owner == owner
            && self.link == edgeless_api::auth::hash_token(&request.link_token)
    }
}

/// Refuses a registration of `node_id` by identity `owner` when another
/// identity holds the node's lease, when `owner` names another node id, or
/// when another process of the same identity holds the lease (a join
/// token shared by several nodes must not let one take another's id).
fn check_owner(
    leases: &HashMap<Uuid, Lease>,
    node_id: Uuid,
    owner: &str,
    link_token: &str,
) -> Result<(), OrcError> {
    if let Ok(named) = Uuid::parse_str(owner)
        && named != node_id
    {
        return Err(OrcError::Refused(format!(
            "node identity `{owner}` may only register as node {named}, not {node_id}"
        )));
    }
    let now = edgeless_api::now_secs();
    match leases.get(&node_id) {
        Some(lease) if lease.owner != owner => Err(OrcError::Refused(format!(
            "node {node_id} is registered by node identity `{}`; another identity cannot take its id",
            lease.owner
        ))),
        Some(lease)
            if !owner.is_empty()
                && lease.deadline >= now
                && lease.link != edgeless_api::auth::hash_token(link_token) =>
        {
            Err(OrcError::Refused(format!(
                "node {node_id} is held by another running node process (its lease runs {} s more); a restarted node is admitted once the lease of the process before it runs out",
                lease.deadline - now
            )))
        }
        _ => Ok(()),
    }
}

/// The leases of the registered nodes. They are renewed outside the
/// orchestrator task, so a node's refresh is never held up (and its lease
/// never lost) while the task waits on a slow request to another node.
type Leases = Arc<Mutex<HashMap<Uuid, Lease>>>;

fn leases(leases: &Leases) -> std::sync::MutexGuard<'_, HashMap<Uuid, Lease>> {
    leases.lock().unwrap_or_else(|e| e.into_inner())
}

fn links(links: &Mutex<links::Links>) -> std::sync::MutexGuard<'_, links::Links> {
    links.lock().unwrap_or_else(|e| e.into_inner())
}

/// The domain's capabilities as of the last command the task handled: read
/// by the domain registration without waiting for the task, so a busy
/// orchestrator never loses its domain's lease at the controller.
type CapabilitiesSnapshot = Arc<Mutex<proto::DomainCapabilities>>;

/// A logical component and its physical instances.
struct Component {
    spec: Spec,
    instances: Vec<InstanceId>,
    /// How many instances it should have (`max_instances`).
    desired: usize,
    /// Output → logical targets.
    mapping: HashMap<String, Vec<Uuid>>,
    /// Recent failures of its instances.
    failures: Failures,
    /// Nodes where its instances are being started.
    starting: Vec<Uuid>,
}

/// Failures of a component's instances, for restarts with back-off.
#[derive(Default)]
struct Failures {
    count: u32,
    last_reason: String,
    last_at: Option<std::time::Instant>,
    /// No restart before this.
    retry_at: Option<std::time::Instant>,
    gave_up: bool,
    /// Why the last re-creation could not be placed (recorded once).
    placement_error: String,
}

struct Orchestrator {
    config: Config,
    nodes: Registry,
    components: HashMap<Uuid, Component>,
    placer: Placer,
    /// Execution times not yet taken by the proxy (bounded).
    samples: HashMap<String, Vec<f64>>,
    leases: Leases,
    /// The last state each function saved with `sync`, by state id, handed
    /// to its instance when it is re-created.
    states: HashMap<String, Vec<u8>>,
    /// Where components and states are kept across restarts.
    store: persistence::Kept,
    /// The task's own queue, for the results of repairs it started.
    commands: mpsc::WeakSender<Command>,
    /// What operators see of it.
    metrics: OrchestratorMetrics,
    /// What happened (for `edgeless_cli events`).
    events: edgeless_api::feed::EventJournal,
    /// The generation of the next patch: rising, and from the clock so
    /// that a restarted orchestrator's patches are newer than its
    /// predecessor's.
    patch_generation: std::sync::atomic::AtomicU64,
    /// Nodes that take no new instances.
    cordoned: std::collections::HashSet<Uuid>,
    /// (node, component) pairs a drain moved, until when the node's state
    /// reports for them are still taken.
    drained: HashMap<(Uuid, Uuid), std::time::Instant>,
    /// Failures of instances whose start is not recorded yet (an instance
    /// can fail in `handle_init` before its start's answer is handled),
    /// with when they arrived: applied once the start is recorded.
    early_failures: Vec<(Uuid, proto::InstanceFailure, std::time::Instant)>,
    /// Components of other domains that this domain's components exchange
    /// events with, by logical id.
    remotes: HashMap<Uuid, remotes::Remote>,
    /// The domain's ε-BAL, if it has one.
    balancer: Option<remotes::BalancerLink>,
    /// Components handed over to another domain: the nodes that ran them,
    /// when they were stopped, and until when their reports are awaited.
    handing_over: HashMap<Uuid, remotes::HandingOver>,
    /// When each node's last refresh was taken in.
    reported: HashMap<Uuid, std::time::Instant>,
    /// Which node knows which other node (patches are built from `&self`).
    links: Mutex<links::Links>,
}

/// Starts the orchestrator task, with the components and states saved in
/// `[general] data_dir` (their instances are re-created as nodes join).
/// Fails when the store cannot be opened or `[balancer]` is incomplete.
pub fn spawn(
    config: Config,
    metrics: OrchestratorMetrics,
) -> anyhow::Result<(OrchestratorHandle, tokio::task::JoinHandle<()>)> {
    if config.general.data_dir.is_empty() {
        tracing::warn!(
            "data_dir is empty: components and synced states are not kept; after a restart the orchestrator resets its nodes and the controller deploys its workflows again"
        );
    }
    let (store, saved) = persistence::open(&config.general.data_dir)?;
    let persistence::Saved {
        components,
        states,
        cordoned,
    } = saved;
    if !components.is_empty() {
        tracing::info!(
            count = components.len(),
            "components read back; their instances start as nodes join"
        );
    }
    let (tx, mut rx) = mpsc::channel(256);
    let shared_leases = Leases::default();
    let lease_sec = config.general.node_lease_sec;
    let events = edgeless_api::feed::EventJournal::new(edgeless_api::feed::KEPT_EVENTS);
    let balancer = remotes::BalancerLink::new(&config.balancer).map_err(anyhow::Error::msg)?;
    let balancer_healthy = balancer
        .as_ref()
        .map(|b| b.healthy.clone())
        .unwrap_or_default();
    let mut orchestrator = Orchestrator {
        remotes: HashMap::new(),
        balancer,
        handing_over: HashMap::new(),
        reported: HashMap::new(),
        links: Mutex::default(),
        patch_generation: std::sync::atomic::AtomicU64::new(edgeless_api::feed::now_ms() << 10),
        cordoned,
        drained: HashMap::new(),
        early_failures: Vec::new(),
        events: events.clone(),
        leases: shared_leases.clone(),
        config,
        nodes: Registry::new(),
        components,
        placer: Placer::default(),
        samples: HashMap::new(),
        states,
        store,
        commands: tx.downgrade(),
        metrics,
    };
    let capabilities = CapabilitiesSnapshot::default();
    let snapshot = capabilities.clone();
    let task = tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            orchestrator.handle(command);
            *snapshot.lock().unwrap_or_else(|e| e.into_inner()) =
                crate::registry::domain_capabilities(&orchestrator.nodes);
        }
    });
    let handle = OrchestratorHandle {
        balancer_healthy,
        events,
        commands: tx,
        leases: shared_leases,
        capabilities,
        lease_sec,
    };
    Ok((handle, task))
}

fn node_error(node: Uuid) -> impl Fn(tonic::Status) -> OrcError {
    move |status| OrcError::Node {
        node,
        message: match status.message() {
            "" => format!("it answered {} without a reason", status.code()),
            message => message.to_string(),
        },
    }
}

impl Orchestrator {
    /// Records that `kind` happened to a component (its workflow and name
    /// come from `spec`) and/or a node.
    fn record(
        &self,
        kind: &str,
        component: Option<(Uuid, &Spec)>,
        node: Option<Uuid>,
        message: String,
    ) {
        let (workflow_id, name) = component
            .map(|(lid, spec)| (spec.workflow_id().to_string(), spec.name(lid)))
            .unwrap_or_default();
        let node_id = node.map(|n| n.to_string()).unwrap_or_default();
        let happened = edgeless_api::feed::Happened {
            kind,
            workflow_id: &workflow_id,
            component: &name,
            node_id: &node_id,
            message,
        };
        let source = format!("domain {}", self.config.general.domain_id);
        self.events.record(happened.at(&source));
    }

    /// Sets the gauges of nodes and components by state (every tick, not
    /// after every command: refreshes come far more often).
    fn update_gauges(&self) {
        self.metrics.nodes.set(self.nodes.len() as i64);
        let mut counts = [0i64; STATES.len()];
        for component in self.components.values() {
            let state = match &component.failures {
                f if f.gave_up => "failed",
                f if component.instances.len() < component.desired && f.count > 0 => "restarting",
                _ if component.instances.is_empty() && !component.starting.is_empty() => "starting",
                _ => "running",
            };
            if let Some(i) = STATES.iter().position(|s| *s == state) {
                counts[i] += 1;
            }
        }
        for (state, count) in STATES.iter().zip(counts) {
            self.metrics
                .components
                .get_or_create(&StateLabel { state })
                .set(count);
        }
    }

    /// Handles one command. Never waits for a node: requests to nodes are
    /// returned to the caller or spawned (`calls.rs`).
    fn handle(&mut self, command: Command) {
        match command {
            Command::PlanStart(lid, spec, reply) => {
                let started = std::time::Instant::now();
                let planned = self.plan_start(lid, spec);
                let placement = &self.metrics.placement_seconds;
                placement.observe(started.elapsed().as_secs_f64());
                let _ = reply.send(planned);
            }
            Command::FinishStart(lid, spec, results, reply) => {
                let _ = reply.send(self.finish_start(lid, &spec, results));
                self.apply_early_failures();
            }
            Command::Recreated(lid, spec, results) => {
                self.recreated(lid, &spec, results);
                self.apply_early_failures();
            }
            Command::Stop(lid, reply) => {
                let _ = reply.send(self.stop(lid));
            }
            Command::Patch(lid, mapping, record_only, reply) => {
                let _ = reply.send(self.patch(lid, mapping, record_only));
            }
            Command::Admit(request, owner, reply) => {
                let _ = reply.send(self.admit(request, &owner));
            }
            Command::Join(joining, owner, reply) => {
                let (request, node) = *joining;
                let _ = reply.send(self.join(request, node, owner));
            }
            Command::Joined(node_id) => self.joined(node_id),
            Command::Refresh(request) => self.absorb(request),
            Command::View(reply) => {
                let _ = reply.send(self.view());
            }
            Command::LogClients(reply) => {
                let clients = self.nodes.iter().map(|(id, n)| (*id, n.logs.clone()));
                let _ = reply.send(clients.collect());
            }
            Command::PlanMigrate(lid, nodes, reply) => {
                let _ = reply.send(self.plan_migrate(lid, nodes));
            }
            Command::FinishMigrate(lid, spec, started, reply) => {
                let _ = reply.send(self.finish_migrate(lid, &spec, started));
                self.apply_early_failures();
            }
            Command::NodeState(node_id, action, reply) => {
                let _ = reply.send(self.set_node_state(node_id, action));
            }
            Command::TakeSamples(reply) => {
                let _ = reply.send(std::mem::take(&mut self.samples));
            }
            Command::SetRemotes(remotes, reply) => {
                let _ = reply.send(self.set_remotes(remotes));
            }
            Command::HandOver(lid, reply) => {
                let _ = reply.send(self.hand_over(lid));
            }
            Command::HandedOver(lid, reply) => {
                let _ = reply.send(self.handed_over(lid));
            }
            Command::Reset(reply) => {
                let lids: Vec<Uuid> = self.components.keys().copied().collect();
                let mut stops = vec![self.clear_remotes()];
                for lid in lids {
                    stops.extend(self.stop(lid).unwrap_or_default());
                }
                let _ = reply.send(stops);
            }
            Command::Tick => {
                self.resync_balancer();
                self.check_leases();
                self.update_gauges();
            }
        }
    }
}

#[cfg(test)]
mod lease_tests {
    use super::*;

    #[test]
    fn a_node_error_without_a_message_names_the_code() {
        let node = Uuid::new_v4();
        let error = node_error(node)(tonic::Status::unimplemented("")).to_string();
        assert!(
            error.ends_with(
                "it answered Operation is not implemented or not supported without a reason"
            ),
            "{error}"
        );
        let error = node_error(node)(tonic::Status::unavailable("gone")).to_string();
        assert!(error.ends_with(": gone"), "{error}");
    }

    fn lease(owner: &str, link: &str) -> Lease {
        Lease {
            nonce: 1,
            deadline: edgeless_api::now_secs() + 10,
            owner: owner.into(),
            link: edgeless_api::auth::hash_token(link),
        }
    }

    #[test]
    fn a_shared_identity_cannot_take_a_held_node_id() {
        let node = Uuid::new_v4();
        let leases = HashMap::from([(node, lease("node", "edgeless_real"))]);
        // The process that holds the lease refreshes.
        assert!(check_owner(&leases, node, "node", "edgeless_real").is_ok());
        // Another process with the same (shared) join token is refused.
        let error = check_owner(&leases, node, "node", "edgeless_impostor")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("held by another running node process"),
            "{error}"
        );
        // Another identity too.
        assert!(check_owner(&leases, node, "node-b", "edgeless_real").is_err());
        // Once the lease has run out, a restarted node is admitted.
        let mut expired = lease("node", "edgeless_real");
        expired.deadline = edgeless_api::now_secs() - 1;
        let leases = HashMap::from([(node, expired)]);
        assert!(check_owner(&leases, node, "node", "edgeless_restarted").is_ok());
        // Open orchestrators (anonymous callers) bind nothing.
        let leases = HashMap::from([(node, lease("", "edgeless_real"))]);
        assert!(check_owner(&leases, node, "", "edgeless_other").is_ok());
    }
}
