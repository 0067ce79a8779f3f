//! A stand-in for the controller's domain registration, for scenarios that
//! ask an orchestrator directly as its controller would: it takes the
//! orchestrator's registrations and keeps the link credential the
//! orchestrator hands out with them (the orchestrator takes calls in the
//! controller's role only with that credential).

use std::sync::{Arc, Mutex};

use edgeless_api::proto::{
    self,
    domain_registration_server::{DomainRegistration, DomainRegistrationServer},
};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

/// A running stand-in; stops when dropped.
pub struct StandIn {
    /// Where orchestrators register.
    pub url: String,
    link: Arc<Mutex<String>>,
    stop: CancellationToken,
}

struct Registrations(Arc<Mutex<String>>);

#[tonic::async_trait]
impl DomainRegistration for Registrations {
    async fn update_domain(
        &self,
        request: Request<proto::UpdateDomainRequest>,
    ) -> Result<Response<proto::UpdateDomainResponse>, Status> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = request.into_inner().link_token;
        Ok(Response::new(proto::UpdateDomainResponse::default()))
    }
}

impl StandIn {
    /// Serves on a free loopback port, over TLS with this process's
    /// installed identity when `https`.
    pub async fn start(https: bool) -> anyhow::Result<Self> {
        let scheme = if https { "https" } else { "http" };
        let (listener, url) = edgeless_api::server::bind_url(
            "domain_register_url",
            &format!("{scheme}://127.0.0.1:0"),
        )
        .await?;
        let link = Arc::new(Mutex::new(String::new()));
        let stop = CancellationToken::new();
        let server = edgeless_api::server::builder(edgeless_api::auth::policy::CONTROLLER_DOMAINS)?
            .add_service(DomainRegistrationServer::new(Registrations(link.clone())))
            .serve_with_incoming_shutdown(
                edgeless_api::server::incoming(listener),
                stop.clone().cancelled_owned(),
            );
        tokio::spawn(server);
        Ok(Self { url, link, stop })
    }

    /// The link credential of the orchestrator that registered last, once
    /// one has (waits up to `timeout`).
    pub async fn link(&self, timeout: std::time::Duration) -> anyhow::Result<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let link = self.link.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if !link.is_empty() {
                return Ok(link);
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!("the orchestrator did not register within {timeout:?}");
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
