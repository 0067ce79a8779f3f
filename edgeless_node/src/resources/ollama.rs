//! `ollama`: each event's payload is a user message in a conversation with
//! a model on an Ollama server (`POST /api/chat`, not streamed); the answer
//! is cast on `out`. The conversation is kept per instance, bounded by
//! `messages_number_limit`. A server that is down is logged; the instance
//! keeps running.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use edgeless_dataplane::CallOutcome;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::config::OllamaProvider;
use crate::runtime::RunningInstance;

pub const CLASS: &str = "ollama";

const TIMEOUT: Duration = Duration::from_secs(120);

pub struct Ollama {
    url: String,
    limit: usize,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Ollama {
    pub fn new(config: &OllamaProvider) -> Self {
        Self {
            url: format!("http://{}:{}/api/chat", config.host, config.port),
            limit: config.messages_number_limit.max(1),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

async fn chat(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    body: Value,
) -> Result<String, String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("{url} did not answer within {TIMEOUT:?}"))?
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "{url} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    let answer: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{url}: not a chat answer: {e}"))?;
    answer["message"]["content"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{url}: the answer has no message.content"))
}

impl ResourceProvider for Ollama {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let model = context.required(CLASS, "model")?;
        let (client, url, limit) = (self.client.clone(), self.url.clone(), self.limit);
        let outputs = context.outputs.clone();
        let sender = context.dataplane.sender().clone();
        let id = context.id;
        let history = std::sync::Arc::new(std::sync::Mutex::new(VecDeque::<Value>::new()));
        Ok(serve(context.dataplane, move |event| {
            let (client, url, model, outputs, sender, history) = (
                client.clone(),
                url.clone(),
                model.clone(),
                outputs.clone(),
                sender.clone(),
                history.clone(),
            );
            async move {
                let prompt = String::from_utf8_lossy(&event.payload).into_owned();
                let messages: Vec<Value> = {
                    let mut history = history.lock().unwrap_or_else(|e| e.into_inner());
                    history.push_back(json!({"role": "user", "content": prompt}));
                    while history.len() > limit {
                        history.pop_front();
                    }
                    history.iter().cloned().collect()
                };
                let body = json!({"model": model, "messages": messages, "stream": false});
                match chat(&client, &url, body).await {
                    Ok(answer) => {
                        {
                            let mut history = history.lock().unwrap_or_else(|e| e.into_inner());
                            history.push_back(json!({"role": "assistant", "content": answer}));
                            while history.len() > limit {
                                history.pop_front();
                            }
                        }
                        match outputs.resolve("out", Duration::from_secs(5)).await {
                            Ok(target) => {
                                if let Err(error) = sender.cast(target, Bytes::from(answer.clone()))
                                {
                                    tracing::warn!(instance = %id, %error, "ollama: answer not delivered");
                                }
                            }
                            Err(error) => {
                                tracing::debug!(instance = %id, %error, "ollama: answer not forwarded")
                            }
                        }
                        CallOutcome::Reply(Bytes::from(answer))
                    }
                    Err(error) => {
                        tracing::error!(instance = %id, %error, "ollama: chat failed");
                        CallOutcome::Err(error)
                    }
                }
            }
        }))
    }
}
