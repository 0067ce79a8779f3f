//! The edgeless orchestrator daemon (ε-ORC): places a domain's instances on its nodes.

use clap::Parser;
use edgeless_api::daemon::{self, DaemonArgs};

/// The edgeless orchestrator daemon (ε-ORC): places a domain's instances on its nodes.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    daemon::main(
        args.daemon,
        edgeless_orc::config::template,
        edgeless_orc::run,
    )
    .await
}
