//! The controller's own metrics (beside the gRPC request metrics every
//! daemon has): workflows by state and registered domains, refreshed every
//! second.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;

use crate::controller::Controller;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

/// The controller's gauges.
#[derive(Clone, Default)]
pub struct ControllerMetrics {
    workflows: Family<StateLabel, Gauge>,
    domains: Gauge,
}

impl ControllerMetrics {
    /// The gauges, registered in `metrics`.
    pub fn register(metrics: &edgeless_api::telemetry::Metrics) -> Self {
        let gauges = Self::default();
        let mut registry = metrics.lock().unwrap_or_else(|e| e.into_inner());
        registry.register(
            "workflows",
            "workflows the controller manages, by state (running, or failed: no domain can host it)",
            gauges.workflows.clone(),
        );
        registry.register(
            "domains",
            "registered orchestration domains",
            gauges.domains.clone(),
        );
        gauges
    }

    /// Sets the gauges from `controller`.
    pub fn update(&self, controller: &Controller) {
        let (running, failed, domains) = controller.counts();
        self.workflows
            .get_or_create(&StateLabel { state: "running" })
            .set(running as i64);
        self.workflows
            .get_or_create(&StateLabel { state: "failed" })
            .set(failed as i64);
        self.domains.set(domains as i64);
    }
}
