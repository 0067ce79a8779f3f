//! `edgeless_benchmark scale`: how the platform behaves as the work grows —
//! workflow start against workflow size (the CLI process included), one
//! orchestrator with many nodes (registration, CPU, placement, failure
//! detection, per policy), many idle instances on one node, and a
//! controller with many workflows. Each figure is printed beside its
//! target; the series go to CSV files and two plots.

pub mod cluster;
pub mod controller;
pub mod daemon;
pub mod nodes;
pub mod plot;
pub mod stand_in;
pub mod workflow_size;

use std::path::PathBuf;
use std::time::Duration;

use crate::bench::stats::{Latencies, Row, mark};
use crate::bench::tls::Certificates;

/// How big each scenario gets.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where `noop/noop.wasm` and `bounce/bounce.wasm` are.
    pub functions_dir: PathBuf,
    /// Workflow sizes started (functions).
    pub sizes: Vec<usize>,
    /// Starts timed per size.
    pub size_runs: usize,
    /// Node counts of the orchestrator scenario.
    pub node_counts: Vec<usize>,
    /// How long the orchestrator's steady-state CPU is measured.
    pub steady: Duration,
    /// Function starts timed per node count and policy.
    pub placements: usize,
    /// Idle WASM instances on one node.
    pub instances: usize,
    /// Workflows the controller holds.
    pub workflows: usize,
    /// `workflow list` runs timed.
    pub list_runs: usize,
    /// The scenarios run (empty: all).
    pub only: Vec<Scenario>,
    /// Mutual TLS on every link (see [`crate::bench::tls`]).
    pub tls: bool,
}

/// One part of the scale run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Workflow start against workflow size.
    Start,
    /// Idle WASM instances on one node.
    Instances,
    /// A controller holding many workflows.
    Controller,
    /// One orchestrator with many nodes.
    Nodes,
}

impl Options {
    fn runs(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }
}

impl Options {
    /// The full run: the sizes of the targets.
    pub fn full(functions_dir: PathBuf) -> Self {
        Self {
            functions_dir,
            sizes: vec![1, 10, 100, 300, 1000],
            size_runs: 5,
            node_counts: vec![3, 100, 300, 1000],
            steady: Duration::from_secs(10),
            placements: 50,
            instances: 10_000,
            workflows: 10_000,
            list_runs: 5,
            only: Vec::new(),
            tls: false,
        }
    }

    /// Small numbers, to check that every scenario still works.
    pub fn quick(functions_dir: PathBuf) -> Self {
        Self {
            functions_dir,
            sizes: vec![1, 10],
            size_runs: 1,
            node_counts: vec![3, 10],
            steady: Duration::from_secs(1),
            placements: 3,
            instances: 100,
            workflows: 50,
            list_runs: 1,
            only: Vec::new(),
            tls: false,
        }
    }
}

