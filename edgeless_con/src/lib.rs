//! The edgeless controller (ε-CON): the cluster's entry point. Clients start
//! and stop workflows here; orchestrators register their domains here; the
//! controller gives each workflow to a domain that can host it.
//!
//! Read `controller.rs` first, then `domains.rs`.

pub mod config;
mod controller;
mod dashboard;
mod domains;
mod feeds;
mod metrics;
mod persistence;
mod placement;
mod service;

pub use config::Config;
pub use controller::Controller;

use std::time::Duration;

use anyhow::Context;
use edgeless_api::auth::policy;
use edgeless_api::server::{self, Listening, ListeningReport};
use tokio_util::sync::CancellationToken;

/// Runs a controller until `shutdown` is cancelled.
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
            ("controller_url", &config.controller_url),
            ("domain_register_url", &config.domain_register_url),
        ],
    )?;
    edgeless_api::auth::install(&config.auth)?;
    let (workflow_listener, bound) =
        server::bind_url("controller_url", &config.controller_url).await?;
    config.controller_url = bound;
    let (domain_listener, bound) =
        server::bind_url("domain_register_url", &config.domain_register_url).await?;
    config.domain_register_url = bound;
    let controller = Controller::open(&config.data_dir)?;
    let metrics = edgeless_api::telemetry::registry();
    let gauges = metrics::ControllerMetrics::register(&metrics);
    let telemetry = edgeless_api::telemetry::start(
        &config.telemetry,
        metrics,
        edgeless_api::telemetry::Readiness::ready(),
        shutdown.clone(),
    )
    .await?;
    let dashboard =
        dashboard::start(&config.dashboard_url, controller.clone(), shutdown.clone()).await?;
    if let Some(url) = &dashboard.url {
        tracing::info!(%url, "dashboard served");
    }
    tracing::info!(workflows = %config.controller_url, domains = %config.domain_register_url, "controller started");
    report.send(
        &dashboard.listed(
            telemetry.listed(
                Listening::default()
                    .with("controller_url", &config.controller_url)
                    .with("domain_register_url", &config.domain_register_url),
            ),
        ),
    );
    let workflows = edgeless_api::server::builder(policy::CONTROLLER_WORKFLOWS)?
        .add_service(service::workflow_instance_server(controller.clone()))
        .serve_with_incoming_shutdown(
            server::incoming(workflow_listener),
            shutdown.clone().cancelled_owned(),
        );
    let domains = edgeless_api::server::builder(policy::CONTROLLER_DOMAINS)?
        .add_service(service::domain_registration_server(controller.clone()))
        .serve_with_incoming_shutdown(
            server::incoming(domain_listener),
            shutdown.clone().cancelled_owned(),
        );
    let leases = async {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = ticker.tick() => {
                    controller.check_domains().await;
                    gauges.update(&controller);
                }
            }
        }
    };
    tokio::select! {
        r = workflows => r.context("workflow API server failed"),
        r = domains => r.context("domain registration server failed"),
        r = leases => r,
        r = telemetry.serve => r,
        r = dashboard.serve => r,
    }
}
