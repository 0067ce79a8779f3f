//! EDGELESS-in-a-box: controller, orchestrator, balancer and nodes in one process.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use edgeless_api::daemon;
use edgeless_api::server::ListeningReport;
use edgeless_inabox::Layout;

/// See the `mimalloc` feature.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a whole edgeless cluster in one process.
#[derive(Parser)]
#[command(
    version,
    about,
    after_help = "Example: edgeless_inabox -t -n 2 && edgeless_inabox"
)]
struct Args {
    /// Write the configuration files and exit.
    #[arg(short = 't', long)]
    templates: bool,
    /// Where the configuration files are (read or written).
    #[arg(long, default_value = ".")]
    config_path: PathBuf,
    /// With -t: the number of nodes.
    #[arg(short = 'n', long, default_value_t = 1)]
    num_of_nodes: usize,
    /// With -t: the first port to use (7000: the controller gets 7001 and
    /// 7002); 0 lets every component take a free port when it starts.
    #[arg(long, default_value_t = 7000)]
    initial_port: u16,
    /// Once every component listens, write their URLs to FILE (TOML,
    /// `component.key = "url"`, e.g. `controller.controller_url`).
    #[arg(long, value_name = "FILE")]
    listening_file: Option<PathBuf>,
    /// With -t: enable the container runtime on every node (Docker on
    /// /var/run/docker.sock).
    #[arg(long)]
    containers: bool,
    /// With -t: add a node with a metrics-collector provider and mirror the
    /// orchestrator's state, both into Redis at redis://127.0.0.1:6379.
    #[arg(long)]
    metrics_collector: bool,
    /// How log lines look: text, or json (default: EDGELESS_LOG_FORMAT,
    /// else text).
    #[arg(long, value_enum)]
    log_format: Option<daemon::LogFormat>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    daemon::init_tracing_as(daemon::LogFormat::chosen(args.log_format), "info");
    if args.templates {
        let mut layout = Layout::new(args.num_of_nodes.max(1), args.initial_port);
        for node in &mut layout.nodes {
            node.container_runtime.enabled = args.containers;
        }
        if args.metrics_collector {
            layout = layout.with_metrics_collector("redis://127.0.0.1:6379");
        }
        return match layout.write(&args.config_path) {
            Ok(files) => {
                for file in files {
                    eprintln!("wrote {}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(error) => daemon::config_error(error),
        };
    }
    let layout = match Layout::read(&args.config_path) {
        Ok(layout) => layout,
        Err(error) => return daemon::config_error(error),
    };
    let report = match args.listening_file {
        Some(path) => ListeningReport::to(move |listening| {
            if let Err(error) = daemon::write_listening_file(&path, listening) {
                tracing::error!("{error:#}");
            }
        }),
        None => ListeningReport::default(),
    };
    daemon::run_until_signal(|shutdown| edgeless_inabox::run(layout, shutdown, report)).await
}