/// The series behind the plots.
#[derive(Default)]
pub struct Series {
    /// Functions in a workflow → start latency (median, p99).
    pub start: Vec<(usize, Duration, Duration)>,
    /// Node count → orchestrator CPU (cores) in steady state, first policy.
    pub cpu: Vec<(usize, f64)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs every scenario, handing each row to `report` as it is measured.
pub async fn run(
    options: &Options,
    mut report: impl FnMut(&Row),
) -> anyhow::Result<(Vec<Row>, Series)> {
    let read = |name: &str| crate::bench::function_code(&options.functions_dir, name);
    let (noop, bounce) = (read("noop")?, read("bounce")?);
    // Installed for the rest of this process.
    let certificates = match options.tls {
        true => {
            let certificates = Certificates::generate()?;
            certificates.install()?;
            Some(certificates)
        }
        false => None,
    };
    let tls = certificates.as_ref();
    let mut rows = Vec::new();
    let mut emit = |scenario: String, latency: Option<Latencies>, note: String| {
        let row = Row {
            scenario: match tls {
                Some(_) => format!("{scenario} (mutual TLS)"),
                None => scenario,
            },
            latency,
            throughput: None,
            note,
        };
        report(&row);
        rows.push(row);
    };
    let mut series = Series::default();

    // Workflow size.
    let noop_path = options.functions_dir.join("noop").join("noop.wasm");
    let sizes = if options.runs(Scenario::Start) {
        let runs = options.size_runs.max(1);
        workflow_size::starts(&noop_path, &options.sizes, runs, tls).await?
    } else {
        Vec::new()
    };
    for size in sizes {
        let target = match size.functions {
            100 => Some(Duration::from_millis(30)),
            1000 => Some(Duration::from_millis(300)),
            _ => None,
        };
        let median = size.starts.median();
        let note = match target {
            Some(t) => format!("≤ {t:?} {}", mark(median <= t)),
            None => "-".into(),
        };
        series
            .start
            .push((size.functions, median, size.starts.p99()));
        emit(
            format!(
                "workflow start, {} functions (edgeless_cli process)",
                size.functions
            ),
            Some(size.starts),
            note,
        );
    }

    // Idle instances on one node (each maps its memory: the kernel's
    // limit on maps per process must leave room).
    if options.runs(Scenario::Instances) {
        max_map_count_fits(options.instances)?;
        let node = crate::bench::node::BenchNode::start_up_to(None, options.instances + 1).await?;
        let idle = crate::bench::memory::idle_instances(&node, &bounce, options.instances).await?;
        drop(node);
        let kib = idle.resident_per_instance as f64 / 1024.0;
        emit(
            format!("{} idle WASM instances on one node", idle.count),
            None,
            format!(
                "{kib:.0} KiB resident each (≤ 100 KiB {}); started in {:.2} s, all answered",
                mark(kib <= 100.0),
                idle.start_all.as_secs_f64()
            ),
        );
    }

    // A controller with many workflows.
    if options.runs(Scenario::Controller) {
        let single = crate::workflows::WorkflowType::parse(&format!(
            "single;{};{}",
            options
                .functions_dir
                .join("noop")
                .join("function.json")
                .display(),
            noop_path.display()
        ))?;
        let request = single
            .request(0)
            .ok_or_else(|| anyhow::anyhow!("the single workflow has no request"))?;
        let runs = options.list_runs.max(1);
        let held = controller::run(&request, options.workflows, runs, tls).await?;
        let median = held.list.median();
        emit(
            format!(
                "controller with {} workflows: edgeless_cli workflow list",
                held.workflows
            ),
            Some(held.list),
            format!(
                "≤ 100 ms {}; controller {:.0} MiB ({:.1} KiB per workflow); all started in {:.1} s",
                mark(median <= Duration::from_millis(100)),
                held.memory as f64 / (1 << 20) as f64,
                held.per_workflow as f64 / 1024.0,
                held.start_all.as_secs_f64()
            ),
        );
    }
    // Nodes per orchestrator, last: a domain size that fails leaves
    // nodes winding down.
    let node_counts = if options.runs(Scenario::Nodes) {
        options.node_counts.as_slice()
    } else {
        &[]
    };
    let measured = nodes::run(
        &noop,
        node_counts,
        options.steady,
        options.placements.max(1),
        tls,
    )
    .await?;
    let baseline_recovery = measured.iter().flatten().find_map(|m| m.recovery);
    for m in measured {
        let m = match m {
            Ok(m) => m,
            Err(failed) => {
                let (nodes, policy) = (failed.nodes, failed.policy);
                let scenario = format!("{nodes} nodes, {policy}: registration of all");
                emit(scenario, None, format!("✗ {}", failed.error));
                continue;
            }
        };
        let cpu = m.cpu * 100.0;
        emit(
            format!("{} nodes, {}: registration of all", m.nodes, m.policy),
            None,
            format!(
                "{:.2} s (≤ 10 s {}); orchestrator CPU {cpu:.1} % of a core (≤ 25 % {}), {:.0} MiB",
                m.registration.as_secs_f64(),
                mark(m.registration <= Duration::from_secs(10)),
                mark(cpu <= 25.0),
                m.memory as f64 / (1 << 20) as f64,
            ),
        );
        let placement = m.placement_median;
        emit(
            format!(
                "{} nodes, {}: function start via the orchestrator",
                m.nodes, m.policy
            ),
            Some(m.starts),
            format!(
                "placement {:.3} ms median (≤ 1 ms {})",
                ms(placement),
                mark(placement <= Duration::from_millis(1))
            ),
        );
        if m.policy == nodes::POLICIES[0] {
            series.cpu.push((m.nodes, m.cpu));
        }
        if let (Some(recovery), Some(baseline)) = (m.recovery, baseline_recovery) {
            emit(
                format!(
                    "{} nodes: node stopped → instance running elsewhere",
                    m.nodes
                ),
                None,
                format!(
                    "{:.2} s ({:+.2} s against the smallest domain)",
                    recovery.as_secs_f64(),
                    recovery.as_secs_f64() - baseline.as_secs_f64()
                ),
            );
        }
    }

    Ok((rows, series))
}

/// Memory maps a WASM instance takes, with room to spare.
const MAPS_PER_INSTANCE: usize = 12;

/// Refuses to start `instances` instances in this process when the
/// kernel's `vm.max_map_count` cannot hold them.
fn max_map_count_fits(instances: usize) -> anyhow::Result<()> {
    let Ok(text) = std::fs::read_to_string("/proc/sys/vm/max_map_count") else {
        return Ok(());
    };
    let limit: usize = text.trim().parse().unwrap_or(usize::MAX);
    let needed = instances * MAPS_PER_INSTANCE + 20_000;
    if limit < needed {
        anyhow::bail!(
            "{instances} WASM instances need vm.max_map_count ≥ {needed} (it is {limit}): sysctl -w vm.max_map_count={needed}"
        );
    }
    Ok(())
}

/// Writes `<prefix>scale_start.csv` and `<prefix>scale_nodes.csv`.
pub fn write_csv(prefix: &str, series: &Series) -> anyhow::Result<Vec<PathBuf>> {
    let start: PathBuf = format!("{prefix}scale_start.csv").into();
    let mut text = String::from("functions,median_ms,p99_ms\n");
    for (functions, median, p99) in &series.start {
        text.push_str(&format!("{functions},{:.3},{:.3}\n", ms(*median), ms(*p99)));
    }
    std::fs::write(&start, text)?;
    let nodes: PathBuf = format!("{prefix}scale_nodes.csv").into();
    let mut text = String::from("nodes,orchestrator_cpu_percent\n");
    for (count, cpu) in &series.cpu {
        text.push_str(&format!("{count},{:.2}\n", cpu * 100.0));
    }
    std::fs::write(&nodes, text)?;
    Ok(vec![start, nodes])
}
