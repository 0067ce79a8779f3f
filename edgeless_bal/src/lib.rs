//! The edgeless balancer (ε-BAL): the door of an orchestration domain for
//! events from and to other domains.
//!
//! When a domain's nodes cannot reach other domains' nodes (or should not),
//! its orchestrator has a balancer (`[balancer]` in its configuration): it
//! tells the balancer where its own nodes are and where the nodes of other
//! domains that its workflows talk to are (their own balancer, or the node
//! itself), and points its nodes' links to those remote nodes at the
//! balancer. The balancer relays every event by its target node over the
//! same bounded, batched peer links nodes use between themselves; what it
//! cannot deliver goes back to the sender as an error (a call) or is logged
//! (a cast). The orchestrator sets its peers through `NodeManagement` on
//! `agent_url`, exactly as it sets a node's.
//!
//! With `http_url` set, it also balances HTTP ingress traffic (see
//! [`http`]): requests for a workflow's host go to the ingress of one of
//! the nodes, in any domain, that serve it.

mod http;

use std::sync::Arc;

use edgeless_api::proto;
use edgeless_api::server::{Listening, ListeningReport};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The commented template written by `-t`.
pub const TEMPLATE: &str = include_str!("default.toml");

/// A balancer's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The balancer's id in the dataplane.
    pub balancer_id: Uuid,
    /// Where its dataplane endpoint listens.
    pub invocation_url: String,
    /// Where its orchestrator sets its peers.
    pub agent_url: String,
    /// The identity of its domain's orchestrator (a token's name or a
    /// certificate's common name): only it may set peers and routes. Empty:
    /// the first orchestrator identity that calls.
    pub orchestrator: String,
    /// Where it takes HTTP requests to balance across the domains' ingress
    /// (empty: it does not).
    pub http_url: String,
    /// How it chooses among the backends of a host.
    pub http_policy: http::Policy,
    /// Where metrics and health are served.
    pub telemetry: edgeless_api::telemetry::TelemetryConfig,
    /// TLS for its dataplane, its agent API and its links (empty: plain
    /// TCP).
    pub tls: edgeless_api::tls::TlsFiles,
    /// Who may call it, and the token it presents.
    pub auth: edgeless_api::auth::AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            balancer_id: Uuid::from_u128(0x2bb0867f_e9ee_4a3a_8872_dbaa5228ee23),
            invocation_url: "http://127.0.0.1:7000".into(),
            agent_url: "http://127.0.0.1:7020".into(),
            orchestrator: String::new(),
            http_url: String::new(),
            http_policy: http::Policy::RoundRobin,
            telemetry: Default::default(),
            tls: Default::default(),
            auth: Default::default(),
        }
    }
}

/// Runs the balancer until `shutdown` is cancelled.
pub async fn run(
    mut config: Config,
    shutdown: CancellationToken,
    report: ListeningReport,
) -> anyhow::Result<()> {
    for note in config.telemetry.node_only_keys() {
        tracing::warn!("{note}");
    }
    edgeless_api::tls::set_up(
        &config.tls,
        &[
            ("invocation_url", &config.invocation_url),
            ("agent_url", &config.agent_url),
        ],
    )?;
    edgeless_api::auth::install(&config.auth)?;
    let (listener, bound) =
        edgeless_api::server::bind_url("invocation_url", &config.invocation_url).await?;
    config.invocation_url = bound;
    let (agent_listener, bound) =
        edgeless_api::server::bind_url("agent_url", &config.agent_url).await?;
    config.agent_url = bound;
    // A public HTTP endpoint by design, like a node's ingress.
    let http_listener = if config.http_url.is_empty() {
        None
    } else {
        let listener = edgeless_api::server::bind(&config.http_url).await?;
        config.http_url = edgeless_api::server::bound_url(&config.http_url, &listener);
        Some(listener)
    };
    let telemetry = edgeless_api::telemetry::start(
        &config.telemetry,
        edgeless_api::telemetry::registry(),
        edgeless_api::telemetry::Readiness::ready(),
        shutdown.clone(),
    )
    .await?;
    report.send(
        &telemetry.listed(
            Listening::default()
                .with("invocation_url", &config.invocation_url)
                .with("agent_url", &config.agent_url)
                .with("http_url", &config.http_url),
        ),
    );
    let dataplane = edgeless_dataplane::Dataplane::new(config.balancer_id);
    let peers = Arc::new(edgeless_dataplane::PeerDirectory::new(dataplane.clone()));
    tracing::info!(id = %config.balancer_id, invocation = %config.invocation_url, agent = %config.agent_url, "balancer started");
    let relay = edgeless_api::server::builder(edgeless_api::auth::policy::DATAPLANE)?
        .add_service(edgeless_dataplane::InvocationService::relay(dataplane).into_server())
        .serve_with_incoming_shutdown(
            edgeless_api::server::incoming(listener),
            shutdown.clone().cancelled_owned(),
        );
    let routes = http::Routes::default();
    let agent = edgeless_api::server::bound_builder(
        edgeless_api::auth::policy::BALANCER_AGENT,
        Some(edgeless_api::auth::Binding::identity(
            edgeless_api::auth::Role::Orchestrator,
            &config.orchestrator,
        )),
    )?
    .add_service(proto::node_management_server::NodeManagementServer::new(
        PeerService(peers),
    ))
    .add_service(proto::balancer_routes_server::BalancerRoutesServer::new(
        RouteService(routes.clone()),
    ))
    .serve_with_incoming_shutdown(
        edgeless_api::server::incoming(agent_listener),
        shutdown.clone().cancelled_owned(),
    );
    let front = async {
        match http_listener {
            Some(listener) => http::serve(listener, routes, config.http_policy, shutdown).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = relay => Ok(r?),
        r = agent => Ok(r?),
        r = front => r,
        r = telemetry.serve => r,
    }
}

/// The balancer's `BalancerRoutes`: its orchestrator hands it the HTTP
/// routes.
struct RouteService(http::Routes);

#[tonic::async_trait]
impl proto::balancer_routes_server::BalancerRoutes for RouteService {
    async fn set_http_routes(
        &self,
        request: tonic::Request<proto::HttpRoutes>,
    ) -> Result<tonic::Response<proto::Empty>, tonic::Status> {
        self.0.set(request.into_inner().routes);
        Ok(tonic::Response::new(proto::Empty {}))
    }
}

/// The balancer's `NodeManagement`: its orchestrator sets its peers.
struct PeerService(Arc<edgeless_dataplane::PeerDirectory>);

#[tonic::async_trait]
impl proto::node_management_server::NodeManagement for PeerService {
    async fn update_peers(
        &self,
        request: tonic::Request<proto::UpdatePeersRequest>,
    ) -> Result<tonic::Response<proto::Empty>, tonic::Status> {
        self.0
            .apply(&request.into_inner())
            .map_err(tonic::Status::invalid_argument)?;
        Ok(tonic::Response::new(proto::Empty {}))
    }

    async fn reset(
        &self,
        _request: tonic::Request<proto::Empty>,
    ) -> Result<tonic::Response<proto::Empty>, tonic::Status> {
        self.0.clear();
        Ok(tonic::Response::new(proto::Empty {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses_to_the_defaults() {
        let parsed: Config = toml::from_str(TEMPLATE).unwrap();
        assert_eq!(parsed, Config::default());
    }
}
