//! `edgeless_cli`: start and inspect workflows, build and invoke functions,
//! list domains. Data goes to stdout, diagnostics to stderr.
//!
//! Exit codes: 0 ok, 1 rejected or failed, 2 usage or invalid input,
//! 3 not found, 4 server unreachable, 141 stdout closed early.

mod commands;
mod config;
mod error;
mod output;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::commands::Command;

/// The edgeless command line.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Example: edgeless_cli workflow start examples/ping_pong/workflow.json"
)]
pub(crate) struct Args {
    /// The CLI configuration (default: ./cli.toml if present, else the
    /// current context of ~/.config/edgeless/cli.toml, else built-in
    /// defaults).
    #[arg(
        short = 'c',
        long,
        value_name = "FILE",
        global = true,
        env = "EDGELESS_CONFIG"
    )]
    config_file: Option<std::path::PathBuf>,
    /// The controller's workflow API; wins over every configuration file.
    #[arg(
        long,
        value_name = "URL",
        global = true,
        env = "EDGELESS_CONTROLLER_URL"
    )]
    controller_url: Option<String>,
    /// How results are printed.
    #[arg(short = 'o', long, value_enum, default_value_t, global = true)]
    output: commands::Output,
    /// Seconds a connection and each request may take (default 10; 120
    /// for requests that deploy: workflow start, apply and stop).
    #[arg(long, value_name = "SECONDS", global = true)]
    timeout: Option<f64>,
    /// Write a commented CLI configuration template to FILE and exit.
    #[arg(short = 't', long, value_name = "FILE")]
    template: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                error::EXIT_USAGE
            } else {
                0
            });
        }
    };
    let result = run(args).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

async fn run(args: Args) -> Result<(), error::CliError> {
    if let Some(path) = args.template {
        edgeless_api::daemon::write_template_file(&path, config::TEMPLATE)
            .map_err(error::CliError::Input)?;
        eprintln!("wrote {}", path.display());
        return Ok(());
    }
    let Some(command) = args.command else {
        return Err(error::CliError::Usage(
            "no command given; try `edgeless_cli --help`".to_string(),
        ));
    };
    if let Some(timeout) = args.timeout
        && !(timeout > 0.0 && timeout <= 3600.0)
    {
        return Err(error::CliError::Usage(format!(
            "--timeout {timeout} is not a number of seconds between 0 and 3600"
        )));
    }
    let cluster = if commands::needs_cluster(&command) {
        config::resolve(args.controller_url.as_deref(), args.config_file.as_deref())?.0
    } else {
        config::Cluster::default()
    };
    let session = commands::Session {
        cluster,
        output: args.output,
        timeout: std::time::Duration::from_secs_f64(args.timeout.unwrap_or(10.0)),
        deploy_timeout: std::time::Duration::from_secs_f64(args.timeout.unwrap_or(120.0)),
    };
    commands::run(command, &session).await
}
