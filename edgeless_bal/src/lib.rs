//! The edgeless balancer (ε-BAL). It has an identity and a dataplane
//! endpoint of its own, so it can take part in the mesh; it does not yet make
//! any balancing decisions. Events sent to it are reported as undeliverable.

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
    /// Where metrics and health are served.
    pub telemetry: edgeless_api::telemetry::TelemetryConfig,
    /// Who may call it, and the token it presents.
    pub auth: edgeless_api::auth::AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            balancer_id: Uuid::from_u128(0x2bb0867f_e9ee_4a3a_8872_dbaa5228ee23),
            invocation_url: "http://127.0.0.1:7000".into(),
            telemetry: Default::default(),
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
    edgeless_api::auth::install(&config.auth)?;
    let (listener, bound) =
        edgeless_api::server::bind_url("invocation_url", &config.invocation_url).await?;
    config.invocation_url = bound;
    let telemetry = edgeless_api::telemetry::start(
        &config.telemetry,
        edgeless_api::telemetry::registry(),
        edgeless_api::telemetry::Readiness::ready(),
        shutdown.clone(),
    )
    .await?;
    report.send(
        &telemetry.listed(Listening::default().with("invocation_url", &config.invocation_url)),
    );
    let dataplane = edgeless_dataplane::Dataplane::new(config.balancer_id);
    tracing::info!(id = %config.balancer_id, invocation = %config.invocation_url, "balancer started");
    let server = edgeless_api::server::builder(edgeless_api::auth::policy::DATAPLANE)?
        .add_service(edgeless_dataplane::InvocationService::new(dataplane).into_server())
        .serve_with_incoming_shutdown(
            edgeless_api::server::incoming(listener),
            shutdown.cancelled_owned(),
        );
    tokio::select! {
        r = server => Ok(r?),
        r = telemetry.serve => r,
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
