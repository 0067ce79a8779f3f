//! `redis`: sets a key on a Redis server to each event's payload. The
//! connection is made lazily and again after failures; while the server is
//! down events are logged as failed (and calls answered with an error).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeless_dataplane::CallOutcome;
use redis::aio::MultiplexedConnection;

use super::egress_policy::EgressPolicy;
use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "redis";

const TIMEOUT: Duration = Duration::from_secs(2);

/// The `redis` provider: connects where the node's egress policy allows.
pub struct RedisSetter {
    policy: Arc<EgressPolicy>,
}

impl RedisSetter {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }
}

/// A Redis connection made on first use and dropped after an error.
#[derive(Clone)]
pub struct LazyRedis {
    client: redis::Client,
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    /// For a workflow's URL: its host and port, and where it may lead
    /// (none for the node's own settings).
    guard: Option<(Arc<EgressPolicy>, String, u16)>,
}

impl LazyRedis {
    /// A client for `url` from the node's configuration (checked now,
    /// connected later).
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(url)?,
            connection: Arc::default(),
            guard: None,
        })
    }

    /// A client for `url` from a workflow: it connects only where `policy`
    /// allows, never through a local socket.
    pub fn guarded(url: &str, policy: Arc<EgressPolicy>) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| e.to_string())?;
        let (host, port) = match client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, port)
            | redis::ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port),
            _ => return Err("only redis:// and rediss:// URLs (no local sockets)".into()),
        };
        Ok(Self {
            client,
            connection: Arc::default(),
            guard: Some((policy, host, port)),
        })
    }

    async fn check_policy(&self) -> Result<(), String> {
        match &self.guard {
            Some((policy, host, port)) => policy.check_resolved(host, *port).await,
            None => Ok(()),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `command`, connecting first if needed.
    pub async fn run<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, String> {
        let current = self.slot().clone();
        let mut connection = match current {
            Some(connection) => connection,
            None => {
                self.check_policy().await?;
                let connect =
                    tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection());
                let connection = connect
                    .await
                    .map_err(|_| "connection timed out".to_string())?
                    .map_err(|e| e.to_string())?;
                *self.slot() = Some(connection.clone());
                connection
            }
        };
        let result =
            match tokio::time::timeout(TIMEOUT, command.query_async::<T>(&mut connection)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("command timed out".to_string()),
            };
        if result.is_err() {
            *self.slot() = None;
        }
        result
    }
}

impl ResourceProvider for RedisSetter {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let url = context.required(CLASS, "url")?;
        let key = context.required(CLASS, "key")?;
        let redis = LazyRedis::guarded(&url, self.policy.clone()).map_err(|reason| {
            ResourceError::BadValue {
                class: CLASS,
                key: "url",
                reason,
            }
        })?;
        let id = context.id;
        Ok(serve(context.dataplane, move |event| {
            let (redis, key) = (redis.clone(), key.clone());
            // The URL may hold a password: logs and errors show it hidden.
            let url = edgeless_api::secrets::redact_url(&url);
            async move {
                let mut command = redis::cmd("SET");
                command.arg(&key).arg(event.payload.as_ref());
                match redis.run::<()>(&command).await {
                    Ok(()) => CallOutcome::NoReply,
                    Err(error) => {
                        tracing::error!(instance = %id, %url, %error, "redis: SET failed");
                        CallOutcome::Err(format!("redis {url}: {error}"))
                    }
                }
            }
        }))
    }
}
