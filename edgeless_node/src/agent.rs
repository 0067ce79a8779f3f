//! The node agent: owns the running instances and applies the
//! orchestrator's requests (start, stop, patch, peers, reset).
//!
//! Starting an instance registers its mailbox before the request returns, so
//! events sent to it from then on wait for it. When an instance ends on its
//! own (a trap), its entry and mailbox are removed and later events to it are
//! reported as undeliverable.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::Dataplane;
use tokio::sync::{oneshot, watch};
use uuid::Uuid;

use crate::resources::{Providers, ResourceContext, ResourceError};
use crate::runtime::{
    ContainerRuntime, InstanceContext, OutputMapping, RunningInstance, StartError, StateStore,
    WasmRuntime,
};
pub use crate::start_function::StartFunction;
use crate::start_function::limits;
use crate::telemetry::PerformanceSamples;

/// How long a stop waits for `handle_stop` to finish.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the agent refused a request.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The request itself is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The node cannot run this function type.
    #[error("this node has no runtime for function type `{0}`")]
    NoRuntime(String),
    /// The instance could not be started.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The resource could not be started.
    #[error(transparent)]
    Resource(#[from] ResourceError),
    /// No such instance runs here.
    #[error("no instance {0} on this node")]
    NotFound(Uuid),
    /// The id is already in use.
    #[error("instance {0} already runs on this node")]
    AlreadyRunning(Uuid),
}

