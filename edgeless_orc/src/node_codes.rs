//! Which WASM code a node has, so that a start names the code by its key
//! instead of carrying it.
//!
//! The first start of a code on a node carries the code; starts of the same
//! code that come meanwhile wait for it and then send the key alone. A node
//! that answers "unknown code" (it forgot, or restarted under the same
//! registration) is sent the code again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use edgeless_api::client::Channel;
use edgeless_api::proto;
use edgeless_api::proto::function_instance_client::FunctionInstanceClient;
use tokio::sync::watch;

/// What the orchestrator knows of one code on one node.
enum Held {
    /// Its first start is on the way; the value turns `Some(true)` once
    /// the node has it, `Some(false)` if that start failed.
    Sending(watch::Receiver<Option<bool>>),
    /// The node has it.
    Known,
}

/// The codes of one node, shared by its starts. Cheap to clone.
#[derive(Clone, Default)]
pub struct NodeCodes(Arc<Mutex<HashMap<String, Held>>>);

type Answer = Result<tonic::Response<proto::StartComponentResponse>, tonic::Status>;

impl NodeCodes {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Held>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `request` to the node through `client`, naming its WASM code
    /// by key alone when the node has it.
    pub async fn start(
        &self,
        mut client: FunctionInstanceClient<Channel>,
        request: proto::SpawnFunctionRequest,
    ) -> Answer {
        let key = request
            .code
            .as_ref()
            .map(|class| class.function_class_code_key.clone())
            .unwrap_or_default();
        if key.is_empty() {
            return client.start(request).await;
        }
        enum Next {
            Named,
            Wait(watch::Receiver<Option<bool>>),
            First(watch::Sender<Option<bool>>),
        }
        let next = {
            let mut held = self.held();
            match held.get(&key) {
                Some(Held::Known) => Next::Named,
                Some(Held::Sending(receiver)) => Next::Wait(receiver.clone()),
                None => {
                    let (sender, receiver) = watch::channel(None);
                    held.insert(key.clone(), Held::Sending(receiver));
                    Next::First(sender)
                }
            }
        };
        match next {
            Next::First(sender) => return self.first_start(client, request, key, sender).await,
            Next::Wait(mut receiver) => {
                let arrived = matches!(
                    receiver.wait_for(Option::is_some).await.as_deref(),
                    Ok(Some(true))
                );
                if !arrived {
                    return client.start(request).await;
                }
            }
            Next::Named => {}
        }
        let mut named = request.clone();
        if let Some(class) = &mut named.code {
            class.function_class_code = Default::default();
        }
        match client.start(named).await {
            Err(status)
                if status.code() == tonic::Code::FailedPrecondition
                    && status
                        .message()
                        .starts_with(edgeless_api::code_table::UNKNOWN_CODE) =>
            {
                self.held().remove(&key);
                client.start(request).await
            }
            answered => answered,
        }
    }

    /// The start that carries the code; tells the starts waiting for it
    /// how it went.
    async fn first_start(
        &self,
        mut client: FunctionInstanceClient<Channel>,
        request: proto::SpawnFunctionRequest,
        key: String,
        sender: watch::Sender<Option<bool>>,
    ) -> Answer {
        let answered = client.start(request).await;
        {
            let mut held = self.held();
            if answered.is_ok() {
                held.insert(key, Held::Known);
            } else {
                held.remove(&key);
            }
        }
        let _ = sender.send(Some(answered.is_ok()));
        answered
    }
}
