//! `http-egress`: a call carrying an [`EgressRequest`] is performed as a
//! real HTTP request (plain http) and answered with an [`HttpResponse`].
//! Requests run concurrently, each with a deadline.

use std::time::Duration;

use bytes::Bytes;
use edgeless_dataplane::CallOutcome;
use edgeless_function::http::{EgressRequest, HttpResponse};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

use super::{ResourceContext, ResourceError, ResourceProvider};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "http-egress";

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct HttpEgress {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpEgress {
    pub fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

async fn perform(
    client: &Client<HttpConnector, Full<Bytes>>,
    request: EgressRequest,
) -> Result<HttpResponse, String> {
    let method = if request.method.is_empty() {
        "GET"
    } else {
        request.method.as_str()
    };
    let mut builder = hyper::Request::builder().method(method).uri(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let http_request = builder
        .body(Full::new(Bytes::from(request.body)))
        .map_err(|e| format!("bad request for {}: {e}", request.url))?;
    let response = tokio::time::timeout(REQUEST_TIMEOUT, client.request(http_request))
        .await
        .map_err(|_| format!("{} did not answer within {REQUEST_TIMEOUT:?}", request.url))?
        .map_err(|e| format!("{}: {e}", request.url))?;
    let status = response.status().as_u16();
    let headers = super::header_map(response.headers());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("{}: reading the body: {e}", request.url))?
        .to_bytes();
    Ok(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl ResourceProvider for HttpEgress {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let client = self.client.clone();
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
                        requests.spawn(async move {
                            let outcome = match EgressRequest::from_bytes(&event.payload) {
                                None => CallOutcome::Err("http-egress: the payload is not an EgressRequest".into()),
                                Some(request) => match perform(&client, request).await {
                                    Ok(response) => CallOutcome::Reply(response.to_bytes().into()),
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
