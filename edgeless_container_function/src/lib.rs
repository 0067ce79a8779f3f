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
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Settings::from_env`], with the variables from `lookup`.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |name: &str| {
            lookup(name).ok_or_else(|| {
                format!("{name} is not set: a container function is started by an edgeless node")
            })
        };
        let port = match lookup("EDGELESS_GUEST_PORT") {
            Some(port) => port
                .parse::<u16>()
                .map_err(|_| format!("EDGELESS_GUEST_PORT = {port:?} is not a port"))?,
            None => 7101,
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
    // The node keeps what the container prints with the function's log.
    println!(
        "edgeless container function: serving on {}",
        settings.listen
    );
    runtime.block_on(guest::serve(settings, handlers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn settings_come_from_the_environment_the_node_sets() {
        let read = settings(&[
            ("EDGELESS_HOST_URL", "http://172.17.0.1:4000"),
            ("EDGELESS_TOKEN", "secret"),
            ("EDGELESS_GUEST_PORT", "7200"),
        ])
        .unwrap();
        assert_eq!(read.host_url, "http://172.17.0.1:4000");
        assert_eq!(read.token, "secret");
        assert_eq!(read.listen, SocketAddr::from(([0, 0, 0, 0], 7200)));
        assert!(read.tls.is_none());
        let default_port =
            settings(&[("EDGELESS_HOST_URL", "http://h:1"), ("EDGELESS_TOKEN", "t")]).unwrap();
        assert_eq!(default_port.listen.port(), 7101);
    }

    #[test]
    fn missing_or_bad_settings_are_named() {
        let no_token = settings(&[("EDGELESS_HOST_URL", "http://h:1")]).unwrap_err();
        assert!(
            no_token.starts_with("EDGELESS_TOKEN is not set"),
            "{no_token}"
        );
        let no_host = settings(&[("EDGELESS_TOKEN", "t")]).unwrap_err();
        assert!(
            no_host.starts_with("EDGELESS_HOST_URL is not set"),
            "{no_host}"
        );
        let bad_port = settings(&[
            ("EDGELESS_HOST_URL", "http://h:1"),
            ("EDGELESS_TOKEN", "t"),
            ("EDGELESS_GUEST_PORT", "70000"),
        ])
        .unwrap_err();
        assert_eq!(bad_port, "EDGELESS_GUEST_PORT = \"70000\" is not a port");
        // An https host needs the link's certificates.
        let no_cert = settings(&[
            ("EDGELESS_HOST_URL", "https://h:1"),
            ("EDGELESS_TOKEN", "t"),
        ])
        .unwrap_err();
        assert!(
            no_cert.starts_with("EDGELESS_TLS_HOST_CERT is not set"),
            "{no_cert}"
        );
    }
}
