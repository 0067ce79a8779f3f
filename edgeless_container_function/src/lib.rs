//! Runs an edgeless function as a container function.
//!
//! A function is written once against [`edgeless_function`]: the
//! [`EdgeFunction`] trait and the free functions `cast`, `call`, `sync`...
//! Compiled to WebAssembly it is a `RUST_WASM` function; compiled natively
//! with a `main` that calls [`serve`] it is a `CONTAINER` function:
//!
//! ```text
//! fn main() {
//!     edgeless_container_function::serve::<pong::Pong>();
//! }
//! ```
//!
//! [`serve`] reads its settings from the environment the node gives the
//! container (`EDGELESS_HOST_URL`, `EDGELESS_TOKEN`, `EDGELESS_GUEST_PORT`),
//! serves the guest side of the function interface over gRPC and routes the
//! function's `cast`/`call`/`log`... to the node. Handlers run one event at
//! a time on their own thread, as in WebAssembly. A panic in a handler ends
//! the process with code 101 (the node reports the failure with the panic
//! message from the container's output).
//!
//! `edgeless_cli function build-container DIR --tag IMAGE` builds such a
//! function into an image `FROM scratch` with a static (musl) binary.

mod guest;
mod host;

pub use edgeless_function::{CallRet, EdgeFunction, InstanceId};

use std::net::SocketAddr;

/// What the node tells the container through its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The node's `FunctionHost` service.
    pub host_url: String,
    /// The instance's secret, sent with every request in both directions.
    pub token: String,
    /// Where to serve `FunctionGuest`.
    pub listen: SocketAddr,
    /// Encryption of the link to the node, when the node runs TLS.
    pub tls: Option<LinkTls>,
}

/// The container's side of an encrypted link (PEM texts): the node's
/// host-service certificate to pin, and this instance's own certificate and
/// key.
#[derive(Debug, Clone)]
pub struct LinkTls {
    /// `EDGELESS_TLS_HOST_CERT`.
    pub host_cert: String,
    /// `EDGELESS_TLS_CERT`.
    pub cert: String,
    /// `EDGELESS_TLS_KEY`.
    pub key: String,
}

/// The name in the node's host-service certificate.
const HOST_NAME: &str = "edgeless-node";

impl Settings {
    /// Reads `EDGELESS_HOST_URL`, `EDGELESS_TOKEN`, `EDGELESS_GUEST_PORT`
    /// (default 7101) and, for an encrypted link, `EDGELESS_TLS_HOST_CERT`,
    /// `EDGELESS_TLS_CERT` and `EDGELESS_TLS_KEY`.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: a container function is started by an edgeless node")
            })
        };
        let port = match std::env::var("EDGELESS_GUEST_PORT") {
            Ok(port) => port
                .parse::<u16>()
                .map_err(|_| format!("EDGELESS_GUEST_PORT = {port:?} is not a port"))?,
            Err(_) => 7101,
        };
        let host_url = var("EDGELESS_HOST_URL")?;
        let tls = if host_url.starts_with("https://") {
            Some(LinkTls {
                host_cert: var("EDGELESS_TLS_HOST_CERT")?,
                cert: var("EDGELESS_TLS_CERT")?,
                key: var("EDGELESS_TLS_KEY")?,
            })
        } else {
            None
        };
        Ok(Self {
            host_url,
            token: var("EDGELESS_TOKEN")?,
            listen: SocketAddr::from(([0, 0, 0, 0], port)),
            tls,
        })
    }
}

/// Serves function `F` with the settings from the environment until the
/// node stops it. Exits the process with code 2 when the settings are
/// missing or the port cannot be bound.
pub fn serve<F: EdgeFunction + 'static>() {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("edgeless container function: {error}");
            std::process::exit(2);
        }
    };
    if let Err(error) = serve_with::<F>(settings) {
        eprintln!("edgeless container function: {error}");
        std::process::exit(2);
    }
}

/// Serves function `F` with the given settings until the node stops it.
pub fn serve_with<F: EdgeFunction + 'static>(settings: Settings) -> Result<(), String> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default_hook(info);
        std::process::exit(101);
    }));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let host = host::GrpcHost::new(&settings, runtime.handle().clone())?;
    let instance = host.instance_slot();
    edgeless_function::native::install(Box::new(host));
    let handlers = guest::spawn_handlers::<F>(instance);
    runtime.block_on(guest::serve(settings, handlers))
}
