//! The node's own metrics (beside the gRPC request metrics every daemon
//! has): instances, and for each function of each workflow the events
//! handled, their handling time, and the events sent or refused.
//! Each instance holds its series' handles ([`InstanceMeter`]), so the
//! per-event cost is a few atomic additions.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use uuid::Uuid;

use crate::telemetry::{PerformanceSamples, SampleSlot};

/// The labels of a function's series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FunctionLabels {
    /// The workflow id.
    pub workflow: String,
    /// The function's name in the workflow.
    pub function: String,
    /// The function class id.
    pub class: String,
}

fn handling_histogram() -> Histogram {
    // 1 µs to ~4 s.
    Histogram::new(exponential_buckets(0.000_001, 4.0, 12))
}

/// The node's metrics. Cheap to clone.
#[derive(Clone)]
pub struct NodeMetrics {
    /// Instances running on the node.
    pub instances: Gauge,
    /// The node process's resident memory (bytes).
    pub memory: Gauge,
    /// The node process's CPU use (percent of one core).
    pub cpu: Gauge,
    handled: Family<FunctionLabels, Counter>,
    seconds: Family<FunctionLabels, Histogram, fn() -> Histogram>,
    sent: Family<FunctionLabels, Counter>,
    refused: Family<FunctionLabels, Counter>,
    /// Instances running per label set: a set's series go with its last
    /// instance.
    live: Arc<Mutex<HashMap<FunctionLabels, usize>>>,
}

impl Default for NodeMetrics {
    fn default() -> Self {
        Self {
            instances: Gauge::default(),
            memory: Gauge::default(),
            cpu: Gauge::default(),
            handled: Family::default(),
            seconds: Family::new_with_constructor(handling_histogram),
            sent: Family::default(),
            refused: Family::default(),
            live: Arc::default(),
        }
    }
}

impl NodeMetrics {
    /// The metrics, registered in `metrics`.
    pub fn register(metrics: &edgeless_api::telemetry::Metrics) -> Self {
        let all = Self::default();
        let mut registry = metrics.lock().unwrap_or_else(|e| e.into_inner());
        registry.register(
            "instances",
            "function and resource instances on this node",
            all.instances.clone(),
        );
        registry.register(
            "node_memory_bytes",
            "resident memory of the node process",
            all.memory.clone(),
        );
        registry.register(
            "node_cpu_percent",
            "CPU use of the node process since the previous refresh, in percent of one core",
            all.cpu.clone(),
        );
        registry.register(
            "function_events_handled",
            "events (casts and calls) the functions of a workflow and class handled",
            all.handled.clone(),
        );
        registry.register(
            "function_handling_seconds",
            "time the functions of a workflow and class took to handle one event",
            all.seconds.clone(),
        );
        registry.register(
            "function_events_sent",
            "events the functions of a workflow and class sent",
            all.sent.clone(),
        );
        registry.register(
            "function_events_refused",
            "events the functions of a workflow and class could not send (unmapped output, unknown target, full queue)",
            all.refused.clone(),
        );
        all
    }

    /// How many events the functions of `labels` handled on this node.
    pub fn handled(&self, labels: &FunctionLabels) -> u64 {
        self.handled.get_or_create(labels).get()
    }

    /// The meter of one instance of `labels`.
    pub fn meter(
        &self,
        function_id: Uuid,
        labels: FunctionLabels,
        samples: PerformanceSamples,
    ) -> InstanceMeter {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        *live.entry(labels.clone()).or_default() += 1;
        InstanceMeter {
            samples: samples.slot(function_id),
            handled: self.handled.get_or_create(&labels).clone(),
            seconds: self.seconds.get_or_create(&labels).clone(),
            sent: self.sent.get_or_create(&labels).clone(),
            refused: self.refused.get_or_create(&labels).clone(),
        }
    }
}

impl NodeMetrics {
    /// An instance metered with `labels` ended (or never started): with
    /// the last one, the series of `labels` are removed, so a node that
    /// ran many workflows does not export every one it ever ran.
    pub fn release(&self, labels: &FunctionLabels) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match live.get_mut(labels) {
            Some(count) if *count > 1 => *count -= 1,
            Some(_) => {
                live.remove(labels);
                self.handled.remove(labels);
                self.seconds.remove(labels);
                self.sent.remove(labels);
                self.refused.remove(labels);
            }
            None => {}
        }
    }
}

/// What one instance records: its execution times (reported to the
/// orchestrator) and its series. Cheap to clone.
#[derive(Clone)]
pub struct InstanceMeter {
    samples: SampleSlot,
    handled: Counter,
    seconds: Histogram,
    sent: Counter,
    refused: Counter,
}

