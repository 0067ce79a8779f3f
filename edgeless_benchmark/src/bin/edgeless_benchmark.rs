//! The benchmark's command line.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use edgeless_benchmark::arrival::{ArrivalModel, Schedule};
use edgeless_benchmark::experiment::{self, Dataset};
use edgeless_benchmark::workflows::WorkflowType;
use edgeless_benchmark::{bench, scale};

/// The allocator of the node daemon, for the nodes this process hosts.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Drive an edgeless cluster with a seeded population of workflows.
#[derive(Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Example: edgeless_benchmark --arrival-model incremental -i 1 -l 3 -d 10 \\
    -w 'single;functions/noop/function.json;functions/noop/noop.wasm' --dataset-path out/exp1-"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The controller's workflow API.
    #[arg(short = 'c', long, default_value = "http://127.0.0.1:7001")]
    controller_url: String,
    /// poisson, incremental, incr-and-keep, single or trace.
    #[arg(long, default_value = "poisson")]
    arrival_model: String,
    /// Seconds at the start during which incr-and-keep adds workflows.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Length of the experiment, in seconds.
    #[arg(short = 'd', long, default_value_t = 30.0)]
    duration: f64,
    /// (Mean) lifetime of a workflow, in seconds.
    #[arg(short = 'l', long, default_value_t = 5.0)]
    lifetime: f64,
    /// (Mean) time between arrivals, in seconds.
    #[arg(short = 'i', long, default_value_t = 5.0)]
    interarrival: f64,
    /// With `--arrival-model trace`: a file of `arrival,end` lines (seconds).
    #[arg(long, default_value = "")]
    workload_trace: String,
    /// Seed of every random choice.
    #[arg(short = 's', long, default_value_t = 42)]
    seed: u64,
    /// none, single;FUNCTION_JSON;WASM, chain;LENGTH[;FUNCTIONS_DIR] or
    /// map-reduce;WIDTH[;FUNCTIONS_DIR].
    #[arg(
        short = 'w',
        long,
        default_value = "single;functions/noop/function.json;functions/noop/noop.wasm"
    )]
    wf_type: String,
    /// Prefix of the CSV files written (empty: none).
    #[arg(long, default_value = "")]
    dataset_path: String,
    /// Add rows to existing files.
    #[arg(long)]
    append: bool,
    /// Comma-separated values of extra leading columns.
    #[arg(long, default_value = "")]
    additional_fields: String,
    /// Comma-separated names of the extra columns.
    #[arg(long, default_value = "")]
    additional_header: String,
}

#[derive(Subcommand)]
enum Command {
    /// Measure hops, calls, cold starts, idle instances and workflow start
    /// in this process; print median, p99 and throughput beside a bare-gRPC
    /// baseline.
    Bench(BenchArgs),
    /// Measure how the platform grows: workflow start against workflow
    /// size (the CLI process included), one orchestrator with up to 1,000
    /// nodes (registration, CPU, placement per policy, failure detection),
    /// 10,000 idle instances on one node, a controller with 10,000
    /// workflows. Needs the release daemons and CLI beside this binary.
    #[command(
        after_help = "Example: cargo build --release -p edgeless_benchmark -p edgeless_cli -p edgeless_con -p edgeless_orc && \\
    target/release/edgeless_benchmark scale --dataset-path out/"
    )]
    Scale(ScaleArgs),
    /// Draw the plots of a scale run from its CSV files.
    Plot {
        /// Prefix of the CSV files (`scale_start.csv`, `scale_nodes.csv`);
        /// the PNG files get the same prefix.
        #[arg(long)]
        dataset_path: String,
    },
}

#[derive(clap::Args)]
struct ScaleArgs {
    /// Where noop/ and bounce/ hold their built .wasm files.
    #[arg(long, default_value = "functions")]
    functions_dir: std::path::PathBuf,
    /// Small numbers only (a check that every scenario works, in a minute).
    #[arg(long)]
    quick: bool,
    /// Runs only these scenarios (comma-separated; default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<scale::Scenario>,
    /// Node counts of the `nodes` scenario (comma-separated; default: 3,
    /// 100, 300, 1000, or 3, 10 with --quick).
    #[arg(long, value_delimiter = ',')]
    node_counts: Vec<usize>,
    /// Mutual TLS on every link, each component presenting its own role's
    /// certificate (generated for the run); the workflow start then runs
    /// on a controller and an orchestrator in processes of their own.
    #[arg(long)]
    tls: bool,
    /// Prefix of the CSV and PNG files written (`scale_start.*`,
    /// `scale_nodes.*`; empty: none).
    #[arg(long, default_value = "")]
    dataset_path: String,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Where bounce/, counter/ and incr/ hold their built .wasm files.
    #[arg(long, default_value = "functions")]
    functions_dir: std::path::PathBuf,
    /// Events timed one at a time per latency scenario.
    #[arg(long, default_value_t = 5000)]
    samples: usize,
    /// Seconds each throughput scenario runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Events on their way at once in the throughput scenarios.
    #[arg(long, default_value_t = 256)]
    in_flight: usize,
    /// Idle instances started on one node.
    #[arg(long, default_value_t = 1000)]
    instances: usize,
    /// Workflow starts timed.
    #[arg(long, default_value_t = 30)]
    workflow_runs: usize,
    /// Functions in the chain workflow.
    #[arg(long, default_value_t = 10)]
    chain_length: usize,
    /// First loopback port of the in-process cluster (0: free ports the
    /// system chooses).
    #[arg(long, default_value_t = 0)]
    ports_from: u16,
    /// Prefix of the CSV files written: `bench_summary.csv` and
    /// `bench_samples.csv` (empty: none).
    #[arg(long, default_value = "")]
    dataset_path: String,
}

