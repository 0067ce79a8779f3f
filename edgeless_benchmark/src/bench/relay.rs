//! An ε-BAL in this process: a dataplane of its own that relays events by
//! their target node over the same peer links as `edgeless_bal_d`, so an
//! event from a node of one domain to a node of another crosses two of
//! them, as between domains whose nodes cannot reach each other.

use edgeless_dataplane::{Dataplane, PeerDirectory};
use uuid::Uuid;

use super::node::serve_dataplane;

/// One in-process balancer.
pub struct BenchBalancer {
    /// Where its dataplane listens.
    pub invocation_url: String,
    peers: PeerDirectory,
    server: tokio::task::JoinHandle<()>,
}

impl BenchBalancer {
    /// Starts a balancer on a free loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let dataplane = Dataplane::new(Uuid::new_v4());
        let service = edgeless_dataplane::InvocationService::relay(dataplane.clone());
        let (invocation_url, server) = serve_dataplane(service).await?;
        Ok(Self {
            invocation_url,
            peers: PeerDirectory::new(dataplane),
            server,
        })
    }

    /// Relays events for `node` to `url` (the node, or another balancer).
    pub fn route(&self, node: Uuid, url: &str) -> anyhow::Result<()> {
        Ok(self.peers.add(node, url)?)
    }
}

impl Drop for BenchBalancer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Hops from the driver on `a` to a `bounce` instance on a node of another
/// domain: first with the nodes linked directly (what domains without
/// balancers do), then through each domain's balancer (`a` → its balancer
/// → the other domain's balancer → the node, and back the same way).
pub async fn inter_domain_hops(
    a: &super::node::BenchNode,
    driver: &mut edgeless_dataplane::DataplaneHandle,
    bounce: &[u8],
    payload: &bytes::Bytes,
    samples: usize,
) -> anyhow::Result<(super::stats::Latencies, super::stats::Latencies)> {
    let c = super::node::BenchNode::start(None).await?;
    a.link_to(&c)?;
    c.link_to(a)?;
    let remote = c.start_wasm("bounce", bounce, a, driver).await?;
    let direct = super::exchange::cast_hops(driver, remote, payload, samples).await?;
    let (near, far) = (BenchBalancer::start().await?, BenchBalancer::start().await?);
    near.route(c.id, &far.invocation_url)?;
    far.route(c.id, &c.invocation_url)?;
    far.route(a.id, &near.invocation_url)?;
    near.route(a.id, &a.invocation_url)?;
    a.link_at(c.id, &near.invocation_url)?;
    c.link_at(a.id, &far.invocation_url)?;
    let relayed = super::exchange::cast_hops(driver, remote, payload, samples).await?;
    c.agent.stop(remote.function_id).await?;
    Ok((direct, relayed))
}