impl InstanceMeter {
    /// A meter that records only execution times (no metrics).
    pub fn unregistered(function_id: Uuid, samples: PerformanceSamples) -> Self {
        let labels = FunctionLabels {
            workflow: String::new(),
            function: String::new(),
            class: String::new(),
        };
        NodeMetrics::default().meter(function_id, labels, samples)
    }

    /// One event handled in `elapsed`.
    pub fn handled(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.samples.record(seconds);
        self.handled.inc();
        self.seconds.observe(seconds);
    }

    /// One event sent, or refused.
    pub fn sent(&self, sent: bool) {
        if sent {
            self.sent.inc();
        } else {
            self.refused.inc();
        }
    }
}

/// The label of a peer's series: its node id.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

/// The dataplane's traffic with each peer, read from its links' counters
/// at each scrape (nothing is added to the event path).
pub struct PeerTraffic(pub edgeless_dataplane::Dataplane);

impl std::fmt::Debug for PeerTraffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerTraffic")
    }
}

/// A per-peer metric: name, help, whether it is a counter (else a gauge),
/// and its value.
type PeerFamily = (
    &'static str,
    &'static str,
    bool,
    fn(&edgeless_dataplane::PeerStats) -> u64,
);

/// One series per peer of `value`, as a counter or a gauge.
fn encode_per_peer(
    encoder: &mut DescriptorEncoder,
    (name, help, counter): (&str, &str, bool),
    stats: &[(String, edgeless_dataplane::PeerStats)],
    value: impl Fn(&edgeless_dataplane::PeerStats) -> u64,
) -> Result<(), std::fmt::Error> {
    let kind = if counter {
        MetricType::Counter
    } else {
        MetricType::Gauge
    };
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for (peer, stats) in stats {
        let label = PeerLabel { peer: peer.clone() };
        let series = family.encode_family(&label)?;
        if counter {
            ConstCounter::new(value(stats)).encode(series)?;
        } else {
            ConstGauge::new(value(stats) as i64).encode(series)?;
        }
    }
    Ok(())
}

impl Collector for PeerTraffic {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut stats: Vec<(String, edgeless_dataplane::PeerStats)> = self
            .0
            .peer_stats()
            .into_iter()
            .map(|(id, s)| (id.to_string(), s))
            .collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        let families: [PeerFamily; 6] = [
            (
                "dataplane_peer_events_sent",
                "events sent to a peer node",
                true,
                |s| s.sent.events,
            ),
            (
                "dataplane_peer_bytes_sent",
                "payload bytes sent to a peer node",
                true,
                |s| s.sent.bytes,
            ),
            (
                "dataplane_peer_events_refused",
                "events refused because the link to a peer was congested",
                true,
                |s| s.sent.refused,
            ),
            (
                "dataplane_peer_queue_depth",
                "events waiting in the queue of the link to a peer",
                false,
                |s| s.sent.queued,
            ),
            (
                "dataplane_peer_events_received",
                "events received from a peer node",
                true,
                |s| s.received_events,
            ),
            (
                "dataplane_peer_bytes_received",
                "payload bytes received from a peer node",
                true,
                |s| s.received_bytes,
            ),
        ];
        for (name, help, counter, value) in families {
            encode_per_peer(&mut encoder, (name, help, counter), &stats, value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(workflow: &str) -> FunctionLabels {
        FunctionLabels {
            workflow: workflow.into(),
            function: "f".into(),
            class: "c".into(),
        }
    }

    #[test]
    fn a_label_set_s_series_go_with_its_last_instance() {
        let metrics = NodeMetrics::default();
        let samples = PerformanceSamples::default();
        let (a, b) = (labels("a"), labels("b"));
        let first = metrics.meter(Uuid::new_v4(), a.clone(), samples.clone());
        let _second = metrics.meter(Uuid::new_v4(), a.clone(), samples.clone());
        let _other = metrics.meter(Uuid::new_v4(), b.clone(), samples);
        first.handled(Duration::from_micros(5));
        metrics.release(&a);
        assert_eq!(metrics.handled.get(&a).map(|c| c.get()), Some(1));
        metrics.release(&a);
        assert!(metrics.handled.get(&a).is_none());
        assert!(metrics.seconds.get(&a).is_none());
        assert!(metrics.sent.get(&a).is_none());
        assert!(metrics.refused.get(&a).is_none());
        // Another set keeps its series; an unknown release changes nothing.
        metrics.release(&labels("never"));
        assert!(metrics.handled.get(&b).is_some());
    }
}
