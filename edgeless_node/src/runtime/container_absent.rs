//! The container runtime's stand-in in a node built without the cargo
//! feature `containers` (for boards that run WebAssembly only): enabling
//! `[container_runtime]` is an error that says so, and `CONTAINER`
//! functions are never placed on the node (it does not list the runtime).

use std::collections::HashMap;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{InstanceContext, RunningInstance, StartError};
use crate::config;

/// The Docker network guests would join (the configuration default).
pub const GUEST_NETWORK: &str = "edgeless-guests";

/// Never made: there is no Docker client in this build.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DockerError(String);

/// No container runtime: there is no value of this type.
pub enum ContainerRuntime {}

impl ContainerRuntime {
    /// Always an error: this node was built without containers.
    pub async fn connect(
        _settings: &config::ContainerRuntime,
        _node_id: Uuid,
        _shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, std::future::Ready<anyhow::Result<()>>)> {
        anyhow::bail!(
            "this node was built without the container runtime (cargo feature `containers`)"
        )
    }

    /// Unreachable: no runtime exists.
    pub async fn start(
        &self,
        _image: &str,
        _context: InstanceContext,
        _annotations: &HashMap<String, String>,
    ) -> Result<RunningInstance, StartError> {
        match *self {}
    }
}
