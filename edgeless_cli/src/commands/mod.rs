//! The subcommands, one module each.

mod container_image;
mod domain;
mod function;
mod tls;
mod workflow;

use crate::output::out;
use clap::{Subcommand, ValueEnum};
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;
use tonic::transport::Channel;

use crate::config::Config;
use crate::error::CliError;

/// A subcommand.
#[derive(Subcommand)]
pub enum Command {
    /// Start, stop, list and inspect workflows.
    #[command(subcommand)]
    Workflow(workflow::WorkflowCommand),
    /// List and inspect orchestration domains.
    #[command(subcommand)]
    Domain(domain::DomainCommand),
    /// Build functions and send them events.
    #[command(subcommand)]
    Function(function::FunctionCommand),
    /// Certificates for TLS with mutual authentication.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
}

/// How listings are printed.
#[derive(Clone, Copy, Default, ValueEnum)]
pub enum Output {
    /// Lines for people and scripts.
    #[default]
    Text,
    /// JSON.
    Json,
}

/// Runs a subcommand.
pub async fn run(command: Command, config: &Config) -> Result<(), CliError> {
    match command {
        Command::Workflow(command) => workflow::run(command, config).await,
        Command::Domain(command) => domain::run(command, config).await,
        Command::Function(command) => function::run(command).await,
        Command::Tls(command) => tls::run(command),
    }
}

/// A client of the controller's workflow API.
fn controller(config: &Config) -> Result<WorkflowInstanceClient<Channel>, CliError> {
    edgeless_api::tls::install(&config.tls).map_err(|e| CliError::Input(e.into()))?;
    let channel = edgeless_api::client::channel(&config.controller_url)
        .map_err(|e| CliError::Input(anyhow::anyhow!("controller_url: {e}")))?;
    Ok(WorkflowInstanceClient::new(channel)
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX))
}

fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::Input(e.into()))?;
    out!("{text}");
    Ok(())
}
