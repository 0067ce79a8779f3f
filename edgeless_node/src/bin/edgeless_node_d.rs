//! The edgeless node daemon.

use clap::Parser;
use edgeless_node::Config;

/// Runs an edgeless node: function instances, their events, registration.
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
    edgeless_api::daemon::init_tracing();
    if let Some(path) = args.template {
        return edgeless_api::daemon::write_template(&path, &Config::template());
    }
    let config = match args.config_file.as_deref().map(Config::load).transpose() {
        Ok(config) => config.unwrap_or_default(),
        Err(error) => return edgeless_api::daemon::config_error(error),
    };
    edgeless_api::daemon::run_until_signal(|shutdown| edgeless_node::run(config, shutdown)).await
}
