//! `edgeless_cli domain ...`

use crate::output::out;
use clap::Subcommand;
use edgeless_api::proto;
use serde::Serialize;

use super::{Output, controller, print_json};
use crate::config::Config;
use crate::error::CliError;

/// Domain subcommands.
#[derive(Subcommand)]
pub enum DomainCommand {
    /// One line per domain: `domain ID (N nodes)`.
    #[command(after_help = "Example: edgeless_cli domain list")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// A domain's nodes (with health) and its components' instances, as its
    /// orchestrator sees them.
    #[command(after_help = "Example: edgeless_cli domain view domain-1")]
    View {
        /// The domain id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// A domain's aggregated capabilities.
    #[command(after_help = "Example: edgeless_cli domain inspect domain-1")]
    Inspect {
        /// The domain id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Serialize)]
struct DomainView {
    domain_id: String,
    num_nodes: u32,
    num_cpus: u32,
    num_cores: u32,
    mem_size_mib: u64,
    labels: Vec<String>,
    num_tee: u32,
    num_tpm: u32,
    runtimes: Vec<String>,
    resource_classes: Vec<String>,
    resource_providers: Vec<String>,
}

impl From<proto::DomainCapabilitiesEntry> for DomainView {
    fn from(entry: proto::DomainCapabilitiesEntry) -> Self {
        let c = entry.domain_capabilities.unwrap_or_default();
        Self {
            domain_id: entry.domain_id,
            num_nodes: c.num_nodes,
            num_cpus: c.num_cpus,
            num_cores: c.num_cores,
            mem_size_mib: c.mem_size,
            labels: c.labels,
            num_tee: c.num_tee,
            num_tpm: c.num_tpm,
            runtimes: c.runtimes,
            resource_classes: c.resource_classes,
            resource_providers: c.resource_providers,
        }
    }
}

pub async fn run(command: DomainCommand, config: &Config) -> Result<(), CliError> {
    let mut client = controller(config)?;
    if let DomainCommand::View { id, output } = command {
        let view = client
            .domain_view(proto::DomainId { domain_id: id })
            .await
            .map_err(|s| CliError::from_status(&config.controller_url, s))?
            .into_inner();
        return print_view(view, output);
    }
    let (id, output) = match &command {
        DomainCommand::List { output } => (String::new(), *output),
        DomainCommand::Inspect { id, output } => (id.clone(), *output),
        DomainCommand::View { .. } => unreachable!("handled above"),
    };
    let entries = client
        .domains(proto::DomainId {
            domain_id: id.clone(),
        })
        .await
        .map_err(|s| CliError::from_status(&config.controller_url, s))?
        .into_inner()
        .domain_capabilities;
    let domains: Vec<DomainView> = entries.into_iter().map(Into::into).collect();
    if !id.is_empty() && domains.is_empty() {
        return Err(CliError::NotFound(format!("domain {id} not found")));
    }
    match (command, output) {
        (_, Output::Json) => print_json(&domains)?,
        (DomainCommand::List { .. }, Output::Text) => {
            for d in &domains {
                out!("domain {} ({} nodes)", d.domain_id, d.num_nodes);
            }
        }
        (_, Output::Text) => {
            for d in &domains {
                out!(
                    "{} nodes, {} CPUs ({} cores) with {} MiB, labels [{}], num TEE {}, num TPM {}, runtimes [{}], resources classes [{}] providers [{}]",
                    d.num_nodes,
                    d.num_cpus,
                    d.num_cores,
                    d.mem_size_mib,
                    d.labels.join(","),
                    d.num_tee,
                    d.num_tpm,
                    d.runtimes.join(","),
                    d.resource_classes.join(","),
                    d.resource_providers.join(",")
                );
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct NodeRow {
    node_id: String,
    agent_url: String,
    labels: Vec<String>,
    runtimes: Vec<String>,
    num_cpus: u32,
    mem_available_kb: i64,
    load_avg_1: f64,
    /// Instances the node itself reported running, at its last refresh.
    instances: u32,
    lease_remaining_sec: i64,
}

#[derive(Serialize)]
struct ComponentRow {
    logical_id: String,
    state: String,
    kind: String,
    class: String,
    workflow_id: String,
    instances: Vec<String>,
}

#[derive(Serialize)]
struct ViewRows {
    domain_id: String,
    nodes: Vec<NodeRow>,
    components: Vec<ComponentRow>,
}

fn print_view(view: proto::DomainView, output: Output) -> Result<(), CliError> {
    let mut rows = ViewRows {
        domain_id: view.domain_id,
        nodes: view
            .nodes
            .into_iter()
            .map(|n| {
                let caps = n.capabilities.unwrap_or_default();
                let health = n.health.unwrap_or_default();
                NodeRow {
                    node_id: n.node_id,
                    agent_url: n.agent_url,
                    labels: caps.labels,
                    runtimes: caps.runtimes,
                    num_cpus: caps.num_cpus,
                    mem_available_kb: health.mem_available,
                    load_avg_1: f64::from(health.load_avg_1) / 100.0,
                    instances: health.num_instances,
                    lease_remaining_sec: n.lease_remaining,
                }
            })
            .collect(),
        components: view
            .components
            .into_iter()
            .map(|c| ComponentRow {
                logical_id: c.logical_id,
                state: c.state,
                kind: c.kind,
                class: c.class,
                workflow_id: c.workflow_id,
                instances: c
                    .instances
                    .iter()
                    .map(|i| format!("{}/{}", i.node_id, i.function_id))
                    .collect(),
            })
            .collect(),
    };
    rows.components
        .sort_by(|a, b| (&a.workflow_id, &a.logical_id).cmp(&(&b.workflow_id, &b.logical_id)));
    match output {
        Output::Json => print_json(&rows),
        Output::Text => {
            out!("domain {}", rows.domain_id);
            for n in &rows.nodes {
                out!(
                    "node {} {} cpus {} mem_available {} kB load {:.2} instances {} labels [{}] runtimes [{}] lease {}s",
                    n.node_id,
                    n.agent_url,
                    n.num_cpus,
                    n.mem_available_kb,
                    n.load_avg_1,
                    n.instances,
                    n.labels.join(","),
                    n.runtimes.join(","),
                    n.lease_remaining_sec
                );
            }
            for c in &rows.components {
                out!(
                    "{} {} {} (workflow {}) {} -> [{}]",
                    c.kind,
                    c.class,
                    c.logical_id,
                    c.workflow_id,
                    c.state,
                    c.instances.join(", ")
                );
            }
            Ok(())
        }
    }
}
