//! The container runtime: functions of type `CONTAINER` run as Docker
//! containers, started and removed through the Docker Engine API (bollard).
//!
//! The container serves the guest side of the function interface
//! (`FunctionGuest`: init, cast, call, stop) on port [`GUEST_PORT`]; the node
//! serves the host side (`FunctionHost`: cast, call, delayed cast, sync, log,
//! slf) on the address in the container's `EDGELESS_HOST_URL`. Each instance
//! gets a secret token (`EDGELESS_TOKEN`) that both sides send with every
//! request.
//!
//! An instance is one container, labelled with the node and instance ids. It
//! is removed when the instance stops, when its start fails, and when it
//! fails; a node that starts removes what its previous run left behind.

mod docker;
mod guest_firewall;
mod host_service;
mod instance;
mod link_tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use edgeless_api::proto::GuestInit;
use edgeless_api::proto::function_guest_client::FunctionGuestClient;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use docker::{DockerError, Engine, GUEST_NETWORK};
use edgeless_api::client::TokenInterceptor;
use host_service::Guests;

use super::{InstanceContext, InstanceParts, RunningInstance, StartError};
use crate::config;

/// The port a container function serves `FunctionGuest` on.
pub const GUEST_PORT: u16 = 7101;

/// Runs container functions.
pub struct ContainerRuntime {
    engine: Engine,
    settings: config::ContainerRuntime,
    node_id: Uuid,
    host_url: String,
    guests: Guests,
    /// Encryption of the container links, when the node runs TLS.
    link_tls: Option<link_tls::LinkTls>,
    /// The host service's opening in the guests' firewall.
    _firewall: Option<guest_firewall::GuestFirewall>,
}

/// The limits of one container.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContainerLimits {
    pub memory_mb: u64,
    pub cpus: f64,
}

impl ContainerLimits {
    /// The node's limits, or lower ones the annotations `max_memory_mb` and
    /// `max_cpus` ask for (never higher).
    pub fn from_annotations(
        settings: &config::ContainerRuntime,
        annotations: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let memory_mb = match annotations.get("max_memory_mb") {
            None => settings.max_memory_mb,
            Some(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|mb| *mb >= 6)
                .ok_or_else(|| {
                    format!("annotation max_memory_mb = {value:?} is not a number of MiB ≥ 6")
                })?,
        };
        if memory_mb > settings.max_memory_mb {
            return Err(format!(
                "annotation max_memory_mb = {memory_mb} is above this node's maximum of {} ([container_runtime] max_memory_mb)",
                settings.max_memory_mb
            ));
        }
        let cpus = match annotations.get("max_cpus") {
            None => settings.max_cpus,
            Some(value) => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|c| c.is_finite() && *c >= 0.01)
                .ok_or_else(|| {
                    format!("annotation max_cpus = {value:?} is not a number of CPUs ≥ 0.01")
                })?,
        };
        if cpus > settings.max_cpus {
            return Err(format!(
                "annotation max_cpus = {cpus} is above this node's maximum of {} ([container_runtime] max_cpus)",
                settings.max_cpus
            ));
        }
        Ok(Self { memory_mb, cpus })
    }
}

/// Whether `image` matches one of `patterns`: a name, or a prefix ending in
/// `*` (`edgeless-*`).
pub fn image_allowed(patterns: &[String], image: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => image.starts_with(prefix),
            None => pattern == image,
        })
}

type GuestClient = FunctionGuestClient<
    tonic::service::interceptor::InterceptedService<tonic::transport::Channel, TokenInterceptor>,
>;

