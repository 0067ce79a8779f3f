//! The edgeless orchestrator daemon (ε-ORC).

use clap::Parser;
use edgeless_api::daemon;
use edgeless_orc::{Config, config::TEMPLATE};

/// Runs an edgeless orchestrator: places a domain's instances on its nodes.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The configuration file (built-in defaults when absent).
    #[arg(short = 'c', long)]
    config_file: Option<std::path::PathBuf>,
    /// Write a commented configuration template to FILE and exit.
    #[arg(short = 't', long, value_name = "FILE")]
    template: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    daemon::init_tracing();
    if let Some(path) = args.template {
        return daemon::write_template(&path, TEMPLATE);
    }
    let config: Config = match args.config_file.as_deref().map(daemon::load_config).transpose() {
        Ok(config) => config.unwrap_or_default(),
        Err(error) => return daemon::config_error(error),
    };
    daemon::run_until_signal(|shutdown| edgeless_orc::run(config, shutdown)).await
}
