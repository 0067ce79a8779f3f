//! What a daemon tells its operator over HTTP, on `[telemetry] metrics_url`:
//! `/metrics` (Prometheus text, from a `prometheus-client` registry),
//! `/healthz` (the process answers) and `/readyz` (it is registered with
//! what it depends on; 503 and the reason until then).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// The `[telemetry]` section of every daemon.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served (plain HTTP);
    /// empty: nowhere.
    pub metrics_url: String,
    /// Nodes: the lowest level of the functions' log lines the node writes
    /// into its own log (`error` … `trace`); empty: none. Absent: all.
    /// The lines are kept for `workflow logs` whatever it says.
    pub log_level: Option<String>,
    /// Nodes: whether function execution times go to the orchestrator with
    /// every refresh (absent: yes).
    pub performance_samples: Option<bool>,
}

impl TelemetryConfig {
    /// Notes for the keys set that only nodes use (for the other daemons
    /// to log at start).
    pub fn node_only_keys(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.log_level.is_some() {
            notes.push("[telemetry] log_level: applies to nodes only".to_string());
        }
        if self.performance_samples.is_some() {
            notes.push("[telemetry] performance_samples: applies to nodes only".to_string());
        }
        notes
    }
}

/// Whether a daemon is ready, and why not. Cheap to clone.
#[derive(Clone)]
pub struct Readiness(Arc<Mutex<Result<(), String>>>);

impl Readiness {
    /// Not ready, because of `reason`.
    pub fn waiting(reason: &str) -> Self {
        Self(Arc::new(Mutex::new(Err(reason.to_string()))))
    }

    /// Ready from the start.
    pub fn ready() -> Self {
        Self(Arc::new(Mutex::new(Ok(()))))
    }

    /// Marks it ready, or not with `reason`.
    pub fn set(&self, state: Result<(), String>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = state;
    }

    fn get(&self) -> Result<(), String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A daemon's metrics; register families in it before [`serve`].
pub type Metrics = Arc<Mutex<Registry>>;

/// A registry whose metric names start with `edgeless_`, with the gRPC
/// request metrics ([`crate::grpc_metrics`]).
pub fn registry() -> Metrics {
    let mut registry = Registry::with_prefix("edgeless");
    crate::grpc_metrics::register(&mut registry);
    Arc::new(Mutex::new(registry))
}

fn render(metrics: &Metrics) -> Response {
    let mut text = String::new();
    let registry = metrics.lock().unwrap_or_else(|e| e.into_inner());
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

/// An HTTP server of a daemon (telemetry, dashboard): the configuration
/// key it was set by, where it listens (none when its URL is empty) and the
/// future that serves until shutdown (or just waits for it).
pub struct Served {
    /// The configuration key of its URL, e.g. `metrics_url`.
    pub key: &'static str,
    /// The bound URL (a configured port 0 replaced by the one taken).
    pub url: Option<String>,
    /// Serves until shutdown.
    pub serve: std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>,
}

impl Served {
    /// `listening` with this server's URL, when served.
    pub fn listed(&self, listening: crate::server::Listening) -> crate::server::Listening {
        match &self.url {
            Some(url) => listening.with(self.key, url),
            None => listening,
        }
    }
}

/// Serves `app` over plain HTTP at `url`, set by configuration key `key`
/// (nothing when `url` is empty). A URL that cannot be bound (a port in
/// use) is an error naming the key.
pub async fn serve_http(
    key: &'static str,
    url: &str,
    app: Router,
    shutdown: CancellationToken,
) -> anyhow::Result<Served> {
    if url.is_empty() {
        return Ok(Served {
            key,
            url: None,
            serve: Box::pin(async move {
                shutdown.cancelled().await;
                Ok(())
            }),
        });
    }
    let listener = crate::server::bind(url)
        .await
        .map_err(|e| anyhow::anyhow!("{key} = {url:?}: {e}"))?;
    let bound = crate::server::bound_url(url, &listener);
    let configured = url_host(url).to_string();
    let app = app.layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let allowed = request
                .headers()
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_none_or(|host| host_allowed(host, &configured));
            async move {
                if allowed {
                    next.run(request).await
                } else {
                    use axum::response::IntoResponse;
                    (
                        axum::http::StatusCode::MISDIRECTED_REQUEST,
                        "this server answers requests for its address (or the host name in its URL) only\n",
                    )
                        .into_response()
                }
            }
        },
    ));
    Ok(Served {
        key,
        url: Some(bound),
        serve: Box::pin(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
                .map_err(|e| anyhow::anyhow!("the server of {key} failed: {e}"))
        }),
    })
}

