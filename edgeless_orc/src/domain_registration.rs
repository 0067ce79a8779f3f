//! Keeps the domain registered at the controller: an `UpdateDomain` every
//! refresh period with the domain's capabilities, a deadline two periods
//! ahead and a per-process nonce. Each period also checks node leases.

use std::time::Duration;

use edgeless_api::proto::{self, domain_registration_client::DomainRegistrationClient};
use tokio_util::sync::CancellationToken;

use edgeless_api::telemetry::Readiness;

use crate::config::Config;
use crate::orchestrator::OrchestratorHandle;

/// Registers until `shutdown`; failures are logged and retried. `readiness`
/// says whether the domain is registered; `link_token` is the credential
/// the controller presents when it calls this orchestrator's API.
pub async fn run(
    config: &Config,
    handle: OrchestratorHandle,
    (readiness, link_token): (Readiness, &str),
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let url = &config.general.domain_register_url;
    let mut client = DomainRegistrationClient::new(edgeless_api::client::channel(url)?);
    let period = Duration::from_secs(config.general.subscription_refresh_interval_sec.max(1));
    let nonce: u64 = rand::random();
    let mut counter = 0u64;
    let mut registered = false;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_update: Option<tokio::time::Instant> = None;
    let mut routes = HttpRoutesSender::new(&config.balancer)?;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        handle.tick().await;
        if last_update.is_some_and(|t| t.elapsed() < period) {
            continue;
        }
        last_update = Some(tokio::time::Instant::now());
        counter += 1;
        let request = proto::UpdateDomainRequest {
            domain_id: config.general.domain_id.clone(),
            orchestrator_url: config.announced_url().to_string(),
            capabilities: Some(handle.capabilities()),
            refresh_deadline: edgeless_api::now_secs() + 2 * period.as_secs(),
            counter,
            nonce,
            link_token: link_token.to_string(),
            balancer_url: config.balancer.announced_url().to_string(),
            balancer_healthy: handle.balancer_healthy(),
        };
        match client.update_domain(request).await {
            Ok(response) => {
                let response = response.into_inner();
                if !response.error.is_empty() {
                    tracing::error!(controller = %url, error = %response.error, "domain registration refused");
                    readiness.set(Err(format!(
                        "the controller refused the domain: {}",
                        response.error
                    )));
                    registered = false;
                    continue;
                }
                readiness.set(Ok(()));
                if !registered {
                    tracing::info!(controller = %url, domain = %config.general.domain_id, "domain registered");
                    registered = true;
                }
                routes.send(response.http_routes).await;
                if response.reset {
                    tracing::warn!("the controller asked for a reset; stopping every component");
                    handle.reset().await?;
                }
            }
            Err(status) => {
                if registered {
                    tracing::warn!(controller = %url, error = %status.message(), "controller unreachable; retrying");
                }
                readiness.set(Err(format!(
                    "the controller at {url} does not answer: {}",
                    status.message()
                )));
                registered = false;
            }
        }
    }
}

/// Hands the controller's HTTP routes to the domain's ε-BAL: when they
/// change, and again every few registrations (it may have restarted).
struct HttpRoutesSender {
    client:
        Option<proto::balancer_routes_client::BalancerRoutesClient<edgeless_api::client::Channel>>,
    last: Option<Vec<proto::HttpRoute>>,
    unchanged: u32,
}

/// After how many unchanged registrations the routes are sent again.
const RESEND_EVERY: u32 = 5;

impl HttpRoutesSender {
    fn new(balancer: &crate::config::Balancer) -> anyhow::Result<Self> {
        let client = if balancer.enabled() {
            let channel = edgeless_api::client::channel(&balancer.agent_url)?;
            Some(proto::balancer_routes_client::BalancerRoutesClient::new(
                channel,
            ))
        } else {
            None
        };
        Ok(Self {
            client,
            last: None,
            unchanged: 0,
        })
    }

    async fn send(&mut self, routes: Vec<proto::HttpRoute>) {
        let Some(client) = &mut self.client else {
            return;
        };
        self.unchanged += 1;
        if self.last.as_ref() == Some(&routes) && self.unchanged < RESEND_EVERY {
            return;
        }
        let request = proto::HttpRoutes {
            routes: routes.clone(),
        };
        match tokio::time::timeout(Duration::from_secs(5), client.set_http_routes(request)).await {
            Ok(Ok(_)) => {
                self.last = Some(routes);
                self.unchanged = 0;
            }
            Ok(Err(status)) => {
                tracing::warn!(error = %status.message(), "the balancer refused the HTTP routes");
            }
            Err(_) => tracing::warn!("the balancer did not take the HTTP routes in time"),
        }
    }
}
