//! The edgeless node: runs function instances, carries their events, and
//! registers with the domain's orchestrator.
//!
//! [`run`] composes the parts: the [`agent::Agent`] (which owns the running
//! instances), the WASM runtime, the dataplane server, the agent's gRPC
//! service and the registration loop. Read `agent.rs` first.

pub mod agent;
mod capabilities;
pub mod config;
pub mod logs;
pub mod metrics;
mod registration;
pub mod resources;
pub mod runtime;
mod service;
mod start_function;
mod telemetry;

pub use config::Config;

use anyhow::Context;
use edgeless_api::server::{self, Listening, ListeningReport};
use edgeless_dataplane::{Dataplane, InvocationService};
use tokio_util::sync::CancellationToken;

/// The WASM runtime with its module cache. A folder set in the
/// configuration must be usable; when the default one (in the user's cache
/// folder) is not, compiled modules are kept in memory only.
fn wasm_runtime(settings: &config::WasmRuntime) -> anyhow::Result<runtime::WasmRuntime> {
    let cache = settings.module_cache_path();
    match runtime::WasmRuntime::new(cache.as_deref()) {
        Err(error) if cache.is_some() && settings.module_cache_dir.is_empty() => {
            tracing::warn!(%error, "compiled WASM modules are kept in memory only (set [wasm_runtime] module_cache_dir)");
            runtime::WasmRuntime::new(None)
        }
        result => result.map_err(|e| e.context("[wasm_runtime] module_cache_dir")),
    }
}

