//! The edgeless node daemon: runs function instances and carries their events.

use clap::Parser;
use edgeless_api::daemon::{self, DaemonArgs};

/// See the `mimalloc` feature.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The edgeless node daemon: runs function instances and carries their events.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    daemon: DaemonArgs,
    /// Print every resource provider type (version, configuration, outputs) and exit.
    #[arg(long)]
    available_resources: bool,
    /// With --available-resources: print them as a JSON array.
    #[arg(long, requires = "available_resources")]
    output_json: bool,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.available_resources {
        if args.output_json {
            println!("{}", edgeless_node::resources::catalog_json());
        } else {
            edgeless_node::resources::print_catalog();
        }
        return std::process::ExitCode::SUCCESS;
    }
    daemon::main(
        args.daemon,
        edgeless_node::Config::template,
        edgeless_node::run,
    )
    .await
}
