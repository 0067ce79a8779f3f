//! The ε-BAL's HTTP front: one address for the `http-ingress` traffic of
//! workflows whose ingress runs in several domains (or on several nodes).
//!
//! Its orchestrator hands it the routes the controller works out: for each
//! host, the ingress URLs of the nodes that serve it. A request goes to one
//! of them by its `Host` header, chosen round robin or by the fewest
//! requests in flight (`http_policy`); a backend that cannot be reached is
//! skipped for the next one. The request and response bodies stream
//! through; the backend's own limits apply. The response names the backend
//! that served it (`x-edgeless-backend`) by an opaque label, never by its
//! internal URL. An unknown host is a 404, no reachable backend a 502; the
//! client is told what failed, the log also where.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// How a backend is chosen among those serving a host.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Each in turn.
    #[default]
    RoundRobin,
    /// The one with the fewest requests in flight (the first of them on a tie).
    LeastLoaded,
}

/// How long a request may take, from its headers to the backend's.
const REQUEST_DEADLINE: Duration = Duration::from_secs(30);
/// How long a client may take to send its request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The most connections open at once.
const MAX_CONNECTIONS: usize = 1024;
/// The most connections open at once from one client address.
const MAX_CONNECTIONS_PER_CLIENT: usize = 64;
/// The most hosts, and backends per host, taken from a route update.
const MAX_ROUTES: usize = 10_000;

struct Backend {
    url: String,
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct Host {
    backends: Vec<Arc<Backend>>,
    next: AtomicUsize,
}

/// The routing table. Cheap to clone.
#[derive(Clone, Default)]
pub struct Routes {
    hosts: Arc<RwLock<HashMap<String, Arc<Host>>>>,
}

impl Routes {
    /// Replaces the table (routes beyond [`MAX_ROUTES`] are dropped, with a
    /// warning). Backends that stay keep their counts.
    pub fn set(&self, routes: Vec<edgeless_api::proto::HttpRoute>) {
        if routes.len() > MAX_ROUTES {
            tracing::warn!(
                count = routes.len(),
                "too many HTTP routes; the first {MAX_ROUTES} kept"
            );
        }
        let mut hosts = self.hosts.write().unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut *hosts);
        for route in routes.into_iter().take(MAX_ROUTES) {
            let host = route.host.to_ascii_lowercase();
            let previous = old.get(&host);
            let backends = route
                .urls
                .into_iter()
                .take(MAX_ROUTES)
                .map(|url| {
                    previous
                        .and_then(|p| p.backends.iter().find(|b| b.url == url).cloned())
                        .unwrap_or_else(|| {
                            Arc::new(Backend {
                                url,
                                in_flight: AtomicUsize::new(0),
                            })
                        })
                })
                .collect();
            hosts.insert(
                host,
                Arc::new(Host {
                    backends,
                    next: AtomicUsize::new(0),
                }),
            );
        }
    }

