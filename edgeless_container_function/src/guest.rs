//! The guest side of the function interface: a `FunctionGuest` gRPC server
//! that hands each request to the handler thread, where the function's
//! handlers run one at a time.

use std::sync::Arc;

use edgeless_api::proto::function_guest_server::{FunctionGuest, FunctionGuestServer};
use edgeless_api::proto::{self, CallResult, Empty, GuestEvent, GuestInit};
use edgeless_function::{CallRet, EdgeFunction};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status};

use crate::Settings;
use crate::host::{InstanceSlot, from_proto};
use edgeless_api::client::TOKEN_HEADER;

/// One request for the handler thread.
enum Job {
    Init(GuestInit, oneshot::Sender<()>),
    Cast(GuestEvent, oneshot::Sender<()>),
    Call(GuestEvent, oneshot::Sender<CallRet>),
    Stop(oneshot::Sender<()>),
}

/// Where requests go to be handled.
#[derive(Clone)]
pub(crate) struct Handlers {
    jobs: mpsc::Sender<Job>,
}

/// Starts the thread that runs `F`'s handlers.
pub(crate) fn spawn_handlers<F: EdgeFunction + 'static>(instance: InstanceSlot) -> Handlers {
    let (jobs, mut queue) = mpsc::channel::<Job>(64);
    std::thread::Builder::new()
        .name("handlers".into())
        .spawn(move || {
            while let Some(job) = queue.blocking_recv() {
                match job {
                    Job::Init(init, done) => {
                        let _ = instance.set(from_proto(init.instance.as_ref()));
                        F::handle_init(
                            init.init_payload.as_deref(),
                            init.serialized_state.as_deref(),
                        );
                        let _ = done.send(());
                    }
                    Job::Cast(event, done) => {
                        F::handle_cast(from_proto(event.source.as_ref()), &event.payload);
                        let _ = done.send(());
                    }
                    Job::Call(event, done) => {
                        let ret = F::handle_call(from_proto(event.source.as_ref()), &event.payload);
                        let _ = done.send(ret);
                    }
                    Job::Stop(done) => {
                        F::handle_stop();
                        let _ = done.send(());
                    }
                }
            }
        })
        .expect("the handler thread can be spawned");
    Handlers { jobs }
}

impl Handlers {
    async fn run<T>(&self, job: impl FnOnce(oneshot::Sender<T>) -> Job) -> Result<T, Status> {
        let (done, result) = oneshot::channel();
        self.jobs
            .send(job(done))
            .await
            .map_err(|_| Status::unavailable("the function's handlers have ended"))?;
        result
            .await
            .map_err(|_| Status::internal("the handler did not finish"))
    }
}

struct GuestService {
    handlers: Handlers,
    stopped: Arc<tokio::sync::Notify>,
}

#[tonic::async_trait]
impl FunctionGuest for GuestService {
    async fn init(&self, request: Request<GuestInit>) -> Result<Response<Empty>, Status> {
        let init = request.into_inner();
        self.handlers.run(|done| Job::Init(init, done)).await?;
        Ok(Response::new(Empty {}))
    }

    async fn cast(&self, request: Request<GuestEvent>) -> Result<Response<Empty>, Status> {
        let event = request.into_inner();
        self.handlers.run(|done| Job::Cast(event, done)).await?;
        Ok(Response::new(Empty {}))
    }

    async fn call(&self, request: Request<GuestEvent>) -> Result<Response<CallResult>, Status> {
        use proto::call_result::Kind;
        let event = request.into_inner();
        let ret = self.handlers.run(|done| Job::Call(event, done)).await?;
        let result = match ret {
            CallRet::NoReply => CallResult {
                kind: Kind::NoReply as i32,
                ..Default::default()
            },
            CallRet::Reply(payload) => CallResult {
                kind: Kind::Reply as i32,
                payload: payload.into_vec().into(),
                ..Default::default()
            },
            CallRet::Err => CallResult {
                kind: Kind::Err as i32,
                error: "the function returned an error".into(),
                ..Default::default()
            },
        };
        Ok(Response::new(result))
    }

