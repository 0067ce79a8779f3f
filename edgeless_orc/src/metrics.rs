//! The orchestrator's own metrics (beside the gRPC request metrics every
//! daemon has): nodes, components by state, placement failures, node lease
//! expiries and instance failures.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// A component state label: running, starting, restarting or failed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    /// The state, without its reason.
    pub state: &'static str,
}

/// The labels of a function's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabel {
    /// The workflow id.
    pub workflow: String,
    /// The component's name in the workflow.
    pub function: String,
}

/// The orchestrator's metrics. Cheap to clone.
#[derive(Clone)]
pub struct OrchestratorMetrics {
    /// Registered nodes.
    pub nodes: Gauge,
    /// Components by state.
    pub components: Family<StateLabel, Gauge>,
    /// Instances that could not be placed (no node fits).
    pub placement_failures: Counter,
    /// Nodes dropped because their lease ran out.
    pub lease_expiries: Counter,
    /// Instances that failed on their own (and were restarted or given up).
    pub instance_failures: Counter,
    /// Restarts of failed instances, by workflow and function.
    pub restarts: Family<FunctionLabel, Counter>,
    /// Time the orchestrator's task takes to place one new component (its
    /// view of the nodes built, the policy applied).
    pub placement_seconds: Histogram,
}

impl Default for OrchestratorMetrics {
    fn default() -> Self {
        Self {
            nodes: Gauge::default(),
            components: Family::default(),
            placement_failures: Counter::default(),
            lease_expiries: Counter::default(),
            instance_failures: Counter::default(),
            restarts: Family::default(),
            // 5 µs to 160 ms.
            placement_seconds: Histogram::new(exponential_buckets(5e-6, 2.0, 16)),
        }
    }
}

/// The component states counted.
pub const STATES: [&str; 4] = ["running", "starting", "restarting", "failed"];

impl OrchestratorMetrics {
    /// The metrics, registered in `metrics`.
    pub fn register(metrics: &edgeless_api::telemetry::Metrics) -> Self {
        let all = Self::default();
        let mut registry = metrics.lock().unwrap_or_else(|e| e.into_inner());
        registry.register("nodes", "nodes registered in the domain", all.nodes.clone());
        registry.register(
            "components",
            "logical components (functions and resources) by state",
            all.components.clone(),
        );
        registry.register(
            "placement_failures",
            "instances no node could take",
            all.placement_failures.clone(),
        );
        registry.register(
            "node_lease_expiries",
            "nodes dropped because they stopped refreshing",
            all.lease_expiries.clone(),
        );
        registry.register(
            "instance_failures",
            "instances that failed while running (traps, limits, crashes)",
            all.instance_failures.clone(),
        );
        registry.register(
            "placement_seconds",
            "time to place one new component",
            all.placement_seconds.clone(),
        );
        registry.register(
            "function_restarts",
            "restarts of a function's instances after they failed",
            all.restarts.clone(),
        );
        all
    }
}
