//! Function runtimes. A runtime turns a start request into a running
//! instance: a task that reads the instance's mailbox and drives its code.
//! There are two: WebAssembly ([`WasmRuntime`]) and Docker containers
//! ([`ContainerRuntime`]); both get the same [`InstanceContext`] and offer
//! their guests the same [`instance_host::InstanceHost`].

#[cfg(feature = "containers")]
pub mod container;
#[cfg(not(feature = "containers"))]
#[path = "container_absent.rs"]
pub mod container;
mod guest_limits;
mod host;
mod inbox;
mod instance_host;
mod outputs;
mod wasm;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::DataplaneHandle;

pub use container::ContainerRuntime;
pub use outputs::{OutputMapping, OutputTable, output_mapping as outputs_pair};
pub use wasm::{InstanceLimits, WasmRuntime};

/// A started instance: stop it by sending on `stop`; `task` ends when it has.
pub struct RunningInstance {
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// Ends with the reason the instance failed, if it did.
    pub task: tokio::task::JoinHandle<Option<String>>,
}

/// The most state bytes one registration refresh reports.
pub const REPORT_BYTES: usize = edgeless_api::limits::MAX_CONTROL_MESSAGE / 2;

/// States saved by `sync`, by state id: handed to re-created instances on
/// this node, and reported to the orchestrator so an instance re-created on
/// another node gets them too. Cheap to clone.
#[derive(Clone, Default)]
pub struct StateStore {
    inner: Arc<Mutex<States>>,
}

#[derive(Default)]
struct States {
    saved: HashMap<String, Bytes>,
    unreported: HashMap<String, Bytes>,
}

impl StateStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, States> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Saves a state (from `sync`); a state larger than
    /// [`edgeless_api::limits::MAX_STATE`] is refused.
    pub fn save(&self, key: &str, state: Bytes) -> Result<(), String> {
        if state.len() > edgeless_api::limits::MAX_STATE {
            return Err(format!(
                "a state of {} bytes was not saved: at most {} bytes are allowed",
                state.len(),
                edgeless_api::limits::MAX_STATE
            ));
        }
        let mut states = self.lock();
        states.saved.insert(key.to_string(), state.clone());
        states.unreported.insert(key.to_string(), state);
        Ok(())
    }

    /// Stores a state the orchestrator kept, before the instance starts.
    pub fn seed(&self, key: &str, state: Bytes) {
        self.lock().saved.insert(key.to_string(), state);
    }

    /// The state saved under `key`.
    pub fn load(&self, key: &str) -> Option<Bytes> {
        self.lock().saved.get(key).cloned()
    }

    /// States saved since they were last taken (the latest per key), at
    /// most [`REPORT_BYTES`] of them; the rest wait for the next report, so
    /// a registration never outgrows its message limit.
    pub fn take_unreported(&self) -> Vec<edgeless_api::proto::SyncedState> {
        let mut states = self.lock();
        let keys: Vec<String> = states.unreported.keys().cloned().collect();
        let mut taken = Vec::new();
        let mut bytes = 0;
        for key in keys {
            let size = states.unreported[&key].len() + key.len();
            if !taken.is_empty() && bytes + size > REPORT_BYTES {
                break;
            }
            bytes += size;
            if let Some(state) = states.unreported.remove(&key) {
                taken.push(edgeless_api::proto::SyncedState {
                    state_id: key,
                    state: state.to_vec(),
                });
            }
        }
        taken
    }
}

/// Everything a runtime needs to start one instance.
pub struct InstanceContext {
    /// The physical id.
    pub id: InstanceId,
    /// The workflow it belongs to (for logs).
    pub workflow_id: String,
    /// The function class (for logs).
    pub class_id: String,
    /// The `init-payload` annotation.
    pub init_payload: Option<Bytes>,
    /// Where `sync` stores state, and the key.
    pub state: (StateStore, String),
    /// The instance's mailbox and sender.
    pub dataplane: DataplaneHandle,
    /// Where its output channels lead (set by patches).
    pub outputs: OutputTable,
    /// Where execution times and event counts are recorded.
    pub meter: crate::metrics::InstanceMeter,
    /// Where its log lines are kept.
    pub log: crate::logs::InstanceLog,
    /// Memory and CPU limits.
    pub limits: InstanceLimits,
}

/// An [`InstanceContext`] taken apart by a runtime: the host its guest's
/// requests go through, and what the runtime itself drives.
pub(crate) struct InstanceParts {
    pub host: instance_host::InstanceHost,
    pub init_payload: Option<Bytes>,
    /// The state saved by an earlier incarnation, if any.
    pub saved_state: Option<Bytes>,
    pub dataplane: DataplaneHandle,
    pub meter: crate::metrics::InstanceMeter,
    pub limits: InstanceLimits,
}

impl InstanceContext {
    /// Builds the instance's host and reads its saved state.
    pub(crate) fn into_parts(self) -> InstanceParts {
        let saved_state = self.state.0.load(&self.state.1);
        InstanceParts {
            host: instance_host::InstanceHost::new(
                self.id,
                (self.workflow_id, self.class_id),
                self.dataplane.sender().clone(),
                self.outputs,
                self.state,
                (self.meter.clone(), self.log),
            ),
            init_payload: self.init_payload,
            saved_state,
            dataplane: self.dataplane,
            meter: self.meter,
            limits: self.limits,
        }
    }
}

/// Why an instance could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The code is not a valid module, or does not fit the function ABI.
    #[error("invalid function code: {0}")]
    BadCode(String),
    /// The request asks for something this node does not allow.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Docker refused or did not answer.
    #[error(transparent)]
    Docker(#[from] container::DockerError),
    /// The code trapped while being instantiated.
    #[error("the instance could not be created: {0}")]
    Instantiate(String),
    /// The request named its code by a key this node has not compiled (the
    /// orchestrator sends the code then).
    #[error("{prefix} {0}: send it", prefix = edgeless_api::code_table::UNKNOWN_CODE)]
    UnknownCode(String),
}

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn states_are_bounded_and_reported_in_bounded_parts() {
        let store = StateStore::default();
        let too_big = Bytes::from(vec![0u8; edgeless_api::limits::MAX_STATE + 1]);
        let error = store.save("a", too_big).unwrap_err();
        assert!(error.contains("at most 1048576 bytes"), "{error}");
        assert!(store.load("a").is_none());
        let full = Bytes::from(vec![1u8; edgeless_api::limits::MAX_STATE]);
        let count = REPORT_BYTES / edgeless_api::limits::MAX_STATE + 5;
        for i in 0..count {
            store.save(&format!("s{i}"), full.clone()).unwrap();
        }
        let first = store.take_unreported();
        let bytes: usize = first.iter().map(|s| s.state.len() + s.state_id.len()).sum();
        assert!(bytes <= REPORT_BYTES, "{bytes}");
        let rest = store.take_unreported();
        assert_eq!(first.len() + rest.len(), count, "the rest comes next time");
        assert!(store.take_unreported().is_empty());
    }
}
