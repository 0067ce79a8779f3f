//! Long-lived streams (`Logs` and `Events` that follow) are bounded per
//! identity and end when the token that opened them is revoked.
//!
//! A server keeps one [`StreamLimits`] and passes every following stream
//! through [`StreamLimits::guard`]: an identity of a user (client, admin)
//! holds at most [`MAX_STREAMS_PER_IDENTITY`] at once, and the server at
//! most [`MAX_STREAMS`] in all (the controller's streams to an orchestrator
//! carry every user's, so it counts only toward the total). A stream opened
//! with a bearer token is checked once a second and ends with
//! `UNAUTHENTICATED` once the token is revoked.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use tonic::Status;

use super::{Identity, Role};

/// The most following streams one user identity holds at once.
pub const MAX_STREAMS_PER_IDENTITY: usize = 16;
/// The most following streams one server holds at once.
pub const MAX_STREAMS: usize = 1024;
/// How often a stream's token is checked.
const RECHECK: Duration = Duration::from_secs(1);

/// The streams open now: in all, and by identity (`role:name`).
#[derive(Default)]
struct Open {
    total: usize,
    by_identity: HashMap<String, usize>,
}

/// The following streams of one server.
#[derive(Default)]
pub struct StreamLimits {
    open: Arc<Mutex<Open>>,
}

/// A held stream slot, given back when dropped.
struct Slot {
    key: String,
    open: Arc<Mutex<Open>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_identity.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.by_identity.remove(&self.key);
            }
        }
    }
}

impl StreamLimits {
    fn take(&self, identity: &Identity) -> Result<Slot, Status> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if open.total >= MAX_STREAMS {
            return Err(Status::resource_exhausted(format!(
                "this server has {MAX_STREAMS} log and event streams open, its most; try again later"
            )));
        }
        let user = matches!(identity.role, Role::Client | Role::Admin);
        let key = format!("{}:{}", identity.role, identity.name);
        let held = open.by_identity.get(&key).copied().unwrap_or(0);
        if user && held >= MAX_STREAMS_PER_IDENTITY {
            return Err(Status::resource_exhausted(format!(
                "{identity} has {MAX_STREAMS_PER_IDENTITY} log and event streams open, the most one identity may; close one"
            )));
        }
        open.total += 1;
        *open.by_identity.entry(key.clone()).or_default() += 1;
        Ok(Slot {
            key,
            open: self.open.clone(),
        })
    }

    /// How many streams are open in all.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).total
    }

    /// `stream`, opened by the caller of `request`, within the limits: a
    /// slot held while it lasts, and an end when its token is revoked.
    /// Streams that do not follow (they end by themselves) and callers of
    /// an open daemon are let through as they are.
    pub fn guard<T, P: Send + 'static>(
        &self,
        request: &tonic::Request<T>,
        follow: bool,
        stream: BoxStream<'static, Result<P, Status>>,
    ) -> Result<BoxStream<'static, Result<P, Status>>, Status> {
        let identity = super::caller(request);
        if !follow || identity.is_anonymous() {
            return Ok(stream);
        }
        let slot = self.take(&identity)?;
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_string());
        let revoked = Arc::new(AtomicBool::new(false));
        let watch = {
            let revoked = revoked.clone();
            async move {
                let Some(token) = token else {
                    // Certificates and link credentials are not revoked
                    // while a stream runs.
                    return std::future::pending::<()>().await;
                };
                loop {
                    tokio::time::sleep(RECHECK).await;
                    if !super::verifier().token_is_valid(&token) {
                        revoked.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        let end = futures::stream::once(async move {
            let _slot = slot;
            revoked.load(Ordering::Relaxed).then(|| {
                Err(Status::unauthenticated(
                    "the token of this stream was revoked",
                ))
            })
        })
        .filter_map(std::future::ready);
        Ok(stream.take_until(Box::pin(watch)).chain(end).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Identity {
        Identity {
            role: Role::Client,
            name: name.into(),
            tenant: "t".into(),
        }
    }

    #[test]
    fn a_user_holds_a_bounded_number_of_streams() {
        let limits = StreamLimits::default();
        let held: Vec<Slot> = (0..MAX_STREAMS_PER_IDENTITY)
            .map(|_| limits.take(&user("alice")).unwrap())
            .collect();
        let refused = limits.take(&user("alice")).err().unwrap();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(limits.take(&user("bob")).is_ok(), "others still get in");
        // The controller's link carries every user's streams.
        let link = Identity {
            role: Role::Controller,
            name: "controller (link)".into(),
            tenant: "default".into(),
        };
        let many: Vec<Slot> = (0..64).map(|_| limits.take(&link).unwrap()).collect();
        assert_eq!(limits.open(), MAX_STREAMS_PER_IDENTITY + 64);
        drop(held);
        drop(many);
        assert_eq!(limits.open(), 0);
        assert!(limits.take(&user("alice")).is_ok());
    }
}