impl ContainerRuntime {
    /// Closes the host to the guests' network but for the host service on
    /// `host_service` ([`guest_firewall`]); where that cannot be done, says what
    /// stays open.
    async fn close_host(
        engine: &Engine,
        settings: &config::ContainerRuntime,
        host_service: std::net::SocketAddr,
    ) -> anyhow::Result<Option<guest_firewall::GuestFirewall>> {
        let bridge = engine.bridge(&settings.network).await?;
        let port = host_service.port();
        match guest_firewall::GuestFirewall::open(&bridge, host_service.ip(), port) {
            Ok(firewall) => {
                tracing::info!(%bridge, port, "containers reach only the host service on this host");
                Ok(Some(firewall))
            }
            Err(reason) => {
                tracing::warn!(
                    %bridge,
                    %reason,
                    "containers can reach every service listening on the host's addresses; run the node as root with iptables to close them"
                );
                Ok(None)
            }
        }
    }

    /// Connects to Docker, removes the containers a previous run of this node
    /// left, and binds the host service. Returns the runtime and the future
    /// that serves the host service until `shutdown`.
    pub async fn connect(
        settings: &config::ContainerRuntime,
        node_id: Uuid,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, impl Future<Output = anyhow::Result<()>> + use<>)> {
        let engine = Engine::connect(&settings.docker_socket).await?;
        let left = engine.remove_left_over(&node_id.to_string()).await?;
        if left > 0 {
            tracing::info!(
                count = left,
                "removed containers left by a previous run of this node"
            );
        }
        if settings.network == docker::GUEST_NETWORK {
            engine.ensure_guest_network().await?;
        }
        let bind_url = if settings.guest_api_host_url.is_empty() {
            format!("http://{}:0", engine.gateway(&settings.network).await?)
        } else {
            settings.guest_api_host_url.clone()
        };
        let listener = edgeless_api::server::bind(&bind_url).await?;
        let link_tls = if edgeless_api::tls::is_installed() {
            Some(link_tls::LinkTls::new()?)
        } else {
            None
        };
        let scheme = if link_tls.is_some() { "https" } else { "http" };
        let host_url = format!("{scheme}://{}", listener.local_addr()?);
        let firewall = Self::close_host(&engine, settings, listener.local_addr()?).await?;
        let guests = Guests::default();
        let mut builder = tonic::transport::Server::builder();
        if let Some(tls) = &link_tls {
            builder = builder.tls_config(tls.server_config())?;
        }
        let server = builder
            .add_service(host_service::server(guests.clone()))
            .serve_with_incoming_shutdown(
                edgeless_api::server::incoming(listener),
                shutdown.cancelled_owned(),
            );
        tracing::info!(url = %host_url, socket = %settings.docker_socket, "container runtime ready");
        let serve = async move {
            server
                .await
                .map_err(|e| anyhow::anyhow!("container host service failed: {e}"))
        };
        Ok((
            Self {
                engine,
                settings: settings.clone(),
                node_id,
                host_url,
                guests,
                link_tls,
                _firewall: firewall,
            },
            serve,
        ))
    }

