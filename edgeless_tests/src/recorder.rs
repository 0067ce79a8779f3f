//! A gRPC listener that answers every call with `UNIMPLEMENTED` and
//! records what each caller presented: the stand-in for a peer that
//! registers an address of its own choosing to collect credentials.

use std::sync::{Arc, Mutex};

/// One call the recorder received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The gRPC method path.
    pub path: String,
    /// The `authorization` header, if any.
    pub authorization: Option<String>,
    /// The link credential header, if any.
    pub link: Option<String>,
}

/// A running recorder.
pub struct Recorder {
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    calls: Arc<Mutex<Vec<Recorded>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts a recorder on a free loopback port (inside a runtime).
    pub async fn start() -> Self {
        let calls: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let seen = calls.clone();
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let seen = seen.clone();
            async move {
                let header = |name: &str| {
                    request
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                seen.lock().unwrap().push(Recorded {
                    path: request.uri().path().to_string(),
                    authorization: header("authorization"),
                    link: header(edgeless_api::auth::LINK_HEADER),
                });
                axum::response::Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "12")
                    .body(axum::body::Body::empty())
                    .unwrap()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_routes(tonic::service::Routes::from(router))
                .serve_with_incoming(incoming)
                .await;
        });
        Self {
            url,
            calls,
            _task: task,
        }
    }

    /// The calls received so far.
    pub fn calls(&self) -> Vec<Recorded> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits up to `timeout` for a call; the calls received by then.
    pub async fn wait_for_call(&self, timeout: std::time::Duration) -> Vec<Recorded> {
        let deadline = std::time::Instant::now() + timeout;
        while self.calls().is_empty() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        self.calls()
    }
}
