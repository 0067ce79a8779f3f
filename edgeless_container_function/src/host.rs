//! The function's view of the platform: each `edgeless_function::cast`,
//! `call`, `sync`... becomes a request to the node's `FunctionHost`
//! service. Handlers run on their own thread, so a request blocks that
//! thread (as a host call blocks a WASM instance) while the async runtime
//! carries it.

use std::sync::{Arc, OnceLock};

use edgeless_api::client::TokenInterceptor;
use edgeless_api::proto::function_host_client::FunctionHostClient;
use edgeless_api::proto::{self, GuestLog, GuestState, HostDelayedCast, HostSend, host_send};
use edgeless_function::{CallRet, InstanceId, SendError, SyncError};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::Settings;

/// This instance's id, known once `handle_init` is called.
pub(crate) type InstanceSlot = Arc<OnceLock<InstanceId>>;

pub(crate) struct GrpcHost {
    runtime: tokio::runtime::Handle,
    client: FunctionHostClient<InterceptedService<Channel, TokenInterceptor>>,
    instance: InstanceSlot,
}

impl GrpcHost {
    pub fn new(settings: &Settings, runtime: tokio::runtime::Handle) -> Result<Self, String> {
        let bad_url = |e: tonic::transport::Error| {
            format!("EDGELESS_HOST_URL = {:?}: {e}", settings.host_url)
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(settings.host_url.clone())
            .map_err(bad_url)?
            .tcp_nodelay(true);
        if let Some(tls) = &settings.tls {
            let config = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&tls.host_cert))
                .domain_name(crate::HOST_NAME);
            endpoint = endpoint.tls_config(config).map_err(bad_url)?;
        }
        let token = TokenInterceptor::new(&settings.token)
            .ok_or("EDGELESS_TOKEN is not printable ASCII")?;
        let channel = {
            let _entered = runtime.enter();
            endpoint.connect_lazy()
        };
        Ok(Self {
            runtime,
            client: FunctionHostClient::with_interceptor(channel, token),
            instance: InstanceSlot::default(),
        })
    }

    pub fn instance_slot(&self) -> InstanceSlot {
        self.instance.clone()
    }

    /// Runs a request to the node to completion, blocking the calling
    /// thread; `None` on a thread of the async runtime itself (where
    /// blocking is impossible: e.g. a library logging from inside it).
    fn blocking<F: Future>(&self, request: F) -> Option<F::Output> {
        if tokio::runtime::Handle::try_current().is_ok() {
            return None;
        }
        Some(self.runtime.block_on(request))
    }

    fn send(&self, target: host_send::Target, message: &[u8]) -> HostSend {
        HostSend {
            target: Some(target),
            payload: bytes::Bytes::copy_from_slice(message),
        }
    }

    fn cast_to(&self, target: host_send::Target, message: &[u8]) -> Result<(), SendError> {
        let request = self.send(target, message);
        let mut client = self.client.clone();
        match self.blocking(client.cast(request)) {
            Some(Ok(_)) => Ok(()),
            _ => Err(SendError),
        }
    }

    fn call_to(&self, target: host_send::Target, message: &[u8]) -> CallRet {
        let request = self.send(target, message);
        let mut client = self.client.clone();
        match self.blocking(client.call(request)) {
            Some(Ok(result)) => call_ret(result.into_inner()),
            _ => CallRet::Err,
        }
    }
}

/// A call's outcome as the function sees it.
pub(crate) fn call_ret(result: proto::CallResult) -> CallRet {
    use proto::call_result::Kind;
    match Kind::try_from(result.kind) {
        Ok(Kind::Reply) => CallRet::Reply(result.payload.to_vec().into()),
        Ok(Kind::NoReply) => CallRet::NoReply,
        _ => CallRet::Err,
    }
}

/// The proto form of an instance id.
pub(crate) fn to_proto(id: InstanceId) -> proto::InstanceId {
    proto::InstanceId {
        node_id: uuid::Uuid::from_bytes(id.node_id).to_string(),
        function_id: uuid::Uuid::from_bytes(id.component_id).to_string(),
    }
}

/// An instance id from its proto form (nil parts when malformed).
pub(crate) fn from_proto(id: Option<&proto::InstanceId>) -> InstanceId {
    let parse = |s: &str| uuid::Uuid::parse_str(s).unwrap_or_default().into_bytes();
    id.map(|id| InstanceId {
        node_id: parse(&id.node_id),
        component_id: parse(&id.function_id),
    })
    .unwrap_or_default()
}

impl edgeless_function::native::Host for GrpcHost {
    fn cast(&self, output: &str, message: &[u8]) -> Result<(), SendError> {
        self.cast_to(host_send::Target::Alias(output.to_string()), message)
    }

    fn cast_raw(&self, target: InstanceId, message: &[u8]) -> Result<(), SendError> {
        self.cast_to(host_send::Target::Instance(to_proto(target)), message)
    }

    fn call(&self, output: &str, message: &[u8]) -> CallRet {
        self.call_to(host_send::Target::Alias(output.to_string()), message)
    }

    fn call_raw(&self, target: InstanceId, message: &[u8]) -> CallRet {
        self.call_to(host_send::Target::Instance(to_proto(target)), message)
    }

    fn delayed_cast(&self, delay_ms: u64, output: &str, message: &[u8]) -> Result<(), SendError> {
        let request = HostDelayedCast {
            alias: output.to_string(),
            delay_ms,
            payload: bytes::Bytes::copy_from_slice(message),
        };
        let mut client = self.client.clone();
        match self.blocking(client.delayed_cast(request)) {
            Some(Ok(_)) => Ok(()),
            _ => Err(SendError),
        }
    }

    fn sync(&self, state: &[u8]) -> Result<(), SyncError> {
        let mut client = self.client.clone();
        let request = GuestState {
            state: state.to_vec(),
        };
        self.runtime
            .block_on(client.sync(request))
            .map(|_| ())
            .map_err(|_| SyncError)
    }

    fn telemetry_log(&self, level: usize, target: &str, message: &str) {
        let mut client = self.client.clone();
        let request = GuestLog {
            level: level as i32,
            target: target.to_string(),
            message: message.to_string(),
        };
        // Lines from inside the async runtime (libraries logging) cannot
        // be sent: their warnings and errors, and lines the node does not
        // take, stay in the container's output.
        match self.blocking(client.log(request)) {
            Some(Ok(_)) => {}
            None if level > 2 => {}
            _ => eprintln!("{target}: {message}"),
        }
    }

    fn slf(&self) -> InstanceId {
        self.instance.get().copied().unwrap_or_default()
    }
}
