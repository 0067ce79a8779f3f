//! Bounds on the connections a public listener (an HTTP ingress, an ε-BAL's
//! HTTP front) serves: in all, and per client address, so that one client
//! holding idle sockets cannot take every slot from the others.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The connection slots of one listener.
#[derive(Clone)]
pub struct ConnectionSlots {
    total: Arc<tokio::sync::Semaphore>,
    per_client: usize,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Why a connection was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Every slot is taken.
    #[error("all connection slots are taken")]
    Full,
    /// This client holds its share of the slots.
    #[error("this client holds its share of the connection slots")]
    ClientFull,
}

/// A taken slot, given back when dropped.
pub struct ConnectionSlot {
    _permit: tokio::sync::OwnedSemaphorePermit,
    client: IpAddr,
    clients: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = clients.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

impl ConnectionSlots {
    /// At most `total` connections, at most `per_client` from one address.
    pub fn new(total: usize, per_client: usize) -> Self {
        Self {
            total: Arc::new(tokio::sync::Semaphore::new(total)),
            per_client: per_client.max(1),
            clients: Arc::default(),
        }
    }

    /// A slot for a connection from `client`, if one is free for it.
    pub fn try_take(&self, client: IpAddr) -> Result<ConnectionSlot, Refused> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let held = clients.get(&client).copied().unwrap_or(0);
        if held >= self.per_client {
            return Err(Refused::ClientFull);
        }
        let permit = self
            .total
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::Full)?;
        clients.insert(client, held + 1);
        Ok(ConnectionSlot {
            _permit: permit,
            client,
            clients: self.clients.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_takes_its_share_and_the_others_still_get_in() {
        let slots = ConnectionSlots::new(4, 2);
        let (a, b, c) = (
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            "10.0.0.3".parse().unwrap(),
        );
        let a1 = slots.try_take(a).unwrap();
        let _a2 = slots.try_take(a).unwrap();
        assert_eq!(slots.try_take(a).err(), Some(Refused::ClientFull));
        let _b1 = slots.try_take(b).unwrap();
        let _b2 = slots.try_take(b).unwrap();
        assert_eq!(slots.try_take(c).err(), Some(Refused::Full));
        drop(a1);
        assert!(slots.try_take(a).is_ok(), "a freed slot is taken again");
    }
}
