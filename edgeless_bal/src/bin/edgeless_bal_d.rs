//! The edgeless balancer daemon (ε-BAL).

use clap::Parser;
use edgeless_api::daemon::{self, DaemonArgs};

/// The edgeless balancer daemon (ε-BAL).
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
        || edgeless_bal::TEMPLATE.to_string(),
        edgeless_bal::run,
    )
    .await
}
