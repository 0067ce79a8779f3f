//! The Docker Engine API calls the container runtime needs, with errors
//! worded for an operator. Every container the node creates carries the
//! label [`NODE_LABEL`] with the node's id, so whatever a previous run of the
//! node left behind can be found and removed.

use std::collections::HashMap;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, InspectNetworkOptions,
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StartContainerOptions,
};
use futures::StreamExt;

/// The label that names the node owning a container.
pub const NODE_LABEL: &str = "edgeless.node";
/// The network container functions join by default, made on first use:
/// internal, without traffic between containers.
pub const GUEST_NETWORK: &str = "edgeless-guests";
/// The user (and group) container functions run as: `nobody`.
pub const GUEST_USER: &str = "65534:65534";
/// The most processes and threads a container function may have.
pub const PIDS_LIMIT: i64 = 256;
/// The label that names the instance a container runs.
pub const INSTANCE_LABEL: &str = "edgeless.instance";

/// What went wrong talking to Docker.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// The daemon does not answer.
    #[error("Docker does not answer on {socket}: {reason}")]
    Unreachable { socket: String, reason: String },
    /// The image is not on this node.
    #[error("image `{0}` is not on this node (build it, or pull it into the node's Docker)")]
    NoImage(String),
    /// Any other refusal.
    #[error("{0}")]
    Refused(String),
}

/// A connection to the Docker Engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    socket: String,
}

/// What a container to start looks like.
pub struct ContainerSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub network: &'a str,
    pub memory_bytes: i64,
    pub nano_cpus: i64,
}

/// How a container is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum ContainerStatus {
    Running,
    /// It ended, with its exit code and whether the kernel killed it for
    /// memory.
    Exited {
        code: i64,
        oom_killed: bool,
    },
    /// It no longer exists.
    Gone,
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Running => f.write_str("running"),
            Self::Exited {
                oom_killed: true, ..
            } => f.write_str("killed: out of memory (raise max_memory_mb)"),
            Self::Exited { code, .. } => write!(f, "exited with code {code}"),
            Self::Gone => f.write_str("removed"),
        }
    }
}

