//! CLI errors and their exit codes.

/// A rejected or failed request.
pub const EXIT_FAILED: u8 = 1;
/// Bad usage or invalid input.
pub const EXIT_USAGE: u8 = 2;
/// The thing asked for does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 4;

/// A status's message followed by its causes, each once.
fn with_causes(status: &tonic::Status) -> String {
    let mut text = status.message().to_string();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What went wrong, with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad command line.
    #[error("{0}")]
    Usage(String),
    /// A file or its content is wrong.
    #[error("{0:#}")]
    Input(anyhow::Error),
    /// The server refused the request.
    #[error("{0}")]
    Rejected(String),
    /// The thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The server is unreachable.
    #[error("cannot reach {url}: {detail}\nhint: {hint}")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the transport said.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
}

/// Which server a request went to, for the hint of an unreachable one.
#[derive(Clone, Copy)]
pub enum Server {
    /// The controller's workflow API.
    Controller,
    /// A node's dataplane.
    Node,
}

impl Server {
    fn hint(self) -> &'static str {
        match self {
            Server::Controller => {
                "is the controller (edgeless_con_d or edgeless_inabox) running, and is this its URL (--controller-url, EDGELESS_CONTROLLER_URL, cli.toml, or the current context)?"
            }
            Server::Node => {
                "is the node running, and is this its invocation_url (node.toml, or `domain view`)?"
            }
        }
    }
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Input(_) => EXIT_USAGE,
            CliError::Rejected(_) => EXIT_FAILED,
            CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Unreachable { .. } => EXIT_UNREACHABLE,
        }
    }

    /// Maps a gRPC status from the controller at `url`.
    pub fn from_status(url: &str, status: tonic::Status) -> Self {
        Self::from_server_status(Server::Controller, url, status)
    }

    /// Maps a gRPC status from `server` at `url`.
    pub fn from_server_status(server: Server, url: &str, status: tonic::Status) -> Self {
        let unreachable = |hint: &str| CliError::Unreachable {
            url: url.to_string(),
            detail: format!("{} ({hint})", with_causes(&status)),
            hint: server.hint(),
        };
        let text = with_causes(&status);
        // A connection the server ends at once: plain HTTP/2 against a TLS
        // listener, or a client certificate the server does not accept.
        let broken = [
            "h2 protocol error",
            "broken pipe",
            "connection reset",
            "connection closed",
            "operation was canceled",
            "alert",
        ];
        if broken.iter().any(|b| text.contains(b)) {
            if url.starts_with("http://") {
                return unreachable(
                    "does the server use TLS? then use an https:// URL and a [tls] section",
                );
            }
            return unreachable(
                "the server closed the connection: is the [tls] cert signed by the cluster's CA?",
            );
        }
        if status.message() == "transport error" {
            return CliError::Unreachable {
                url: url.to_string(),
                detail: text,
                hint: server.hint(),
            };
        }
        match status.code() {
            // The deadline of `--timeout` ran out.
            tonic::Code::Cancelled | tonic::Code::DeadlineExceeded => CliError::Unreachable {
                url: url.to_string(),
                detail: format!("no answer in time ({}; see --timeout)", status.message()),
                hint: server.hint(),
            },
            // Another service (another edgeless daemon's port, say).
            tonic::Code::Unimplemented => CliError::Unreachable {
                url: url.to_string(),
                detail: "it does not serve this API (is it another service's port?)".into(),
                hint: server.hint(),
            },
            tonic::Code::Unavailable => CliError::Unreachable {
                url: url.to_string(),
                detail: text,
                hint: server.hint(),
            },
            tonic::Code::NotFound => CliError::NotFound(status.message().to_string()),
            tonic::Code::InvalidArgument => {
                CliError::Input(anyhow::anyhow!(status.message().to_string()))
            }
            _ if text.trim().is_empty() => CliError::Rejected(format!(
                "{url} answered {:?} without saying why",
                status.code()
            )),
            _ => CliError::Rejected(text),
        }
    }
}
