//! Peer links on a need-to-know basis.
//!
//! A node learns where another node's dataplane listens only when one of its
//! instances exchanges events with an instance there: a patch that names an
//! instance on another node (as an output target or as an input, whose calls
//! are answered there) first makes sure the patched node has a link to that
//! node. A domain of N nodes thus costs peer updates in proportion to the
//! node pairs its workflows connect, not N² on every registration.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use futures::FutureExt;
use futures::future::Shared;
use uuid::Uuid;

use super::calls::{self, Call};
use crate::registry::{Node, Registry};

/// A peer update on its way, shared by every patch that waits for it; its
/// output says whether the node took it.
type Pending = Shared<Pin<Box<dyn Future<Output = bool> + Send>>>;

/// Which node has been told about which other node.
#[derive(Default)]
pub(super) struct Links {
    /// Node → the peers it was told about.
    known: HashMap<Uuid, HashMap<Uuid, Pending>>,
}

impl Links {
    /// Makes sure `node_id` knows every node of `peers` (in `nodes`):
    /// returns what to wait for before its patch is sent, or `None` when
    /// it knows them all already. A peer update that failed is sent again.
    pub(super) fn ensure(
        &mut self,
        nodes: &Registry,
        node_id: Uuid,
        peers: impl IntoIterator<Item = Uuid>,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let node = nodes.get(&node_id)?;
        let known = self.known.entry(node_id).or_default();
        let mut waits = Vec::new();
        for peer_id in peers {
            if peer_id == node_id {
                continue;
            }
            let Some(peer) = nodes.get(&peer_id) else {
                continue;
            };
            let failed = known
                .get(&peer_id)
                .is_some_and(|pending| pending.peek() == Some(&false));
            if failed {
                known.remove(&peer_id);
            }
            let pending = known
                .entry(peer_id)
                .or_insert_with(|| tell(node_id, node, peer_id, peer));
            if pending.peek().is_none() {
                waits.push(pending.clone());
            }
        }
        if waits.is_empty() {
            return None;
        }
        Some(Box::pin(async move {
            futures::future::join_all(waits).await;
        }))
    }

    /// Forgets a node that left or was reset: the nodes that knew it are
    /// told to drop their links (returned), and it knows nobody.
    pub(super) fn forget(&mut self, nodes: &Registry, lost: Uuid) -> Vec<Call<()>> {
        self.known.remove(&lost);
        let mut removals = Vec::new();
        for (node_id, known) in &mut self.known {
            if known.remove(&lost).is_none() {
                continue;
            }
            if let Some(node) = nodes.get(node_id) {
                removals.push(calls::peer(*node_id, node, lost, ""));
            }
        }
        removals
    }
}

/// Tells `node_id` where `peer_id`'s dataplane listens, with the peer
/// credential that names `node_id` to `peer_id` (made from the link
/// credential `peer_id` handed out; none for a node that handed out none).
fn tell(node_id: Uuid, node: &Node, peer_id: Uuid, peer: &Node) -> Pending {
    let credential = if peer.link_token.is_empty() {
        String::new()
    } else {
        edgeless_api::auth::peer_credential(&peer.link_token, node_id)
    };
    let sent = calls::link(node_id, node, (peer_id, &peer.invocation_url, &credential));
    let boxed: Pin<Box<dyn Future<Output = bool> + Send>> = Box::pin(sent);
    boxed.shared()
}

/// `call`, sent once `ready` (if any) has finished.
pub(super) fn after(
    ready: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    call: Call<()>,
) -> Call<()> {
    match ready {
        None => call,
        Some(ready) => Box::pin(async move {
            ready.await;
            call.await
        }),
    }
}
