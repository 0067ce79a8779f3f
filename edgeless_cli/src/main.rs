//! `edgeless_cli`: start and inspect workflows, build and invoke functions,
//! list domains. Data goes to stdout, diagnostics to stderr.
//!
//! Exit codes: 0 ok, 1 rejected or failed, 2 usage or invalid input,
//! 3 not found, 4 server unreachable, 141 stdout closed early.

mod commands;
mod config;
mod error;
mod output;

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
struct Args {
    /// The CLI configuration (default: ./cli.toml if present, else built-in defaults).
    #[arg(short = 'c', long, value_name = "FILE")]
    config_file: Option<std::path::PathBuf>,
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
    let config = config::Config::load(args.config_file.as_deref())?;
    commands::run(command, &config).await
}