impl Engine {
    /// Connects to the daemon on `socket` and checks that it answers.
    pub async fn connect(socket: &str) -> Result<Self, DockerError> {
        let unreachable = |e: bollard::errors::Error| DockerError::Unreachable {
            socket: socket.to_string(),
            reason: e.to_string(),
        };
        let docker = Docker::connect_with_unix(socket, 120, bollard::API_DEFAULT_VERSION)
            .map_err(unreachable)?
            .negotiate_version()
            .await
            .map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Self {
            docker,
            socket: socket.to_string(),
        })
    }

    fn refused(&self, what: &str, error: bollard::errors::Error) -> DockerError {
        match error {
            bollard::errors::Error::DockerResponseServerError { message, .. } => {
                DockerError::Refused(format!("Docker refused to {what}: {message}"))
            }
            other => DockerError::Unreachable {
                socket: self.socket.clone(),
                reason: format!("cannot {what}: {other}"),
            },
        }
    }

    /// Creates the guests' network [`GUEST_NETWORK`] when it is missing:
    /// internal (no route out of the host), and containers on it cannot
    /// reach each other; they reach only the host, at its gateway.
    pub async fn ensure_guest_network(&self) -> Result<(), DockerError> {
        self.ensure_network(GUEST_NETWORK).await
    }

    /// Makes network `name` (as the guest network) unless it exists. Nodes
    /// on one host may start at the same moment, and a Docker daemon older
    /// than API 1.44 lets each of them create a network of that name; the
    /// duplicates are then removed, all but one, so that the name names one
    /// network again.
    pub async fn ensure_network(&self, name: &str) -> Result<(), DockerError> {
        for _ in 0..5 {
            match self
                .docker
                .inspect_network(name, None::<InspectNetworkOptions>)
                .await
            {
                Ok(_) => return Ok(()),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => self.create_network(name).await?,
                Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                    if message.contains("ambiguous") =>
                {
                    self.remove_duplicates(name).await?
                }
                Err(e) => return Err(self.refused(&format!("inspect network `{name}`"), e)),
            }
        }
        Err(DockerError::Refused(format!(
            "network `{name}` exists more than once and every copy is in use; remove all but one (`docker network ls --filter name={name}`)"
        )))
    }

    async fn create_network(&self, name: &str) -> Result<(), DockerError> {
        let request = bollard::models::NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".into()),
            internal: Some(true),
            options: Some(HashMap::from([(
                "com.docker.network.bridge.enable_icc".to_string(),
                "false".to_string(),
            )])),
            ..Default::default()
        };
        match self.docker.create_network(request).await {
            Ok(_) => Ok(()),
            // Another node on this host made it meanwhile.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(self.refused(&format!("create network `{name}`"), e)),
        }
    }

    /// Removes networks named `name`, in the order of their ids, until one
    /// is left; one in use stays. Every node doing this at once removes the
    /// same ones (a network another removed first counts as removed).
    async fn remove_duplicates(&self, name: &str) -> Result<(), DockerError> {
        let filters = HashMap::from([("name", vec![name])]);
        let options = ListNetworksOptionsBuilder::default()
            .filters(&filters)
            .build();
        let listed = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| self.refused(&format!("list networks named `{name}`"), e))?;
        // The filter matches parts of names too.
        let mut ids: Vec<String> = listed
            .into_iter()
            .filter(|n| n.name.as_deref() == Some(name))
            .filter_map(|n| n.id)
            .collect();
        ids.sort();
        let mut left = ids.len();
        for id in ids {
            if left <= 1 {
                break;
            }
            match self.docker.remove_network(&id).await {
                Ok(())
                | Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => left -= 1,
                Err(error) => {
                    tracing::warn!(network = name, %id, %error, "duplicate network kept");
                }
            }
        }
        Ok(())
    }

    /// The name of the host interface of bridge network `network`.
    pub async fn bridge(&self, network: &str) -> Result<String, DockerError> {
        let inspect = self
            .docker
            .inspect_network(network, None::<InspectNetworkOptions>)
            .await
            .map_err(|e| self.refused(&format!("inspect network `{network}`"), e))?;
        let named = inspect
            .options
            .as_ref()
            .and_then(|o| o.get("com.docker.network.bridge.name"))
            .cloned();
        let id = inspect.id.unwrap_or_default();
        Ok(named.unwrap_or_else(|| format!("br-{}", id.get(..12).unwrap_or(&id))))
    }

    /// The gateway address of `network`: where containers reach the host.
    /// Docker leaves the gateway out of the default bridge's description;
    /// then it is the first address of the subnet, as Docker assigns it.
    pub async fn gateway(&self, network: &str) -> Result<String, DockerError> {
        let inspect = self
            .docker
            .inspect_network(network, None::<InspectNetworkOptions>)
            .await
            .map_err(|e| self.refused(&format!("inspect network `{network}`"), e))?;
        let configs = inspect
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default();
        configs
            .iter()
            .find_map(|config| {
                let gateway = config.gateway.as_deref().and_then(|g| g.parse().ok());
                gateway.or_else(|| first_host(config.subnet.as_deref()?))
            })
            .map(|ip: std::net::Ipv4Addr| ip.to_string())
            .ok_or_else(|| {
                DockerError::Refused(format!(
                    "network `{network}` has no IPv4 gateway; set [container_runtime] guest_api_host_url"
                ))
            })
    }

    /// Creates and starts a container (hardened: see [`GUEST_USER`] and
    /// the host configuration below); returns its address on the network.
    pub async fn run(&self, spec: ContainerSpec<'_>) -> Result<String, DockerError> {
        let body = ContainerCreateBody {
            image: Some(spec.image.to_string()),
            env: Some(spec.env),
            labels: Some(spec.labels),
            // An unprivileged user, whatever the image says.
            user: Some(GUEST_USER.to_string()),
            host_config: Some(HostConfig {
                memory: Some(spec.memory_bytes),
                memory_swap: Some(spec.memory_bytes),
                nano_cpus: Some(spec.nano_cpus),
                network_mode: Some(spec.network.to_string()),
                pids_limit: Some(PIDS_LIMIT),
                // No capabilities, no way to gain privileges, nothing
                // written outside a small /tmp.
                cap_drop: Some(vec!["ALL".to_string()]),
                security_opt: Some(vec!["no-new-privileges:true".to_string()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_string(),
                    "rw,noexec,nosuid,size=16m".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        match self.docker.create_container(Some(options), body).await {
            Ok(_) => {}
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Err(DockerError::NoImage(spec.image.to_string())),
            Err(e) => return Err(self.refused("create a container", e)),
        }
        if let Err(e) = self
            .docker
            .start_container(&spec.name, None::<StartContainerOptions>)
            .await
        {
            self.remove(&spec.name).await;
            return Err(self.refused("start the container", e));
        }
        let address = match self.address(&spec.name, spec.network).await {
            Err(_) if self.status(&spec.name).await != ContainerStatus::Running => {
                Err(DockerError::Refused(self.ended_early(&spec.name).await))
            }
            address => address,
        };
        if address.is_err() {
            self.remove(&spec.name).await;
        }
        address
    }

    /// Why a container that ended before it was ready did, with its output.
    pub async fn ended_early(&self, name: &str) -> String {
        let status = self.status(name).await;
        let output = self.last_output(name).await;
        format!(
            "the container {status} before it served the function interface; its last output: {}",
            if output.is_empty() { "(none)" } else { &output }
        )
    }

    async fn address(&self, name: &str, network: &str) -> Result<String, DockerError> {
        let inspect = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.refused("inspect the container", e))?;
        inspect
            .network_settings
            .and_then(|settings| settings.networks)
            .and_then(|mut networks| networks.remove(network))
            .and_then(|endpoint| endpoint.ip_address)
            .filter(|ip| !ip.is_empty())
            .ok_or_else(|| {
                DockerError::Refused(format!(
                    "the container has no address on network `{network}`"
                ))
            })
    }

    /// How the container is doing.
    pub async fn status(&self, name: &str) -> ContainerStatus {
        let Ok(inspect) = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        else {
            return ContainerStatus::Gone;
        };
        let state = inspect.state.unwrap_or_default();
        if state.running == Some(true) {
            ContainerStatus::Running
        } else {
            ContainerStatus::Exited {
                code: state.exit_code.unwrap_or(-1),
                oom_killed: state.oom_killed == Some(true),
            }
        }
    }

    /// Resolves when the container has ended.
    pub async fn wait(&self, name: &str) {
        let mut stream = self.docker.wait_container(name, None);
        while let Some(item) = stream.next().await {
            if item.is_err() {
                break;
            }
        }
    }

    /// Hands every line the container writes to `line` (`true` for
    /// stderr) until the container ends.
    pub async fn follow_output(&self, name: &str, line: impl Fn(bool, &str)) {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        while let Some(Ok(output)) = logs.next().await {
            let (stderr, bytes) = match output {
                bollard::container::LogOutput::StdErr { message } => (true, message),
                bollard::container::LogOutput::StdOut { message }
                | bollard::container::LogOutput::Console { message } => (false, message),
                bollard::container::LogOutput::StdIn { .. } => continue,
            };
            for text in String::from_utf8_lossy(&bytes).lines() {
                if !text.trim().is_empty() {
                    line(stderr, text);
                }
            }
        }
    }

    /// The last lines the container wrote, for error messages.
    pub async fn last_output(&self, name: &str) -> String {
        let options = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .tail("5")
            .build();
        let mut logs = self.docker.logs(name, Some(options));
        let mut text = String::new();
        while let Some(Ok(line)) = logs.next().await {
            text.push_str(&line.to_string());
        }
        text.trim().replace('\n', " | ")
    }

    /// Removes a container, running or not. Failures are logged.
    pub async fn remove(&self, name: &str) {
        let options = RemoveContainerOptionsBuilder::new().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => tracing::debug!(container = name, "container removed"),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(error) => tracing::warn!(container = name, %error, "cannot remove container"),
        }
    }

    /// Removes every container labelled with `node_id`: what a previous run
    /// of this node left behind. Returns how many.
    pub async fn remove_left_over(&self, node_id: &str) -> Result<usize, DockerError> {
        let filters =
            HashMap::from([("label".to_string(), vec![format!("{NODE_LABEL}={node_id}")])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| self.refused("list containers", e))?;
        let names: Vec<String> = containers.into_iter().filter_map(|c| c.id).collect();
        for name in &names {
            self.remove(name).await;
        }
        Ok(names.len())
    }
}

/// The first host address of an IPv4 subnet (`172.17.0.0/16` → `172.17.0.1`).
fn first_host(subnet: &str) -> Option<std::net::Ipv4Addr> {
    let (address, bits) = subnet.split_once('/')?;
    let address: std::net::Ipv4Addr = address.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 30)?;
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Some(std::net::Ipv4Addr::from((u32::from(address) & mask) + 1))
}

#[cfg(test)]
mod tests {
    use super::first_host;

    #[test]
    fn the_first_host_of_a_subnet() {
        assert_eq!(
            first_host("172.17.0.0/16"),
            Some("172.17.0.1".parse().unwrap())
        );
        assert_eq!(
            first_host("10.1.2.128/25"),
            Some("10.1.2.129".parse().unwrap())
        );
        assert_eq!(first_host("fd00::/64"), None);
        assert_eq!(first_host("10.0.0.0/31"), None);
        assert_eq!(first_host("nonsense"), None);
    }
}