async fn run_bench(args: BenchArgs) -> anyhow::Result<()> {
    if args.in_flight == 0 || args.instances == 0 {
        anyhow::bail!("--in-flight and --instances must be at least 1");
    }
    let options = bench::Options {
        functions_dir: args.functions_dir.clone(),
        samples: args.samples,
        period: seconds("seconds", args.seconds)?,
        in_flight: args.in_flight,
        instances: args.instances,
        workflow_runs: args.workflow_runs,
        chain_length: args.chain_length,
        ports_from: args.ports_from,
    };
    // The scenarios run on a worker thread of the runtime, as every sender
    // of events on a node does, not on the main thread (from which every
    // wake of a worker's task would cross threads).
    let rows = tokio::spawn(async move {
        let mut header = Some(bench::stats::header());
        bench::run(&options, |row| {
            if let Some(header) = header.take() {
                println!("{header}");
            }
            println!("{row}");
        })
        .await
    })
    .await
    .map_err(|e| anyhow::anyhow!("the scenarios stopped: {e}"))??;
    if !args.dataset_path.is_empty() {
        bench::stats::report_files(bench::stats::write_csv(&args.dataset_path, &rows))?;
    }
    Ok(())
}

async fn run_scale(args: ScaleArgs) -> anyhow::Result<()> {
    let mut options = if args.quick {
        scale::Options::quick(args.functions_dir)
    } else {
        scale::Options::full(args.functions_dir)
    };
    options.only = args.only;
    options.tls = args.tls;
    if !args.node_counts.is_empty() {
        options.node_counts = args.node_counts;
    }
    let mut header = Some(bench::stats::header());
    let (_, series) = scale::run(&options, |row| {
        if let Some(header) = header.take() {
            println!("{header}");
        }
        println!("{row}");
    })
    .await?;
    if !args.dataset_path.is_empty() {
        bench::stats::report_files(scale::write_csv(&args.dataset_path, &series))?;
        bench::stats::report_files(scale::plot::draw(&args.dataset_path))?;
    }
    Ok(())
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    if value.is_finite() && value >= 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        anyhow::bail!("--{name} must be a non-negative number of seconds, not {value}")
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let model = if args.arrival_model == "trace" {
        let text = std::fs::read_to_string(&args.workload_trace)
            .map_err(|e| anyhow::anyhow!("--workload-trace {:?}: {e}", args.workload_trace))?;
        ArrivalModel::trace(&text).map_err(anyhow::Error::msg)?
    } else {
        ArrivalModel::from_name(&args.arrival_model).map_err(anyhow::Error::msg)?
    };
    let schedule = Schedule {
        duration: seconds("duration", args.duration)?,
        warmup: seconds("warmup", args.warmup)?,
        interarrival: seconds("interarrival", args.interarrival)?,
        lifetime: seconds("lifetime", args.lifetime)?,
        seed: args.seed,
    };
    let split = |s: &str| -> Vec<String> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (header, fields) = (
        split(&args.additional_header),
        split(&args.additional_fields),
    );
    if header.len() != fields.len() {
        anyhow::bail!(
            "--additional-header has {} names but --additional-fields {} values",
            header.len(),
            fields.len()
        );
    }
    let workflow = WorkflowType::parse(&args.wf_type)?;
    let spans = model.schedule(&schedule);
    tracing::info!(workflows = spans.len(), "experiment starts");
    let outcome = experiment::run(&args.controller_url, &spans, &workflow).await?;
    let dataset = Dataset {
        prefix: (!args.dataset_path.is_empty()).then_some(args.dataset_path.clone()),
        append: args.append,
        additional: header.into_iter().zip(fields).collect(),
        seed: args.seed,
    };
    if let Some(path) = experiment::write_csv(&dataset, &outcome)? {
        eprintln!("wrote {}", path.display());
    }
    let mut latencies: Vec<f64> = outcome
        .records
        .iter()
        .filter(|r| r.id.is_some())
        .map(|r| r.start_latency.as_secs_f64() * 1000.0)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let median = latencies.get(latencies.len() / 2).copied().unwrap_or(0.0);
    println!(
        "workflows requested {}, started {}, blocking probability {:.3}, median start {:.1} ms",
        outcome.requested(),
        outcome.started(),
        outcome.blocking_probability(),
        median
    );
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    let outcome = match args.command.take() {
        Some(Command::Bench(bench)) => {
            // The in-process cluster would log every start and every event the
            // last function of a chain drops.
            edgeless_api::daemon::init_tracing_at("error");
            run_bench(bench).await
        }
        Some(Command::Scale(scale)) => {
            edgeless_api::daemon::init_tracing_at("error");
            run_scale(scale).await
        }
        Some(Command::Plot { dataset_path }) => {
            bench::stats::report_files(edgeless_benchmark::scale::plot::draw(&dataset_path))
        }
        None => {
            edgeless_api::daemon::init_tracing();
            run(args).await
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}