    /// The backends of `host`, in the order to try them under `policy`.
    fn candidates(&self, host: &str, policy: Policy) -> Option<Vec<Arc<Backend>>> {
        let host = self
            .hosts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
            .cloned()?;
        let count = host.backends.len();
        if count == 0 {
            return Some(Vec::new());
        }
        let first = match policy {
            Policy::RoundRobin => host.next.fetch_add(1, Ordering::Relaxed) % count,
            Policy::LeastLoaded => (0..count)
                .min_by_key(|i| host.backends[*i].in_flight.load(Ordering::Relaxed))
                .unwrap_or(0),
        };
        Some(
            (0..count)
                .map(|i| host.backends[(first + i) % count].clone())
                .collect(),
        )
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

fn text(status: StatusCode, message: String) -> Response<Body> {
    let body = Full::new(Bytes::from(message + "\n"))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

/// Whether a request with these headers carries a body.
fn has_body(headers: &hyper::HeaderMap) -> bool {
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(hyper::header::CONTENT_LENGTH)
            .is_some_and(|l| l != "0")
}

/// Counts a request in flight at a backend while it lives.
struct InFlight(Arc<Backend>);

impl InFlight {
    fn new(backend: Arc<Backend>) -> Self {
        backend.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(backend)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Front {
    routes: Routes,
    policy: Policy,
    client: Client<HttpConnector, Body>,
}

impl Front {
    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        let host = request
            .headers()
            .get(hyper::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.rsplit_once(':')
                    .map_or(h, |(name, _)| name)
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let Some(candidates) = self.routes.candidates(&host, self.policy) else {
            return text(
                StatusCode::NOT_FOUND,
                format!("no workflow serves host {host:?}"),
            );
        };
        let (parts, body) = request.into_parts();
        // The body can be sent once: only a backend that refuses the
        // connection (nothing sent) is skipped for the next.
        let mut body = Some(body.boxed());
        let mut failures = Vec::new();
        for backend in candidates {
            let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            let Ok(uri) =
                format!("{}{path}", backend.url.trim_end_matches('/')).parse::<hyper::Uri>()
            else {
                tracing::warn!(backend = %backend.url, label = %label(&backend.url), "HTTP backend is not a URL");
                failures.push(format!("{}: not a URL", label(&backend.url)));
                continue;
            };
            let mut forwarded = Request::new(body.take().unwrap_or_else(|| {
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed()
            }));
            *forwarded.method_mut() = parts.method.clone();
            *forwarded.uri_mut() = uri;
            *forwarded.headers_mut() = parts.headers.clone();
            let _counted = InFlight::new(backend.clone());
            let sent = tokio::time::timeout(REQUEST_DEADLINE, self.client.request(forwarded)).await;
            match sent {
                Ok(Ok(response)) => {
                    let (mut head, body) = response.into_parts();
                    if let Ok(value) = hyper::header::HeaderValue::from_str(&label(&backend.url)) {
                        head.headers.insert("x-edgeless-backend", value);
                    }
                    return Response::from_parts(head, body.boxed());
                }
                Ok(Err(error)) if error.is_connect() => {
                    failures.push(format!("{}: unreachable", label(&backend.url)));
                    tracing::warn!(backend = %backend.url, label = %label(&backend.url), %error, "HTTP backend unreachable; trying the next");
                    // The body went with the failed attempt: only a request
                    // without one is tried on the next backend.
                    if !has_body(&parts.headers) {
                        body = Some(
                            Full::new(Bytes::new())
                                .map_err(|never| match never {})
                                .boxed(),
                        );
                    }
                    if body.is_none() {
                        break;
                    }
                }
                Ok(Err(error)) => {
                    tracing::warn!(backend = %backend.url, label = %label(&backend.url), %error, "HTTP backend failed");
                    return text(
                        StatusCode::BAD_GATEWAY,
                        format!("{}: the request failed", label(&backend.url)),
                    );
                }
                Err(_) => {
                    tracing::warn!(backend = %backend.url, label = %label(&backend.url), "HTTP backend did not answer in time");
                    return text(
                        StatusCode::GATEWAY_TIMEOUT,
                        format!(
                            "{}: no answer within {REQUEST_DEADLINE:?}",
                            label(&backend.url)
                        ),
                    );
                }
            }
        }
        text(
            StatusCode::BAD_GATEWAY,
            format!(
                "no backend of host {host:?} answers: {}",
                failures.join("; ")
            ),
        )
    }
}

/// How a backend is named to HTTP clients: its internal URL stays inside.
fn label(url: &str) -> String {
    edgeless_api::secrets::opaque_label(url)
}

/// Serves the front on `listener` with `routes` until `shutdown`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Routes,
    policy: Policy,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(HttpConnector::new());
    let front = Arc::new(Front {
        routes,
        policy,
        client,
    });
    let slots = edgeless_api::connection_slots::ConnectionSlots::new(
        MAX_CONNECTIONS,
        MAX_CONNECTIONS_PER_CLIENT,
    );
    loop {
        let (stream, client) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "the HTTP front cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match slots.try_take(client.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                tracing::warn!(client = %client.ip(), "HTTP front: {refused}; a connection refused");
                continue;
            }
        };
        let front = front.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let front = front.clone();
                async move { Ok::<_, std::convert::Infallible>(front.handle(request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(urls: &[&str]) -> Routes {
        let routes = Routes::default();
        routes.set(vec![edgeless_api::proto::HttpRoute {
            host: "Demo.Example".into(),
            urls: urls.iter().map(|u| u.to_string()).collect(),
        }]);
        routes
    }

    fn first(routes: &Routes, policy: Policy) -> String {
        routes.candidates("demo.example", policy).unwrap()[0]
            .url
            .clone()
    }

    #[test]
    fn round_robin_takes_each_backend_in_turn_and_tries_the_others_after() {
        let r = routes(&["http://a", "http://b"]);
        let order: Vec<Vec<String>> = (0..3)
            .map(|_| {
                r.candidates("demo.example", Policy::RoundRobin)
                    .unwrap()
                    .iter()
                    .map(|b| b.url.clone())
                    .collect()
            })
            .collect();
        assert_eq!(
            order,
            [
                ["http://a", "http://b"],
                ["http://b", "http://a"],
                ["http://a", "http://b"]
            ]
        );
        assert!(r.candidates("other", Policy::RoundRobin).is_none());
    }

    #[test]
    fn least_loaded_takes_the_backend_with_fewest_requests_in_flight() {
        let r = routes(&["http://a", "http://b"]);
        let busy = r.candidates("demo.example", Policy::LeastLoaded).unwrap()[0].clone();
        assert_eq!(busy.url, "http://a");
        let _held = InFlight::new(busy);
        assert_eq!(first(&r, Policy::LeastLoaded), "http://b");
        // A new table keeps the counts of backends that stay.
        r.set(vec![edgeless_api::proto::HttpRoute {
            host: "demo.example".into(),
            urls: vec!["http://a".into(), "http://b".into(), "http://c".into()],
        }]);
        assert_eq!(first(&r, Policy::LeastLoaded), "http://b");
    }
}
