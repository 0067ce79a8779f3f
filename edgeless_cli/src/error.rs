//! CLI errors and their exit codes.

/// A rejected or failed request.
pub const EXIT_FAILED: u8 = 1;
/// Bad usage or invalid input.
pub const EXIT_USAGE: u8 = 2;
/// The thing asked for does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;
/// The server could not be reached.
pub const EXIT_UNREACHABLE: u8 = 4;

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
    #[error(
        "cannot reach {url}: {detail}\nhint: is the controller (edgeless_con_d or edgeless_inabox) running, and is controller_url in cli.toml right?"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What the transport said.
        detail: String,
    },
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

    /// Maps a gRPC status from the server at `url`.
    pub fn from_status(url: &str, status: tonic::Status) -> Self {
        match status.code() {
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => CliError::Unreachable {
                url: url.to_string(),
                detail: status.message().to_string(),
            },
            tonic::Code::NotFound => CliError::NotFound(status.message().to_string()),
            tonic::Code::InvalidArgument => {
                CliError::Input(anyhow::anyhow!(status.message().to_string()))
            }
            _ => CliError::Rejected(status.message().to_string()),
        }
    }
}
