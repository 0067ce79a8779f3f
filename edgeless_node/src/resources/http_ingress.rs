//! `http-ingress`: the node's HTTP server. Each resource instance adds a
//! route (a `host` and its `methods`); a matching request becomes a call to
//! the instance's `new_request` output carrying the request in the original
//! EDGELESS JSON (`edgeless_http`; read with [`HttpRequest::from_bytes`]),
//! and the reply (that JSON, or an [`HttpResponse`] in either encoding, or
//! any other bytes as a 200 body) becomes the response. No matching route:
//! 404; a method the format cannot name: 405; the target failed or did not
//! answer in time: 502.
//!
//! The server is bounded: at most [`MAX_CONNECTIONS`] connections, and
//! [`MAX_CONNECTIONS_PER_CLIENT`] from one address (more are closed at
//! once), request headers within [`HEADER_TIMEOUT`], bodies of at
//! most [`MAX_BODY`] within [`BODY_TIMEOUT`]. A host is served by one
//! resource at a time; `*` (any host) only when the node allows it.

use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, EventSender};
use edgeless_function::http::{HttpRequest, HttpResponse};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;

use super::{ResourceContext, ResourceError, ResourceProvider};
use crate::runtime::{OutputTable, RunningInstance};

pub const CLASS: &str = "http-ingress";

/// How long a request waits for the function's answer.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// The largest request body accepted (it travels unchanged in the event).
pub const MAX_BODY: usize = 1 << 20;
/// How long a client may take to send a request's headers (and an idle
/// connection may wait for its next request).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 256;
/// The most connections served at once from one client address.
pub const MAX_CONNECTIONS_PER_CLIENT: usize = 32;

struct Route {
    instance: InstanceId,
    host: String,
    methods: Vec<String>,
    sender: EventSender,
    outputs: Arc<OutputTable>,
}

/// The node's HTTP ingress server and its routes. Cheap to clone.
#[derive(Clone, Default)]
pub struct IngressServer {
    routes: Arc<RwLock<Vec<Arc<Route>>>>,
    /// Whether a resource may claim every host (`*`).
    allow_any_host: bool,
}

impl IngressServer {
    /// A server without routes; `allow_any_host` lets a resource claim `*`.
    pub fn new(allow_any_host: bool) -> Self {
        Self {
            routes: Arc::default(),
            allow_any_host,
        }
    }

    /// Serves `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let slots = edgeless_api::connection_slots::ConnectionSlots::new(
            MAX_CONNECTIONS,
            MAX_CONNECTIONS_PER_CLIENT,
        );
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            let (stream, client) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors and the like: pause, do not spin.
                    tracing::warn!(%error, "http-ingress cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let slot = match slots.try_take(client.ip()) {
                Ok(slot) => slot,
                Err(refused) => {
                    tracing::warn!(client = %client.ip(), "http-ingress: {refused}; a connection refused");
                    continue;
                }
            };
            // Every request goes to `handle`: no router in between.
            let server = self.clone();
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(handle(server, request.map(Body::new)).await) }
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let _ = connection.await;
                drop(slot);
            });
        }
    }

    fn find(&self, host: &str, method: &str) -> Option<Arc<Route>> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|r| {
                (r.host == "*" || r.host.eq_ignore_ascii_case(host))
                    && (r.methods.is_empty()
                        || r.methods.iter().any(|m| m.eq_ignore_ascii_case(method)))
            })
            .cloned()
    }
}

fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

async fn handle(server: IngressServer, request: Request<Body>) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let method = request.method().to_string();
    let Some(route) = server.find(&host, &method) else {
        return text(
            StatusCode::NOT_FOUND,
            format!("no resource serves {method} for host {host:?}\n"),
        );
    };
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = super::header_map(request.headers());
    let body =
        match tokio::time::timeout(BODY_TIMEOUT, to_bytes(request.into_body(), MAX_BODY)).await {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => {
                return text(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("{error} (at most {MAX_BODY} bytes)\n"),
                );
            }
            Err(_) => {
                return text(
                    StatusCode::REQUEST_TIMEOUT,
                    format!("the body did not arrive within {BODY_TIMEOUT:?}\n"),
                );
            }
        };
    let event = HttpRequest {
        method,
        path,
        host,
        headers,
        body: Vec::from(body),
    };
    // The function gets the original EDGELESS JSON (edgeless_http).
    let payload = match event.into_edgeless_http() {
        Ok(payload) => payload,
        Err(event) => {
            return text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!(
                    "{} is not served (GET, HEAD, POST, PUT, DELETE, PATCH are)\n",
                    event.method
                ),
            );
        }
    };
    let target = match route
        .outputs
        .resolve("new_request", Duration::from_secs(5))
        .await
    {
        Ok(target) => target,
        Err(error) => return text(StatusCode::BAD_GATEWAY, format!("{error}\n")),
    };
    match route
        .sender
        .call(target, Bytes::from(payload), CALL_DEADLINE)
        .await
    {
        CallOutcome::Reply(reply) => match HttpResponse::from_bytes(&reply) {
            Some(response) => {
                let status = StatusCode::from_u16(response.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut http = Response::new(Body::from(response.body));
                *http.status_mut() = status;
                for (name, value) in response.headers {
                    if let (Ok(name), Ok(value)) = (
                        axum::http::HeaderName::try_from(name),
                        HeaderValue::try_from(value),
                    ) {
                        http.headers_mut().insert(name, value);
                    }
                }
                http
            }
            None => Response::new(Body::from(reply)),
        },
        CallOutcome::NoReply => StatusCode::NO_CONTENT.into_response(),
        CallOutcome::Err(error) => {
            tracing::warn!(instance = %route.instance, %error, "http-ingress: the function failed");
            text(StatusCode::BAD_GATEWAY, format!("{error}\n"))
        }
    }
}

impl ResourceProvider for IngressServer {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let host = context.required(CLASS, "host")?.trim().to_ascii_lowercase();
        if host == "*" && !self.allow_any_host {
            return Err(ResourceError::BadValue {
                class: CLASS,
                key: "host",
                reason: "`*` (every host) is not allowed on this node ([resources] http_ingress_any_host)".into(),
            });
        }
        let methods: Vec<String> = context
            .configuration
            .get("methods")
            .map(|m| {
                m.split(',')
                    .map(|s| s.trim().to_ascii_uppercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let route = Arc::new(Route {
            instance: context.id,
            host,
            methods,
            sender: context.dataplane.sender().clone(),
            outputs: context.outputs,
        });
        {
            let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
            if let Some(holder) = routes.iter().find(|r| r.host == route.host) {
                return Err(ResourceError::BadValue {
                    class: CLASS,
                    key: "host",
                    reason: format!(
                        "host {:?} is served by another resource ({})",
                        route.host, holder.instance
                    ),
                });
            }
            routes.push(route);
        }
        let routes = self.routes.clone();
        let id = context.id;
        let mut dataplane = context.dataplane;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            // Nothing is sent to an ingress; its mailbox only tells when it
            // is unregistered.
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    event = dataplane.receive_next() => if event.is_none() { break },
                }
            }
            routes
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .retain(|r| r.instance != id);
            None::<String>
        });
        Ok(RunningInstance { stop, task })
    }
}
