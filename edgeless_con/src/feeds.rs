//! The sources the controller merges for `Logs` and `Events`: the
//! orchestrators of the registered domains (and, for events, its own
//! journal).

use edgeless_api::fanout::{Sources, remote};
use edgeless_api::feed::{Part, Source};
use edgeless_api::proto::{self, domain_inspection_client::DomainInspectionClient};
use futures::StreamExt;
use tonic::Status;

use crate::controller::Controller;

/// The key of the controller's own journal among the event sources.
const CONTROLLER: &str = "controller";

/// A client of a domain's orchestrator for a long-lived stream.
fn inspection(
    controller: &Controller,
    domain: &str,
) -> Result<DomainInspectionClient<edgeless_api::client::Channel>, Status> {
    let (url, link) = controller
        .orchestrator_link(domain)
        .ok_or_else(|| Status::unavailable(format!("domain {domain} is gone")))?;
    let channel = edgeless_api::client::linked_stream_channel(&url, &link)
        .map_err(|e| Status::unavailable(e.to_string()))?;
    Ok(DomainInspectionClient::new(channel))
}

fn domain_ids(controller: &Controller) -> Vec<String> {
    controller
        .orchestrator_urls()
        .into_iter()
        .map(|(id, _)| id)
        .collect()
}

/// The log lines of one workflow, from every domain.
pub struct DomainLogs {
    pub controller: Controller,
    pub request: proto::LogsRequest,
}

impl Sources<proto::LogLines> for DomainLogs {
    async fn keys(&mut self) -> Vec<String> {
        domain_ids(&self.controller)
    }

    fn open(&mut self, key: &str, since: u64, follow: bool) -> Source<proto::LogLines> {
        let request = edgeless_api::fanout::logs_from(&self.request, since, follow);
        let client = inspection(&self.controller, key);
        remote(async move { client?.logs(request).await })
    }
}

/// What the controller and every domain recorded.
pub struct ClusterEvents {
    pub controller: Controller,
    pub request: proto::EventsRequest,
}

impl Sources<proto::ClusterEvents> for ClusterEvents {
    async fn keys(&mut self) -> Vec<String> {
        let mut keys = domain_ids(&self.controller);
        keys.push(CONTROLLER.to_string());
        keys
    }

    fn open(&mut self, key: &str, since: u64, follow: bool) -> Source<proto::ClusterEvents> {
        let request = proto::EventsRequest {
            follow,
            ..self.request.clone()
        };
        let source = if key == CONTROLLER {
            self.controller.events().events(&request)
        } else {
            let client = inspection(&self.controller, key);
            remote(async move { client?.events(request).await })
        };
        // Events have no `since` on the wire: older ones are dropped here.
        Box::pin(source.map(move |part| {
            part.map(|part| {
                let (mut events, caught_up) = part.into_parts();
                events.retain(|e| e.unix_ms >= since);
                proto::ClusterEvents::from_parts(events, caught_up)
            })
        }))
    }
}