    /// Starts a container from `image` and waits until it serves the
    /// function interface and has run `handle_init`.
    pub async fn start(
        &self,
        image: &str,
        context: InstanceContext,
        annotations: &HashMap<String, String>,
    ) -> Result<RunningInstance, StartError> {
        let limits = ContainerLimits::from_annotations(&self.settings, annotations)
            .map_err(StartError::Invalid)?;
        let image = image.trim();
        if image.is_empty() {
            return Err(StartError::BadCode(
                "a CONTAINER function names an image in `code`".into(),
            ));
        }
        if !image_allowed(&self.settings.allowed_images, image) {
            return Err(StartError::Invalid(format!(
                "image `{image}` is not allowed on this node ([container_runtime] allowed_images = {:?})",
                self.settings.allowed_images
            )));
        }
        let InstanceParts {
            host,
            init_payload,
            saved_state,
            dataplane,
            meter,
            limits: _,
        } = context.into_parts();
        let id = host.id;
        let token = Uuid::new_v4().simple().to_string();
        let name = format!("edgeless-{}", id.function_id);
        let labels = HashMap::from([
            (docker::NODE_LABEL.to_string(), self.node_id.to_string()),
            (
                docker::INSTANCE_LABEL.to_string(),
                id.function_id.to_string(),
            ),
            ("edgeless.workflow".to_string(), host.workflow_id.clone()),
        ]);
        let mut env = vec![
            format!("EDGELESS_HOST_URL={}", self.host_url),
            format!("EDGELESS_TOKEN={token}"),
        ];
        let instance_tls = match &self.link_tls {
            Some(link) => {
                let instance = link.instance().map_err(|e| {
                    StartError::Instantiate(format!("cannot make the instance's certificate: {e}"))
                })?;
                env.extend(link.environment(&instance));
                Some(instance)
            }
            None => None,
        };
        let spec = docker::ContainerSpec {
            name: name.clone(),
            image,
            env,
            labels,
            network: &self.settings.network,
            memory_bytes: (limits.memory_mb as i64).saturating_mul(1 << 20),
            nano_cpus: (limits.cpus * 1e9) as i64,
        };
        let host = Arc::new(host);
        self.guests.insert(token.clone(), host.clone());
        let started = async {
            let address = self.engine.run(spec).await?;
            let mut guest = self
                .connect_guest(&name, &address, &token, instance_tls.as_ref())
                .await?;
            let init = GuestInit {
                instance: Some(id.into()),
                init_payload: init_payload.map(|p| p.to_vec()),
                serialized_state: saved_state.map(|s| s.to_vec()),
            };
            let ready = Duration::from_secs(self.settings.ready_timeout_sec);
            match tokio::time::timeout(ready, guest.init(init)).await {
                Ok(Ok(_)) => Ok(guest),
                Ok(Err(status)) => {
                    let output = self.engine.last_output(&name).await;
                    Err(StartError::Instantiate(format!(
                        "handle_init failed: {}; the container's last output: {}",
                        status.message(),
                        if output.is_empty() { "(none)" } else { &output }
                    )))
                }
                Err(_) => Err(StartError::Instantiate(format!(
                    "handle_init did not finish within {ready:?}"
                ))),
            }
        };
        let guest = match started.await {
            Ok(guest) => guest,
            Err(error) => {
                self.guests.remove(&token);
                self.engine.remove(&name).await;
                return Err(error);
            }
        };
        tracing::info!(instance = %id, container = %name, image, "container function ready");
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(instance::run(instance::Instance {
            engine: self.engine.clone(),
            name,
            guest,
            host,
            token,
            guests: self.guests.clone(),
            dataplane,
            meter,
            stop: stop_rx,
        }));
        Ok(RunningInstance {
            stop: stop_tx,
            task,
        })
    }

    /// Connects to the container's guest service, retrying until it answers
    /// or the ready timeout passes; fails at once if the container exits.
    async fn connect_guest(
        &self,
        name: &str,
        address: &str,
        token: &str,
        tls: Option<&link_tls::InstanceTls>,
    ) -> Result<GuestClient, StartError> {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{address}:{GUEST_PORT}");
        let bad = |e: tonic::transport::Error| {
            StartError::Instantiate(format!("bad guest address {url}: {e}"))
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(url.clone())
            .map_err(bad)?
            .connect_timeout(Duration::from_secs(1))
            .tcp_nodelay(true);
        if let Some(tls) = tls {
            endpoint = endpoint.tls_config(tls.client_config()).map_err(bad)?;
        }
        let token = TokenInterceptor::new(token)
            .ok_or_else(|| StartError::Instantiate("bad token".into()))?;
        let timeout = Duration::from_secs(self.settings.ready_timeout_sec);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(channel) = endpoint.connect().await {
                return Ok(FunctionGuestClient::with_interceptor(channel, token)
                    .max_decoding_message_size(edgeless_dataplane::MAX_PAYLOAD + 4096));
            }
            if self.engine.status(name).await != docker::ContainerStatus::Running {
                return Err(StartError::Instantiate(self.engine.ended_early(name).await));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StartError::Instantiate(format!(
                    "the container did not serve the function interface on port {GUEST_PORT} within {timeout:?} (is it built with edgeless_container_function?)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[cfg(test)]
mod tests;