    async fn stop(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        self.handlers.run(Job::Stop).await?;
        self.stopped.notify_one();
        Ok(Response::new(Empty {}))
    }
}

/// Serves `FunctionGuest` on `settings.listen` until `Stop`; every request
/// must carry the token.
pub(crate) async fn serve(settings: Settings, handlers: Handlers) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    serve_on(listener, settings, handlers).await
}

/// Serves `FunctionGuest` from `listener` until `Stop`.
async fn serve_on(
    listener: tokio::net::TcpListener,
    settings: Settings,
    handlers: Handlers,
) -> Result<(), String> {
    let stopped = Arc::new(tokio::sync::Notify::new());
    let token = settings.token.clone();
    let check_token = move |request: Request<()>| {
        let given = request
            .metadata()
            .get(TOKEN_HEADER)
            .and_then(|t| t.to_str().ok());
        let matches = given.is_some_and(|given| {
            edgeless_api::secrets::constant_time_eq(given.as_bytes(), token.as_bytes())
        });
        if matches {
            Ok(request)
        } else {
            Err(Status::unauthenticated("wrong or missing instance token"))
        }
    };
    let service = FunctionGuestServer::with_interceptor(
        GuestService {
            handlers,
            stopped: stopped.clone(),
        },
        check_token,
    );
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &settings.tls {
        let identity = tonic::transport::Identity::from_pem(&tls.cert, &tls.key);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| format!("EDGELESS_TLS_CERT / EDGELESS_TLS_KEY: {e}"))?;
    }
    builder
        .add_service(service)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                stopped.notified().await;
                // Let the answer to Stop reach the node.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            },
        )
        .await
        .map_err(|e| format!("the function interface failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeless_api::proto::function_guest_client::FunctionGuestClient;
    use edgeless_function::InstanceId;

    /// Answers a call with its payload reversed; counts what it handled.
    struct Reverser;

    static HANDLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    impl EdgeFunction for Reverser {
        fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {}
        fn handle_cast(_src: InstanceId, _message: &[u8]) {
            HANDLED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
            HANDLED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            CallRet::Reply(message.iter().rev().copied().collect::<Vec<u8>>().into())
        }
        fn handle_stop() {}
    }

    fn request<T>(message: T, token: Option<&str>) -> Request<T> {
        let mut request = Request::new(message);
        if let Some(token) = token {
            request
                .metadata_mut()
                .insert(TOKEN_HEADER, token.parse().unwrap());
        }
        request
    }

    #[tokio::test]
    async fn only_the_instance_token_opens_the_function_interface() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let settings = Settings {
            host_url: "http://127.0.0.1:9".into(),
            token: "the-secret".into(),
            listen: listener.local_addr().unwrap(),
            tls: None,
        };
        let handlers = spawn_handlers::<Reverser>(Default::default());
        let server = tokio::spawn(serve_on(listener, settings, handlers));
        let mut client = FunctionGuestClient::connect(url).await.unwrap();
        let event = || GuestEvent {
            payload: b"abc".to_vec().into(),
            ..Default::default()
        };
        for token in [None, Some("wrong"), Some("the-secret ")] {
            let refused = client.call(request(event(), token)).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{token:?}");
            assert_eq!(refused.message(), "wrong or missing instance token");
            let refused = client.cast(request(event(), token)).await.unwrap_err();
            assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{token:?}");
        }
        assert_eq!(
            HANDLED.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "nothing reached the function"
        );
        let answer = client
            .call(request(event(), Some("the-secret")))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(answer.kind, proto::call_result::Kind::Reply as i32);
        assert_eq!(&answer.payload[..], b"cba");
        // Stop ends the server.
        client
            .stop(request(Empty {}, Some("the-secret")))
            .await
            .unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), server)
            .await
            .expect("the server ends after Stop")
            .unwrap()
            .unwrap();
    }
}
