//! The peer links of one dataplane by the URL each was opened with, as an
//! orchestrator sets them (`NodeManagement.UpdatePeers`), for nodes and
//! balancers alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use edgeless_api::proto;
use uuid::Uuid;

use crate::router::lock;
use crate::{Dataplane, GrpcPeerLink};

/// The peers of a [`Dataplane`]. Adding a peer at the URL it has already
/// keeps its open link (and the events queued on it).
pub struct PeerDirectory {
    dataplane: Dataplane,
    /// Each peer's URL and the credential presented there.
    urls: Mutex<HashMap<Uuid, (String, String)>>,
}

impl PeerDirectory {
    /// The (empty) directory of `dataplane`.
    pub fn new(dataplane: Dataplane) -> Self {
        Self {
            dataplane,
            urls: Mutex::default(),
        }
    }

    /// Links `node_id` at `url` (replacing a link at another URL),
    /// presenting this process's own token there.
    pub fn add(&self, node_id: Uuid, url: &str) -> Result<(), edgeless_api::client::InvalidUrl> {
        self.add_with(node_id, url, "")
    }

    /// Links `node_id` at `url` presenting `credential` (empty: this
    /// process's own token). A peer credential (`peer:...`) also marks
    /// `node_id` as a node of this domain, whose events come only over its
    /// own stream. A link to the dataplane itself is never made.
    pub fn add_with(
        &self,
        node_id: Uuid,
        url: &str,
        credential: &str,
    ) -> Result<(), edgeless_api::client::InvalidUrl> {
        if node_id == self.dataplane.node_id() {
            return Ok(());
        }
        let mut urls = lock(&self.urls);
        if urls
            .get(&node_id)
            .is_some_and(|(u, c)| u == url && c == credential)
        {
            return Ok(());
        }
        let link = GrpcPeerLink::connect_with(node_id, url, credential)?;
        self.dataplane.add_peer(node_id, Arc::new(link));
        self.dataplane
            .set_domain_peer(node_id, credential.starts_with("peer:"));
        urls.insert(node_id, (url.to_string(), credential.to_string()));
        tracing::info!(peer = %node_id, url, "peer added");
        Ok(())
    }

    /// Drops the link to `node_id`.
    pub fn remove(&self, node_id: Uuid) {
        lock(&self.urls).remove(&node_id);
        self.dataplane.remove_peer(node_id);
        self.dataplane.set_domain_peer(node_id, false);
        tracing::info!(peer = %node_id, "peer removed");
    }

    /// Drops every link.
    pub fn clear(&self) {
        for node_id in lock(&self.urls).drain().map(|(id, _)| id) {
            self.dataplane.set_domain_peer(node_id, false);
        }
        self.dataplane.clear_peers();
    }

    /// Where each peer is reached.
    pub fn urls(&self) -> HashMap<Uuid, String> {
        lock(&self.urls)
            .iter()
            .map(|(id, (url, _))| (*id, url.clone()))
            .collect()
    }

    /// Applies an orchestrator's `UpdatePeers` request; the error says what
    /// is wrong with it.
    pub fn apply(&self, request: &proto::UpdatePeersRequest) -> Result<(), String> {
        let node_id = || edgeless_api::parse_uuid("node_id", &request.node_id);
        match proto::UpdatePeersRequestType::try_from(request.request_type) {
            Ok(proto::UpdatePeersRequestType::Add) => self
                .add_with(
                    node_id().map_err(|e| e.to_string())?,
                    &request.invocation_url,
                    &request.link_token,
                )
                .map_err(|e| e.to_string()),
            Ok(proto::UpdatePeersRequestType::Del) => {
                self.remove(node_id().map_err(|e| e.to_string())?);
                Ok(())
            }
            Ok(proto::UpdatePeersRequestType::Clear) => {
                self.clear();
                Ok(())
            }
            Err(_) => Err(format!("unknown request type {}", request.request_type)),
        }
    }
}
