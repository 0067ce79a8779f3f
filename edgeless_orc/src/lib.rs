//! The edgeless orchestrator (ε-ORC): manages one domain. Nodes register
//! here; the controller asks for logical components, which the orchestrator
//! places on nodes as physical instances and keeps running.
//!
//! Read `orchestrator.rs` (the logic) and `placement.rs` (the policies) first.

pub mod config;
mod domain_registration;
mod metrics;
mod node_codes;
pub mod orchestrator;
pub mod placement;
pub mod proxy;
mod registry;
mod service;

pub use config::Config;

use anyhow::Context;
use edgeless_api::auth::policy;
use edgeless_api::server::{self, Listening, ListeningReport};
use tokio_util::sync::CancellationToken;

/// Runs an orchestrator until `shutdown` is cancelled.
pub async fn run(
    mut config: Config,
    shutdown: CancellationToken,
    report: ListeningReport,
) -> anyhow::Result<()> {
    for note in config.without_effect() {
        tracing::warn!("{note}");
    }
    let general = &config.general;
    edgeless_api::tls::set_up(
        &config.tls,
        &[
            ("domain_register_url", &general.domain_register_url),
            ("orchestrator_url", &general.orchestrator_url),
            (
                "orchestrator_url_announced",
                &general.orchestrator_url_announced,
            ),
            ("node_register_url", &general.node_register_url),
        ],
    )?;
    edgeless_api::auth::install(&config.auth)?;
    let general = &mut config.general;
    let (api_listener, bound) =
        server::bind_url("orchestrator_url", &general.orchestrator_url).await?;
    general.orchestrator_url = bound;
    let (register_listener, bound) =
        server::bind_url("node_register_url", &general.node_register_url).await?;
    general.node_register_url = bound;
    let metrics = edgeless_api::telemetry::registry();
    let (handle, _task) = orchestrator::spawn(
        config.clone(),
        metrics::OrchestratorMetrics::register(&metrics),
    )?;
    let readiness = edgeless_api::telemetry::Readiness::waiting(
        "the domain is not registered with the controller yet",
    );
    let telemetry = edgeless_api::telemetry::start(
        &config.telemetry,
        metrics,
        readiness.clone(),
        shutdown.clone(),
    )
    .await?;
    tracing::info!(
        domain = %config.general.domain_id,
        api = %config.general.orchestrator_url,
        node_register = %config.general.node_register_url,
        "orchestrator started"
    );
    report.send(
        &telemetry.listed(
            Listening::default()
                .with("orchestrator_url", &config.general.orchestrator_url)
                .with("node_register_url", &config.general.node_register_url),
        ),
    );
    // The controller calls this API back with the credential this process
    // hands it in its domain registration (and with nothing else).
    let controller_link = std::sync::Arc::new(edgeless_api::auth::LinkGrant::new(
        edgeless_api::auth::Role::Controller,
    ));
    let api = edgeless_api::server::bound_builder(
        policy::ORCHESTRATOR_API,
        Some(edgeless_api::auth::Binding::Link(controller_link.clone())),
    )?
    .add_service(service::function_instance_server(handle.clone()))
    .add_service(service::resource_configuration_server(handle.clone()))
    .add_service(service::domain_inspection_server(handle.clone()))
    .add_service(service::workflow_wiring_server(handle.clone()))
    .serve_with_incoming_shutdown(
        server::incoming(api_listener),
        shutdown.clone().cancelled_owned(),
    );
    let registration = edgeless_api::server::builder(policy::ORCHESTRATOR_NODES)?
        .add_service(service::node_registration_server(handle.clone()))
        .serve_with_incoming_shutdown(
            server::incoming(register_listener),
            shutdown.clone().cancelled_owned(),
        );
    let proxy = async {
        match config.proxy.proxy_type {
            config::ProxyType::Redis => {
                proxy::run(&config.proxy.redis_url, handle.clone(), shutdown.clone()).await
            }
            config::ProxyType::None => {
                shutdown.cancelled().await;
                Ok(())
            }
        }
    };
    let domain = domain_registration::run(
        &config,
        handle.clone(),
        (readiness, controller_link.token()),
        shutdown.clone(),
    );
    tokio::select! {
        r = api => r.context("orchestrator API server failed"),
        r = registration => r.context("node registration server failed"),
        r = domain => r,
        r = proxy => r,
        r = telemetry.serve => r,
    }
}