/// The runtime chosen for a start request.
enum Runtime<'a> {
    Wasm(&'a WasmRuntime),
    Container(&'a ContainerRuntime),
}

struct Instance {
    /// The generation of the last patch applied.
    generation: u64,
    /// Its series (none for resources).
    labels: Option<crate::metrics::FunctionLabels>,
    outputs: OutputMapping,
    stop: Option<oneshot::Sender<()>>,
    finished: watch::Receiver<bool>,
}

struct Inner {
    dataplane: Dataplane,
    wasm: Option<WasmRuntime>,
    wasm_limits: crate::config::WasmRuntime,
    containers: Option<ContainerRuntime>,
    providers: Providers,
    instances: Mutex<HashMap<Uuid, Instance>>,
    states: StateStore,
    /// Links to peers, so a re-added peer with the same URL keeps its link.
    peers: edgeless_dataplane::PeerDirectory,
    samples: PerformanceSamples,
    /// The node's metrics (each instance gets its meter from them).
    metrics: crate::metrics::NodeMetrics,
    /// Instances that failed since the last report, and a wake-up for the reporter.
    failures: Mutex<Vec<edgeless_api::proto::InstanceFailure>>,
    failed: tokio::sync::Notify,
    /// The functions' log lines.
    logs: crate::logs::LogBook,
}

/// The node agent. Cheap to clone.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl Agent {
    /// An agent with no instances.
    pub fn new(
        dataplane: Dataplane,
        (wasm, wasm_limits): (Option<WasmRuntime>, crate::config::WasmRuntime),
        containers: Option<ContainerRuntime>,
        providers: Providers,
        metrics: crate::metrics::NodeMetrics,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                metrics,
                wasm,
                wasm_limits,
                containers,
                providers,
                instances: Mutex::default(),
                states: StateStore::default(),
                peers: edgeless_dataplane::PeerDirectory::new(dataplane.clone()),
                dataplane,
                samples: PerformanceSamples::default(),
                failures: Mutex::default(),
                failed: tokio::sync::Notify::new(),
                logs: crate::logs::LogBook::default(),
            }),
        }
    }

    /// An agent that runs WASM functions only, with the default limits and
    /// no resource providers (for tools and benchmarks).
    pub fn wasm_only(dataplane: Dataplane, wasm: WasmRuntime) -> Self {
        Self::wasm_only_up_to(
            dataplane,
            wasm,
            crate::config::WasmRuntime::default().max_instances,
        )
    }

    /// [`Agent::wasm_only`] running up to `max_instances` at once.
    pub fn wasm_only_up_to(dataplane: Dataplane, wasm: WasmRuntime, max_instances: usize) -> Self {
        let settings = crate::config::WasmRuntime {
            max_instances,
            ..Default::default()
        };
        Self::new(
            dataplane,
            (Some(wasm), settings),
            None,
            Providers::from_config(&Default::default(), None, Vec::new())
                .expect("the default resources are valid"),
            Default::default(),
        )
    }

    fn instances(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Instance>> {
        self.inner
            .instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// States saved with `sync` since the last call.
    pub fn take_synced_states(&self) -> Vec<edgeless_api::proto::SyncedState> {
        self.inner.states.take_unreported()
    }

    /// Instances that failed since the last call.
    pub fn drain_failures(&self) -> Vec<edgeless_api::proto::InstanceFailure> {
        std::mem::take(
            &mut *self
                .inner
                .failures
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Resolves when an instance fails.
    pub async fn failure_reported(&self) {
        self.inner.failed.notified().await
    }

    /// Execution times recorded since the last call.
    pub fn drain_samples(&self) -> edgeless_api::proto::NodePerformanceSamples {
        self.inner.samples.drain()
    }

    /// How many events each function running here handled so far.
    pub fn function_events(&self) -> Vec<edgeless_api::proto::FunctionEventCount> {
        let labels: std::collections::HashSet<crate::metrics::FunctionLabels> = self
            .instances()
            .values()
            .filter_map(|i| i.labels.clone())
            .collect();
        labels
            .into_iter()
            .map(|l| edgeless_api::proto::FunctionEventCount {
                handled: self.inner.metrics.handled(&l),
                workflow_id: l.workflow,
                function_name: l.function,
            })
            .collect()
    }

    /// The log lines of the functions on this node.
    pub fn logs(&self) -> &crate::logs::LogBook {
        &self.inner.logs
    }

    /// The ids of the running instances.
    pub fn instance_ids(&self) -> Vec<Uuid> {
        self.instances().keys().copied().collect()
    }

    /// Refuses a start when the node runs its maximum of instances.
    fn check_room(&self) -> Result<(), AgentError> {
        let maximum = self.inner.wasm_limits.max_instances;
        if self.instances().len() >= maximum {
            return Err(AgentError::Invalid(format!(
                "this node runs {maximum} instances, its maximum ([wasm_runtime] max_instances)"
            )));
        }
        Ok(())
    }

    /// Starts a function instance; returns its physical id once its mailbox
    /// exists. `handle_init` runs right after, in the instance's task.
    pub async fn start_function(&self, request: StartFunction) -> Result<InstanceId, AgentError> {
        let function_id = if request.function_id.is_nil() {
            Uuid::new_v4()
        } else {
            request.function_id
        };
        let id = InstanceId {
            node_id: self.inner.dataplane.node_id(),
            function_id,
        };
        let runtime = match request.function_type.as_str() {
            edgeless_api::RUST_WASM => self.inner.wasm.as_ref().map(Runtime::Wasm),
            edgeless_api::CONTAINER => self.inner.containers.as_ref().map(Runtime::Container),
            _ => None,
        }
        .ok_or_else(|| AgentError::NoRuntime(request.function_type.clone()))?;
        if self.instances().contains_key(&function_id) {
            return Err(AgentError::AlreadyRunning(function_id));
        }
        self.check_room()?;
        let (outputs, table) = crate::runtime::outputs_pair();
        let labels = crate::metrics::FunctionLabels {
            workflow: request.workflow_id.clone(),
            function: request.function_name.clone(),
            class: request.class_id.clone(),
        };
        let limits = limits(&self.inner.wasm_limits, &request.annotations)?;
        let meter =
            self.inner
                .metrics
                .meter(function_id, labels.clone(), self.inner.samples.clone());
        let log = |logs: &crate::logs::LogBook| {
            logs.instance(id, &request.workflow_id, &request.function_name)
        };
        let failure_log = log(&self.inner.logs);
        let context = InstanceContext {
            log: log(&self.inner.logs),
            id,
            workflow_id: request.workflow_id,
            class_id: request.class_id,
            init_payload: request
                .annotations
                .get(edgeless_api::annotations::INIT_PAYLOAD)
                .map(|p| Bytes::from(p.clone())),
            limits,
            state: {
                if let Some(state) = request.serialized_state {
                    self.inner
                        .states
                        .seed(&request.state_id, Bytes::from(state));
                }
                (self.inner.states.clone(), request.state_id)
            },
            dataplane: self.inner.dataplane.register(id),
            outputs: table,
            meter,
        };
        let started = match runtime {
            Runtime::Wasm(wasm) => wasm.start(&request.code, &request.code_key, context).await,
            Runtime::Container(containers) => {
                let image = String::from_utf8_lossy(&request.code);
                containers
                    .start(&image, context, &request.annotations)
                    .await
            }
        };
        let running = match started {
            Ok(running) => running,
            Err(error) => {
                self.inner.dataplane.unregister(id);
                self.inner.metrics.release(&labels);
                return Err(error.into());
            }
        };
        self.track(id, (outputs, Some(labels)), (running, failure_log));
        tracing::info!(instance = %id, "function instance started");
        Ok(id)
    }

    /// Starts a resource instance of `class` with its run-time configuration.
    pub fn start_resource(
        &self,
        function_id: Uuid,
        class: &str,
        configuration: HashMap<String, String>,
    ) -> Result<InstanceId, AgentError> {
        self.check_room()?;
        let function_id = if function_id.is_nil() {
            Uuid::new_v4()
        } else {
            function_id
        };
        let id = InstanceId {
            node_id: self.inner.dataplane.node_id(),
            function_id,
        };
        let provider = self.inner.providers.get(class)?;
        let unknown = crate::resources::unknown_keys(class, configuration.keys());
        if !unknown.is_empty() {
            tracing::warn!(
                instance = %id,
                class,
                keys = ?unknown,
                "configuration keys this resource does not know are ignored"
            );
        }
        if self.instances().contains_key(&function_id) {
            return Err(AgentError::AlreadyRunning(function_id));
        }
        let (outputs, table) = crate::runtime::outputs_pair();
        let context = ResourceContext {
            id,
            configuration,
            dataplane: self.inner.dataplane.register(id),
            outputs: Arc::new(table),
        };
        let running = provider
            .start(context)
            .inspect_err(|_| self.inner.dataplane.unregister(id))?;
        // Resources log through the node's own log.
        let log = crate::logs::InstanceLog::detached(id);
        self.track(id, (outputs, None), (running, log));
        tracing::info!(instance = %id, class, "resource instance started");
        Ok(id)
    }

    /// The resource providers this node announces.
    pub fn resource_providers(&self) -> Vec<edgeless_api::proto::ResourceProviderSpecification> {
        self.inner.providers.specs.clone()
    }

    /// Keeps a started instance until it ends, whatever ends it.
    fn track(
        &self,
        id: InstanceId,
        (outputs, labels): (OutputMapping, Option<crate::metrics::FunctionLabels>),
        (running, log): (RunningInstance, crate::logs::InstanceLog),
    ) {
        let (done_tx, done_rx) = watch::channel(false);
        self.instances().insert(
            id.function_id,
            Instance {
                generation: 0,
                labels,
                outputs,
                stop: Some(running.stop),
                finished: done_rx,
            },
        );
        let agent = self.clone();
        tokio::spawn(async move {
            let reason = running
                .task
                .await
                .unwrap_or_else(|e| Some(format!("the instance task failed: {e}")));
            agent.inner.dataplane.unregister(id);
            let _ = done_tx.send(true);
            let removed = agent.instances().remove(&id.function_id);
            agent.inner.logs.retire(id.function_id);
            if let Some(labels) = removed.as_ref().and_then(|i| i.labels.as_ref()) {
                agent.inner.metrics.release(labels);
            }
            if removed.is_some_and(|i| i.stop.is_some()) {
                let reason = reason.unwrap_or_else(|| "ended without being stopped".to_string());
                tracing::warn!(instance = %id, %reason, "instance failed; reporting it");
                log.write(1, "", &format!("instance failed: {reason}"));
                agent
                    .inner
                    .failures
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(edgeless_api::proto::InstanceFailure {
                        function_id: id.function_id.to_string(),
                        reason,
                    });
                agent.inner.failed.notify_one();
            }
        });
    }

    /// Stops an instance: `handle_stop` runs, then its mailbox is removed.
    pub async fn stop(&self, function_id: Uuid) -> Result<(), AgentError> {
        let (stop, mut finished) = {
            let mut instances = self.instances();
            let instance = instances
                .get_mut(&function_id)
                .ok_or(AgentError::NotFound(function_id))?;
            (instance.stop.take(), instance.finished.clone())
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        if tokio::time::timeout(STOP_GRACE, finished.wait_for(|done| *done))
            .await
            .is_err()
        {
            tracing::warn!(%function_id, "instance did not stop within {STOP_GRACE:?}");
        }
        tracing::info!(%function_id, "function instance stopped");
        Ok(())
    }

    /// Replaces an instance's output mapping (unless `None`) and the
    /// instances whose events it takes (those its workflow maps to it). A
    /// patch of a `generation` older than the last one applied is ignored
    /// (0: always applied).
    pub fn patch(
        &self,
        function_id: Uuid,
        generation: u64,
        mapping: Option<HashMap<String, Vec<InstanceId>>>,
        inputs: Vec<InstanceId>,
    ) -> Result<(), AgentError> {
        let mut instances = self.instances();
        let instance = instances
            .get_mut(&function_id)
            .ok_or(AgentError::NotFound(function_id))?;
        if generation != 0 && generation < instance.generation {
            tracing::debug!(%function_id, generation, "an older patch arrived late; ignored");
            return Ok(());
        }
        instance.generation = generation.max(instance.generation);
        if let Some(mapping) = mapping {
            instance.outputs.patch(mapping);
        }
        self.inner.dataplane.set_inputs(function_id, inputs);
        Ok(())
    }

    /// Links (or re-links) the dataplane to a peer node.
    pub fn add_peer(&self, node_id: Uuid, invocation_url: &str) -> Result<(), AgentError> {
        self.inner
            .peers
            .add(node_id, invocation_url)
            .map_err(|e| AgentError::Invalid(e.to_string()))
    }

    /// Applies an orchestrator's peer update.
    pub fn update_peers(
        &self,
        request: &edgeless_api::proto::UpdatePeersRequest,
    ) -> Result<(), AgentError> {
        self.inner.peers.apply(request).map_err(AgentError::Invalid)
    }

    /// Stops every instance and forgets every peer: back to a clean node.
    pub async fn reset(&self) {
        for function_id in self.instance_ids() {
            let _ = self.stop(function_id).await;
        }
        self.inner.peers.clear();
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    #[tokio::test]
    async fn a_full_node_refuses_every_start_with_the_reason() {
        let garbage = || StartFunction::new(edgeless_api::RUST_WASM, "c", b"not wasm".to_vec());
        let roomy = Agent::wasm_only(
            Dataplane::new(Uuid::new_v4()),
            WasmRuntime::new(None).unwrap(),
        );
        // With room, starts fail for their own reasons.
        let error = roomy
            .start_function(garbage())
            .await
            .unwrap_err()
            .to_string();
        assert!(!error.contains("max_instances"), "{error}");
        let mut full = Agent::wasm_only(
            Dataplane::new(Uuid::new_v4()),
            WasmRuntime::new(None).unwrap(),
        );
        Arc::get_mut(&mut full.inner)
            .unwrap()
            .wasm_limits
            .max_instances = 0;
        let error = full
            .start_function(garbage())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("its maximum ([wasm_runtime] max_instances)"),
            "{error}"
        );
        let error = full
            .start_resource(Uuid::nil(), "file-log", HashMap::new())
            .unwrap_err()
            .to_string();
        assert!(error.contains("max_instances"), "{error}");
    }
}
