//! `http-egress`: a call carrying a request (the original EDGELESS JSON of
//! `edgeless_http`, or an [`EgressRequest`]) is performed as a real HTTP
//! request (plain http) and answered with the response in the original
//! JSON (read with [`HttpResponse::from_bytes`]).
//! Requests run concurrently, each with a deadline for the whole exchange
//! and a bound on the response body; where they may go is the node's
//! [`EgressPolicy`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use edgeless_dataplane::CallOutcome;
use edgeless_function::http::{EgressRequest, HttpResponse};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::egress_policy::{EgressPolicy, PolicyResolver};
use super::{ResourceContext, ResourceError, ResourceProvider};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "http-egress";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body taken (the reply must fit in an event).
pub const MAX_RESPONSE_BODY: usize = 4 << 20;

type EgressClient = Client<HttpConnector<PolicyResolver>, Full<Bytes>>;

pub struct HttpEgress {
    client: EgressClient,
    policy: Arc<EgressPolicy>,
}

impl HttpEgress {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        let connector = HttpConnector::new_with_resolver(PolicyResolver(policy.clone()));
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            policy,
        }
    }
}

async fn perform(
    client: &EgressClient,
    policy: &EgressPolicy,
    request: EgressRequest,
) -> Result<HttpResponse, String> {
    let url = request.url.clone();
    tokio::time::timeout(REQUEST_TIMEOUT, exchange(client, policy, request))
        .await
        .map_err(|_| format!("{url} did not answer within {REQUEST_TIMEOUT:?}"))?
}

async fn exchange(
    client: &EgressClient,
    policy: &EgressPolicy,
    request: EgressRequest,
) -> Result<HttpResponse, String> {
    let uri: hyper::Uri = request
        .url
        .parse()
        .map_err(|e| format!("bad URL {:?}: {e}", request.url))?;
    let host = uri.host().unwrap_or_default();
    policy.check_target(host, uri.port_u16().unwrap_or(80))?;
    let method = if request.method.is_empty() {
        "GET"
    } else {
        request.method.as_str()
    };
    let mut builder = hyper::Request::builder().method(method).uri(uri.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let http_request = builder
        .body(Full::new(Bytes::from(request.body)))
        .map_err(|e| format!("bad request for {}: {e}", request.url))?;
    let response = client.request(http_request).await.map_err(|e| {
        let cause = std::error::Error::source(&e)
            .map(|c| format!(": {c}"))
            .unwrap_or_default();
        format!("{}: {e}{cause}", request.url)
    })?;
    let status = response.status().as_u16();
    let headers = super::header_map(response.headers());
    let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BODY)
        .collect()
        .await
        .map_err(|e| format!("{}: reading the body: {e}", request.url))?
        .to_bytes();
    Ok(HttpResponse {
        status,
        headers,
        body: body.to_vec(),
    })
}

impl ResourceProvider for HttpEgress {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let client = self.client.clone();
        let policy = self.policy.clone();
        let mut dataplane = context.dataplane;
        let id = context.id;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut requests = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    biased;
                    _ = &mut stopped => break,
                    Some(_) = requests.join_next(), if !requests.is_empty() => {}
                    event = dataplane.receive_next() => {
                        let Some(event) = event else { break };
                        let (client, sender) = (client.clone(), dataplane.sender().clone());
                        let policy = policy.clone();
                        requests.spawn(async move {
                            let outcome = match EgressRequest::from_bytes(&event.payload) {
                                None => CallOutcome::Err("http-egress: the payload is not an EgressRequest".into()),
                                Some(request) => match perform(&client, &policy, request).await {
                                    Ok(response) => CallOutcome::Reply(response.to_edgeless_http().into()),
                                    Err(error) => {
                                        tracing::warn!(instance = %id, %error, "http-egress request failed");
                                        CallOutcome::Err(error)
                                    }
                                },
                            };
                            if event.kind == edgeless_api::event::EventKind::Call
                                && let Err(error) = sender.reply(&event, outcome)
                            {
                                tracing::warn!(instance = %id, %error, "reply not delivered");
                            }
                        });
                    }
                }
            }
            None::<String>
        });
        Ok(RunningInstance { stop, task })
    }
}
