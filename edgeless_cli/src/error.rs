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

#[cfg(test)]
mod tests {
    use super::*;

    /// A transport failure as tonic reports it: a status with causes.
    fn transport(cause: &str) -> tonic::Status {
        let io = std::io::Error::other(cause.to_string());
        let mut status = tonic::Status::unknown("transport error");
        status.set_source(std::sync::Arc::new(io));
        status
    }

    #[test]
    fn causes_are_shown_once_each() {
        let status = transport("connection refused");
        assert_eq!(with_causes(&status), "transport error: connection refused");
        let same = transport("transport error");
        assert_eq!(with_causes(&same), "transport error");
        assert_eq!(with_causes(&tonic::Status::not_found("gone")), "gone");
    }

    #[test]
    fn unreachable_servers_are_named_with_a_hint_for_their_kind() {
        let url = "http://127.0.0.1:1";
        let controller = CliError::from_status(url, transport("connection refused"));
        assert_eq!(controller.exit_code(), EXIT_UNREACHABLE);
        let text = controller.to_string();
        assert!(
            text.starts_with(
                "cannot reach http://127.0.0.1:1: transport error: connection refused"
            ),
            "{text}"
        );
        assert!(text.contains("hint: is the controller"), "{text}");
        let node = CliError::from_server_status(Server::Node, url, transport("connection refused"));
        assert!(
            node.to_string().contains("hint: is the node running"),
            "{node}"
        );
        let late = CliError::from_status(url, tonic::Status::cancelled("Timeout expired"));
        assert_eq!(late.exit_code(), EXIT_UNREACHABLE);
        assert!(
            late.to_string()
                .contains("no answer in time (Timeout expired; see --timeout)")
        );
        let refused = CliError::from_status(url, tonic::Status::unavailable("connection refused"));
        assert_eq!(refused.exit_code(), EXIT_UNREACHABLE);
        assert!(
            refused
                .to_string()
                .contains("cannot reach http://127.0.0.1:1: connection refused")
        );
        let other = CliError::from_status(url, tonic::Status::unimplemented(""));
        assert!(
            other.to_string().contains("it does not serve this API"),
            "{other}"
        );
    }

    #[test]
    fn refusals_keep_their_message_or_say_they_had_none() {
        let url = "http://127.0.0.1:1";
        let refused =
            CliError::from_status(url, tonic::Status::failed_precondition("no node fits"));
        assert_eq!(refused.exit_code(), EXIT_FAILED);
        assert_eq!(refused.to_string(), "no node fits");
        let silent = CliError::from_status(url, tonic::Status::internal(""));
        assert_eq!(
            silent.to_string(),
            "http://127.0.0.1:1 answered Internal without saying why"
        );
        let missing = CliError::from_status(url, tonic::Status::not_found("no workflow x"));
        assert_eq!(missing.exit_code(), EXIT_NOT_FOUND);
        let bad = CliError::from_status(url, tonic::Status::invalid_argument("bad id"));
        assert_eq!(bad.exit_code(), EXIT_USAGE);
    }

    #[test]
    fn tls_mismatches_are_named() {
        let plain =
            CliError::from_status("http://h:1", transport("h2 protocol error: http2 error"));
        assert!(
            plain.to_string().contains("does the server use TLS?"),
            "{plain}"
        );
        let refused = CliError::from_status(
            "https://h:1",
            transport("received fatal alert: DecryptError"),
        );
        assert!(
            refused
                .to_string()
                .contains("is the [tls] cert signed by the cluster's CA?"),
            "{refused}"
        );
    }
}