/// The host of `url` (`http://HOST:PORT/...`), without brackets.
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    strip_port(authority)
}

/// `host[:port]` without the port (and an IPv6 literal without brackets).
fn strip_port(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
}

/// Whether a request naming `host` (its `Host` header) is answered: an IP
/// address, `localhost`, or the host name in the listener's configured URL.
/// Any other name is refused, so that a web page whose name an attacker
/// points at this address (DNS rebinding) cannot read the answers.
fn host_allowed(host: &str, configured: &str) -> bool {
    let host = strip_port(host.trim());
    host.parse::<std::net::IpAddr>().is_ok()
        || host.eq_ignore_ascii_case("localhost")
        || host.eq_ignore_ascii_case(configured)
}

/// Binds `config.metrics_url` (when set). A URL that cannot be bound (a
/// port in use) is an error naming the key.
pub async fn start(
    config: &TelemetryConfig,
    metrics: Metrics,
    readiness: Readiness,
    shutdown: CancellationToken,
) -> anyhow::Result<Served> {
    let app = Router::new()
        .route("/metrics", get(move || async move { render(&metrics) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || async move {
                match readiness.get() {
                    Ok(()) => (StatusCode::OK, "ready\n".to_string()),
                    Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
                }
            }),
        );
    let served = serve_http("metrics_url", &config.metrics_url, app, shutdown)
        .await
        .map_err(|e| anyhow::anyhow!("[telemetry] {e}"))?;
    if let Some(url) = &served.url {
        tracing::info!(%url, "serving /metrics, /healthz and /readyz");
    }
    Ok(served)
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_the_configured_name_are_answered() {
        for host in ["127.0.0.1:9100", "[::1]:9100", "10.0.0.5", "localhost:9100"] {
            assert!(host_allowed(host, "0.0.0.0"), "{host}");
        }
        assert!(host_allowed("Dash.Example:7010", "dash.example"));
        assert!(!host_allowed("evil.example:9100", "127.0.0.1"));
        assert!(!host_allowed("127.0.0.1.evil.example", "127.0.0.1"));
        assert_eq!(url_host("http://[::1]:9100/x"), "::1");
        assert_eq!(url_host("http://dash.example:7010"), "dash.example");
    }

    /// DNS rebinding: a browser on a page of `evil.example` (resolved to
    /// this address) sends `Host: evil.example`; it is refused.
    #[tokio::test]
    async fn a_request_for_another_host_name_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let shutdown = CancellationToken::new();
        let app = Router::new().route("/", axum::routing::get(|| async { "secret" }));
        let served = serve_http("metrics_url", "http://127.0.0.1:0", app, shutdown.clone())
            .await
            .unwrap();
        let url = served.url.clone().unwrap();
        tokio::spawn(served.serve);
        let address = url.trim_start_matches("http://").to_string();
        let ask = |host: &'static str| {
            let address = address.clone();
            async move {
                let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
                let request =
                    format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut answer = String::new();
                stream.read_to_string(&mut answer).await.unwrap();
                answer
            }
        };
        let evil = ask("evil.example").await;
        assert!(
            evil.starts_with("HTTP/1.1 421") && !evil.contains("secret"),
            "{evil}"
        );
        let good = ask("127.0.0.1").await;
        assert!(
            good.starts_with("HTTP/1.1 200") && good.contains("secret"),
            "{good}"
        );
        shutdown.cancel();
    }
}
