//! The edgeless orchestrator (ε-ORC): manages one domain. Nodes register
//! here; the controller asks for logical components, which the orchestrator
//! places on nodes as physical instances and keeps running.
//!
//! Read `orchestrator.rs` (the logic) and `placement.rs` (the policies) first.

pub mod config;
mod domain_registration;
pub mod orchestrator;
pub mod placement;
pub mod proxy;
mod registry;
mod service;

pub use config::Config;

use anyhow::Context;
use edgeless_api::server;
use tokio_util::sync::CancellationToken;

/// Runs an orchestrator until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    edgeless_api::tls::install(&config.tls)?;
    let api_listener = server::bind(&config.general.orchestrator_url).await?;
    let register_listener = server::bind(&config.general.node_register_url).await?;
    let (handle, _task) = orchestrator::spawn(config.clone())?;
    tracing::info!(
        domain = %config.general.domain_id,
        api = %config.general.orchestrator_url,
        node_register = %config.general.node_register_url,
        "orchestrator started"
    );
    let api = edgeless_api::server::builder()?
        .add_service(service::function_instance_server(handle.clone()))
        .add_service(service::resource_configuration_server(handle.clone()))
        .add_service(service::domain_inspection_server(handle.clone()))
        .serve_with_incoming_shutdown(
            server::incoming(api_listener),
            shutdown.clone().cancelled_owned(),
        );
    let registration = edgeless_api::server::builder()?
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
    let domain = domain_registration::run(&config, handle.clone(), shutdown.clone());
    tokio::select! {
        r = api => r.context("orchestrator API server failed"),
        r = registration => r.context("node registration server failed"),
        r = domain => r,
        r = proxy => r,
    }
}
