//! The subcommands, one module each.

mod completions;
mod container_image;
mod context;
mod domain;
mod function;
mod logs;
mod migrate;
mod node;
mod scaffold;
mod tls;
mod token;
mod version;
mod workflow;
mod workflow_view;

use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use edgeless_api::client::Channel;
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;

use crate::config::Cluster;
use crate::error::CliError;
use crate::output::out;

/// What every command may use: the cluster, the output format and the
/// deadline of each request.
pub struct Session {
    /// The cluster to talk to.
    pub cluster: Cluster,
    /// How results are printed.
    pub output: Output,
    /// The connect timeout and deadline of every request.
    pub timeout: Duration,
    /// The same for requests that deploy (start, apply, stop): they wait
    /// for functions to compile and containers to start.
    pub deploy_timeout: Duration,
}

/// A subcommand.
#[derive(Subcommand)]
pub enum Command {
    /// Start, stop, list and inspect workflows.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// List and inspect orchestration domains.
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// The nodes of every domain.
    #[command(subcommand)]
    Node(node::NodeCommand),
    /// Build functions and send them events.
    #[command(subcommand)]
    Function(function::FunctionCommand),
    /// Certificates for TLS with mutual authentication.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Bearer tokens for clusters without TLS: create, list, revoke.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Named clusters in the user's configuration file, and the current one.
    #[command(subcommand)]
    Context(context::ContextCommand),
    /// What happened in the cluster: workflows started and stopped,
    /// instances placed, re-created and failed, nodes and domains joining
    /// and lost.
    #[command(after_help = "Example: edgeless_cli events -f --workflow ping_pong")]
    Events {
        /// Only the events of this workflow (a name, id or unique id prefix
        /// of a running workflow, or a full id of a stopped one).
        #[arg(long)]
        workflow: Option<String>,
        /// Only the last N events recorded so far.
        #[arg(long)]
        tail: Option<u32>,
        /// Keep printing new events until interrupted (Ctrl-C).
        #[arg(short, long)]
        follow: bool,
    },
    /// This CLI's version and the controller's (with their API versions).
    #[command(after_help = "Example: edgeless_cli version -o json")]
    Version,
    /// Print a shell completion script.
    #[command(
        after_help = "Example: edgeless_cli completions bash > /etc/bash_completion.d/edgeless_cli"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// How results are printed.
#[derive(Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned tables and lines for people.
    #[default]
    Text,
    /// Tables with every column.
    Wide,
    /// JSON, with the same fields as the tables.
    Json,
    /// YAML, with the same fields as the tables.
    Yaml,
}

/// Whether a command talks to the controller (and needs to know where it
/// is).
pub fn needs_cluster(command: &Command) -> bool {
    matches!(
        command,
        Command::Workflow(_)
            | Command::Domain(_)
            | Command::Node(_)
            | Command::Version
            | Command::Events { .. }
    )
}

/// Runs a subcommand.
pub async fn run(command: Command, session: &Session) -> Result<(), CliError> {
    match command {
        Command::Workflow(command) => workflow::run(command, session).await,
        Command::Domain(command) => domain::run(command, session).await,
        Command::Node(command) => node::run(command, session).await,
        Command::Function(command) => function::run(command, session).await,
        Command::Tls(command) => tls::run(command),
        Command::Token(command) => token::run(command, session.output),
        Command::Context(command) => context::run(command, session.output),
        Command::Version => version::run(session).await,
        Command::Events {
            workflow,
            tail,
            follow,
        } => {
            let workflow = match workflow {
                Some(given) => Some(workflow::resolve_or_id(session, &given).await?),
                None => None,
            };
            logs::events(session, workflow, tail, follow).await
        }
        Command::Completions { shell } => {
            completions::print(shell);
            Ok(())
        }
    }
}

/// A client of the controller's workflow API.
fn controller(session: &Session) -> Result<WorkflowInstanceClient<Channel>, CliError> {
    controller_within(session, session.timeout)
}

/// A client of the controller's workflow API for requests that deploy.
fn deploying_controller(session: &Session) -> Result<WorkflowInstanceClient<Channel>, CliError> {
    controller_within(session, session.deploy_timeout)
}

fn controller_within(
    session: &Session,
    timeout: Duration,
) -> Result<WorkflowInstanceClient<Channel>, CliError> {
    let cluster = &session.cluster;
    present_credentials(session)?;
    let channel = edgeless_api::client::channel_with_timeouts(
        &cluster.controller_url,
        session.timeout,
        timeout,
    )
    .map_err(|e| CliError::Input(anyhow::anyhow!("controller_url: {e}")))?;
    Ok(WorkflowInstanceClient::new(channel)
        .max_decoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE)
        .max_encoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE))
}

/// Sets up what this CLI presents to the cluster: its TLS certificate and
/// its token (`EDGELESS_TOKEN`, else the configuration's `token_file`).
fn present_credentials(session: &Session) -> Result<(), CliError> {
    let cluster = &session.cluster;
    edgeless_api::tls::install(&cluster.tls).map_err(|e| CliError::Input(e.into()))?;
    let token = match std::env::var("EDGELESS_TOKEN") {
        Ok(token) if !token.trim().is_empty() => token,
        _ if cluster.token_file.is_empty() => return Ok(()),
        _ => std::fs::read_to_string(&cluster.token_file).map_err(|e| {
            CliError::Input(anyhow::anyhow!(
                "token_file = {:?}: {e}",
                cluster.token_file
            ))
        })?,
    };
    edgeless_api::auth::use_token(token.trim())
        .map_err(|e| CliError::Input(anyhow::anyhow!("the token: {e}")))
}

/// Prints `value` as JSON or YAML (for `-o json|yaml`).
fn print_data(value: &impl serde::Serialize, output: Output) -> Result<(), CliError> {
    let text = match output {
        Output::Yaml => serde_yaml::to_string(value).map_err(|e| CliError::Input(e.into()))?,
        _ => serde_json::to_string_pretty(value).map_err(|e| CliError::Input(e.into()))?,
    };
    out!("{}", text.trim_end());
    Ok(())
}

/// An aligned table with `header`, for `-o text|wide`, in one write (a
/// listing of thousands of rows is not thousands of system calls).
fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    out!("{}", crate::table::render(header, &rows));
}
