//! The edgeless controller daemon (ε-CON): the workflow API of the cluster.

use clap::Parser;
use edgeless_api::daemon::{self, DaemonArgs};

/// The edgeless controller daemon (ε-CON): the workflow API of the cluster.
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
        edgeless_con::config::template,
        edgeless_con::run,
    )
    .await
}
