//! Every control-plane gRPC call counted and timed, by server and method:
//! `edgeless_grpc_requests_total` and `edgeless_grpc_request_seconds`
//! (until the response starts; for the control plane's unary calls, the
//! handler's time). Streaming servers (the dataplane) are not timed: a
//! stream lasts as long as its link.

use std::pin::Pin;
use std::sync::LazyLock;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::codegen::http;

/// Labels of one method of one server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The server (e.g. `controller workflow API`).
    pub server: String,
    /// The gRPC path, e.g. `/edgeless_api.WorkflowInstance/Start`.
    pub method: String,
}

struct GrpcMetrics {
    requests: Family<MethodLabels, Counter>,
    seconds: Family<MethodLabels, Histogram>,
}

static METRICS: LazyLock<GrpcMetrics> = LazyLock::new(|| GrpcMetrics {
    requests: Family::default(),
    seconds: Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.0005, 4.0, 10))),
});

/// Adds the request families to `registry`.
pub fn register(registry: &mut Registry) {
    registry.register(
        "grpc_requests",
        "gRPC calls received, by server and method",
        METRICS.requests.clone(),
    );
    registry.register(
        "grpc_request_seconds",
        "time until a gRPC call's response starts, by server and method",
        METRICS.seconds.clone(),
    );
}

/// The layer that counts and times the calls of the server `server`.
#[derive(Clone, Copy)]
pub struct MetricsLayer {
    server: &'static str,
    timed: bool,
}

impl MetricsLayer {
    /// For the server named `server`; `streams` servers are not timed.
    pub fn new(server: &'static str, streams: bool) -> Self {
        Self {
            server,
            timed: !streams,
        }
    }
}

impl<S> tower_layer::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            layer: *self,
        }
    }
}

/// See [`MetricsLayer`].
#[derive(Clone)]
pub struct MetricsService<S> {
    inner: S,
    layer: MetricsLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower_service::Service<http::Request<B>> for MetricsService<S>
where
    S: tower_service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let labels = MethodLabels {
            server: self.layer.server.to_string(),
            method: request.uri().path().to_string(),
        };
        METRICS.requests.get_or_create(&labels).inc();
        let response = self.inner.call(request);
        if !self.layer.timed {
            return Box::pin(response);
        }
        let started = Instant::now();
        Box::pin(async move {
            let result = response.await;
            METRICS
                .seconds
                .get_or_create(&labels)
                .observe(started.elapsed().as_secs_f64());
            result
        })
    }
}