/// Runs a node until `shutdown` is cancelled.
pub async fn run(
    mut config: Config,
    shutdown: CancellationToken,
    report: ListeningReport,
) -> anyhow::Result<()> {
    for note in config.without_effect() {
        tracing::warn!("{note}");
    }
    let echo = config
        .telemetry
        .log_level
        .as_deref()
        .map(logs::level_number)
        .transpose()
        .map_err(|e| anyhow::anyhow!(e))?;
    let general = &config.general;
    edgeless_api::tls::set_up(
        &config.tls,
        &[
            ("agent_url", &general.agent_url),
            ("agent_url_announced", &general.agent_url_announced),
            ("invocation_url", &general.invocation_url),
            (
                "invocation_url_announced",
                &general.invocation_url_announced,
            ),
            ("node_register_url", &general.node_register_url),
        ],
    )?;
    edgeless_api::auth::install(&config.auth)?;
    let (agent_listener, bound) = server::bind_url("agent_url", &config.general.agent_url).await?;
    config.general.agent_url = bound;
    let (invocation_listener, bound) =
        server::bind_url("invocation_url", &config.general.invocation_url).await?;
    config.general.invocation_url = bound;
    let mut listening = Listening::default()
        .with("agent_url", &config.general.agent_url)
        .with("invocation_url", &config.general.invocation_url);
    let dataplane = Dataplane::new(config.general.node_id);
    let runtime = if config.wasm_runtime.enabled {
        Some(wasm_runtime(&config.wasm_runtime)?)
    } else {
        None
    };
    let ingress = if config.resources.http_ingress_provider.is_empty() {
        None
    } else if config.resources.http_ingress_url.is_empty() {
        anyhow::bail!("[resources] http_ingress_provider is set but http_ingress_url is empty");
    } else {
        // A public HTTP endpoint by design: no exposure check.
        let listener = server::bind(&config.resources.http_ingress_url).await?;
        config.resources.http_ingress_url =
            server::bound_url(&config.resources.http_ingress_url, &listener);
        listening = listening.with("http_ingress_url", &config.resources.http_ingress_url);
        let server = resources::IngressServer::new(config.resources.http_ingress_any_host);
        Some((server, listener))
    };
    let general = &config.general;
    let resources_config = &config.resources;
    let (containers, container_host) = if config.container_runtime.enabled {
        let (runtime, serve) = runtime::ContainerRuntime::connect(
            &config.container_runtime,
            general.node_id,
            shutdown.clone(),
        )
        .await
        .context("the container runtime is enabled but cannot start (set [container_runtime] enabled = false to run without it)")?;
        (Some(runtime), Some(serve))
    } else {
        (None, None)
    };
    let container_host = async {
        match container_host {
            Some(serve) => serve.await,
            None => {
                shutdown.cancelled().await;
                Ok(())
            }
        }
    };
    let own_ports = [
        &config.general.agent_url,
        &config.general.invocation_url,
        &config.resources.http_ingress_url,
    ]
    .into_iter()
    .filter_map(|url| edgeless_api::client::bind_address(url).ok())
    .map(|address| address.port())
    .collect();
    let providers = resources::Providers::from_config(
        resources_config,
        ingress.as_ref().map(|(s, _)| s),
        own_ports,
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let metrics = edgeless_api::telemetry::registry();
    let node_metrics = metrics::NodeMetrics::register(&metrics);
    metrics
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .register_collector(Box::new(metrics::PeerTraffic(dataplane.clone())));
    let readiness = edgeless_api::telemetry::Readiness::waiting(
        "the node is not registered with its orchestrator yet",
    );
    let telemetry = edgeless_api::telemetry::start(
        &config.telemetry,
        metrics,
        readiness.clone(),
        shutdown.clone(),
    )
    .await?;
    let listening = telemetry.listed(listening);
    let agent = agent::Agent::new(
        dataplane.clone(),
        (runtime, config.wasm_runtime.clone()),
        containers,
        providers,
        node_metrics.clone(),
    );
    if let Some(level) = echo {
        agent.logs().set_echo(level);
    }
    let http_ingress = async {
        match ingress {
            Some((server, listener)) => server
                .serve(listener, shutdown.clone())
                .await
                .context("HTTP ingress failed"),
            None => {
                shutdown.cancelled().await;
                Ok(())
            }
        }
    };
    tracing::info!(node_id = %general.node_id, agent = %general.agent_url, invocation = %general.invocation_url, "node started");
    report.send(&listening);

    // The orchestrator calls the agent with the credential this process
    // hands it in its registration; no other orchestrator identity may.
    let orchestrator_link = std::sync::Arc::new(edgeless_api::auth::LinkGrant::new(
        edgeless_api::auth::Role::Orchestrator,
    ));
    // Peers of the domain stream with credentials the orchestrator made
    // from that credential; they name the sending node.
    let invocation = edgeless_api::server::bound_builder(
        edgeless_api::auth::policy::DATAPLANE,
        Some(edgeless_api::auth::Binding::Dataplane(
            orchestrator_link.clone(),
        )),
    )?
    .add_service(InvocationService::new(dataplane).into_server())
    .serve_with_incoming_shutdown(
        server::incoming(invocation_listener),
        shutdown.clone().cancelled_owned(),
    );
    let agent_server = edgeless_api::server::bound_builder(
        edgeless_api::auth::policy::NODE_AGENT,
        Some(edgeless_api::auth::Binding::Link(orchestrator_link.clone())),
    )?
    .add_service(service::function_instance_server(agent.clone()))
    .add_service(service::resource_configuration_server(agent.clone()))
    .add_service(service::node_management_server(agent.clone()))
    .add_service(service::function_logs_server(agent.clone()))
    .serve_with_incoming_shutdown(
        server::incoming(agent_listener),
        shutdown.clone().cancelled_owned(),
    );
    let registration = registration::run(
        &config,
        agent.clone(),
        (readiness, node_metrics),
        orchestrator_link.token(),
        shutdown.clone(),
    );

    let result = tokio::select! {
        r = http_ingress => r,
        r = invocation => r.context("dataplane server failed"),
        r = agent_server => r.context("agent server failed"),
        r = registration => r,
        r = container_host => r,
        r = telemetry.serve => r,
    };
    agent.reset().await;
    result
}
