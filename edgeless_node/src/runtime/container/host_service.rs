//! `FunctionHost`: the node side of the function interface for container
//! functions. A request names its instance by the secret token the
//! container was given; a request without a known token is refused, so one
//! container cannot act as another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeless_api::InstanceId;
use edgeless_api::client::TOKEN_HEADER;
use edgeless_api::proto::function_host_server::{FunctionHost, FunctionHostServer};
use edgeless_api::proto::{
    self, CallResult, Empty, GuestLog, GuestState, HostDelayedCast, HostSend, host_send,
};
use edgeless_dataplane::CallOutcome;
use tonic::{Request, Response, Status};

use crate::runtime::instance_host::InstanceHost;

/// The running container instances, by token. Cheap to clone.
#[derive(Clone, Default)]
pub struct Guests {
    by_token: Arc<Mutex<HashMap<String, Arc<InstanceHost>>>>,
}

impl Guests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<InstanceHost>>> {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, token: String, host: Arc<InstanceHost>) {
        self.lock().insert(token, host);
    }

    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    fn find<T>(&self, request: &Request<T>) -> Result<Arc<InstanceHost>, Status> {
        let token = request
            .metadata()
            .get(TOKEN_HEADER)
            .and_then(|t| t.to_str().ok())
            .ok_or_else(|| Status::unauthenticated(format!("missing `{TOKEN_HEADER}`")))?;
        // Compared in constant time, one by one: a node runs few containers.
        self.lock()
            .iter()
            .find(|(known, _)| {
                edgeless_api::secrets::constant_time_eq(known.as_bytes(), token.as_bytes())
            })
            .map(|(_, host)| host.clone())
            .ok_or_else(|| Status::unauthenticated("unknown instance token"))
    }
}

/// The gRPC server of the host side.
pub fn server(guests: Guests) -> FunctionHostServer<HostService> {
    FunctionHostServer::new(HostService { guests })
        .max_decoding_message_size(edgeless_dataplane::MAX_PAYLOAD + 4096)
}

pub struct HostService {
    guests: Guests,
}

fn not_sent() -> Status {
    Status::unavailable("the event was not delivered (see the node's log)")
}

/// A call's outcome as the guest receives it.
pub fn call_result(outcome: CallOutcome) -> CallResult {
    use proto::call_result::Kind;
    match outcome {
        CallOutcome::NoReply => CallResult {
            kind: Kind::NoReply as i32,
            ..Default::default()
        },
        CallOutcome::Reply(payload) => CallResult {
            kind: Kind::Reply as i32,
            payload,
            ..Default::default()
        },
        CallOutcome::Err(error) => CallResult {
            kind: Kind::Err as i32,
            error,
            ..Default::default()
        },
    }
}

/// The instance a guest names directly.
fn instance(id: &proto::InstanceId) -> Result<InstanceId, Status> {
    InstanceId::try_from(id).map_err(|e| Status::invalid_argument(e.to_string()))
}

#[tonic::async_trait]
impl FunctionHost for HostService {
    async fn cast(&self, request: Request<HostSend>) -> Result<Response<Empty>, Status> {
        let host = self.guests.find(&request)?;
        let send = request.into_inner();
        let sent = match send.target {
            Some(host_send::Target::Alias(alias)) => host.cast_alias(&alias, send.payload).await,
            Some(host_send::Target::Instance(id)) => host.cast(instance(&id)?, send.payload),
            None => return Err(Status::invalid_argument("a cast needs a target")),
        };
        sent.map(|()| Response::new(Empty {}))
            .map_err(|_| not_sent())
    }

    async fn call(&self, request: Request<HostSend>) -> Result<Response<CallResult>, Status> {
        let host = self.guests.find(&request)?;
        let send = request.into_inner();
        let outcome = match send.target {
            Some(host_send::Target::Alias(alias)) => host.call_alias(&alias, send.payload).await,
            Some(host_send::Target::Instance(id)) => host.call(instance(&id)?, send.payload).await,
            None => return Err(Status::invalid_argument("a call needs a target")),
        };
        Ok(Response::new(call_result(outcome)))
    }

    async fn delayed_cast(
        &self,
        request: Request<HostDelayedCast>,
    ) -> Result<Response<Empty>, Status> {
        let host = self.guests.find(&request)?;
        let cast = request.into_inner();
        host.delayed_cast(
            Duration::from_millis(cast.delay_ms),
            &cast.alias,
            cast.payload,
        )
        .await
        .map(|()| Response::new(Empty {}))
        .map_err(|_| not_sent())
    }

    async fn sync(&self, request: Request<GuestState>) -> Result<Response<Empty>, Status> {
        let host = self.guests.find(&request)?;
        host.sync(request.into_inner().state.into())
            .map_err(Status::resource_exhausted)?;
        Ok(Response::new(Empty {}))
    }

    async fn log(&self, request: Request<GuestLog>) -> Result<Response<Empty>, Status> {
        let host = self.guests.find(&request)?;
        let line = request.into_inner();
        host.log(line.level, &line.target, &line.message);
        Ok(Response::new(Empty {}))
    }

    async fn slf(&self, request: Request<Empty>) -> Result<Response<proto::InstanceId>, Status> {
        let host = self.guests.find(&request)?;
        Ok(Response::new(host.id.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeless_api::proto::function_host_client::FunctionHostClient;

    fn with_token<T>(message: T, token: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert(TOKEN_HEADER, token.parse().unwrap());
        }
        request
    }

    /// Over real gRPC on loopback: without a token, or with one no running
    /// container was given, every request is refused before it acts.
    #[tokio::test]
    async fn requests_without_a_known_token_are_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let serving = tonic::transport::Server::builder()
            .add_service(server(Guests::default()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        let server = tokio::spawn(serving);
        let mut client = FunctionHostClient::connect(url).await.unwrap();
        let send = || HostSend {
            target: Some(host_send::Target::Alias("out".into())),
            payload: b"x".to_vec().into(),
        };
        for (token, message) in [
            (None, format!("missing `{TOKEN_HEADER}`")),
            (Some("guessed"), "unknown instance token".to_string()),
        ] {
            let refusals = [
                client.cast(with_token(send(), token)).await.unwrap_err(),
                client.call(with_token(send(), token)).await.unwrap_err(),
                client
                    .log(with_token(GuestLog::default(), token))
                    .await
                    .unwrap_err(),
                client.slf(with_token(Empty {}, token)).await.unwrap_err(),
            ];
            for refused in refusals {
                assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{token:?}");
                assert_eq!(refused.message(), message);
            }
        }
        server.abort();
    }
}
