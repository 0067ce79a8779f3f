//! `http-ingress`: the node's HTTP server. Each resource instance adds a
//! route (a `host` and its `methods`); a matching request becomes a call to
//! the instance's `new_request` output carrying an [`HttpRequest`], and the
//! reply becomes the response. No matching route: 404; the target failed or
//! did not answer in time: 502.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, EventSender};
use edgeless_function::http::{HttpRequest, HttpResponse};
use tokio_util::sync::CancellationToken;

use super::{ResourceContext, ResourceError, ResourceProvider};
use crate::runtime::{OutputTable, RunningInstance};

pub const CLASS: &str = "http-ingress";

/// How long a request waits for the function's answer.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// The largest request body accepted.
const MAX_BODY: usize = 16 << 20;

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
}

impl IngressServer {
    /// Serves `listener` until `shutdown`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let router = axum::Router::new().fallback(handle).with_state(self);
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
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

async fn handle(State(server): State<IngressServer>, request: Request) -> Response {
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
    let body = match to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return text(StatusCode::PAYLOAD_TOO_LARGE, format!("{error}\n")),
    };
    let event = HttpRequest {
        method,
        path,
        host,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
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
        .call(target, Bytes::from(event.to_bytes()), CALL_DEADLINE)
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
        self.routes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(route);
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
