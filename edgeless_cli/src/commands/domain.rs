//! `edgeless_cli domain ...`

use crate::output::out;
use clap::Subcommand;
use edgeless_api::proto;
use serde::Serialize;

use super::node::NodeRow;
use super::{Output, Session, controller, print_data, print_table};
use crate::error::CliError;

/// Domain subcommands.
#[derive(Subcommand)]
pub enum DomainCommand {
    /// The domains: DOMAIN, NODES, CPUS, MEMORY, RUNTIMES, BALANCER (its
    /// ε-BAL and whether it answers), LINKS (the domains its workflows
    /// exchange events with, and how) (`-o wide`: more).
    #[command(after_help = "Example: edgeless_cli domain list -o wide")]
    List,
    /// A domain's nodes (with health) and its components' instances, as its
    /// orchestrator sees them.
    #[command(after_help = "Example: edgeless_cli domain view")]
    View {
        /// The domain id (as `domain list` shows it); may be left out when
        /// there is only one domain.
        id: Option<String>,
    },
    /// A domain's aggregated capabilities.
    #[command(after_help = "Example: edgeless_cli domain inspect")]
    Inspect {
        /// The domain id (as `domain list` shows it); may be left out when
        /// there is only one domain.
        id: Option<String>,
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
    /// Its ε-BAL's dataplane, when events from other domains go through it.
    balancer_url: String,
    balancer_healthy: bool,
    /// "DOMAIN (direct|balancer, N workflows)".
    links: Vec<String>,
}

impl From<proto::DomainCapabilitiesEntry> for DomainView {
    fn from(entry: proto::DomainCapabilitiesEntry) -> Self {
        let c = entry.domain_capabilities.unwrap_or_default();
        let links = entry
            .links
            .iter()
            .map(|l| format!("{} ({}, {} workflows)", l.domain_id, l.via, l.workflows))
            .collect();
        Self {
            balancer_url: entry.balancer_url,
            balancer_healthy: entry.balancer_healthy,
            links,
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

pub async fn run(command: DomainCommand, session: &Session) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let mut client = controller(session)?;
    let output = session.output;
    if let DomainCommand::View { id } = command {
        let id = match id {
            Some(id) => id,
            None => only_domain(&mut client, url).await?,
        };
        let view = client
            .domain_view(proto::DomainId { domain_id: id })
            .await
            .map_err(|s| CliError::from_status(url, s))?
            .into_inner();
        return print_view(view, output);
    }
    let id = match &command {
        DomainCommand::List => String::new(),
        DomainCommand::Inspect { id: Some(id) } => id.clone(),
        DomainCommand::Inspect { id: None } => only_domain(&mut client, url).await?,
        DomainCommand::View { .. } => unreachable!("handled above"),
    };
    let entries = client
        .domains(proto::DomainId {
            domain_id: id.clone(),
        })
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner()
        .domain_capabilities;
    let domains: Vec<DomainView> = entries.into_iter().map(Into::into).collect();
    if !id.is_empty() && domains.is_empty() {
        return Err(CliError::NotFound(format!("domain {id} not found")));
    }
    match (command, output) {
        (_, Output::Json | Output::Yaml) => print_data(&domains, output)?,
        (DomainCommand::Inspect { .. }, _) => {
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
        (_, Output::Text) if domains.is_empty() => eprintln!("no domains registered"),
        (_, _) => print_domains(&domains, output == Output::Wide),
    }
    Ok(())
}

/// The id of the only domain; an error naming them when there are several.
async fn only_domain(
    client: &mut edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient<
        edgeless_api::client::Channel,
    >,
    url: &str,
) -> Result<String, CliError> {
    let ids: Vec<String> = client
        .domains(proto::DomainId {
            domain_id: String::new(),
        })
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner()
        .domain_capabilities
        .into_iter()
        .map(|d| d.domain_id)
        .collect();
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(CliError::NotFound("no domain is registered".into())),
        many => Err(CliError::Usage(format!(
            "there are {} domains: name one ({})",
            many.len(),
            many.join(", ")
        ))),
    }
}

fn print_domains(domains: &[DomainView], wide: bool) {
    let mut header = vec![
        "DOMAIN", "NODES", "CPUS", "MEMORY", "RUNTIMES", "BALANCER", "LINKS",
    ];
    if wide {
        header.extend(["CORES", "LABELS", "TEE", "TPM", "RESOURCES"]);
    }
    let rows = domains
        .iter()
        .map(|d| {
            let mut row = vec![
                d.domain_id.clone(),
                d.num_nodes.to_string(),
                d.num_cpus.to_string(),
                format!("{} MiB", d.mem_size_mib),
                d.runtimes.join(","),
                match (d.balancer_url.as_str(), d.balancer_healthy) {
                    ("", _) => "-".to_string(),
                    (url, true) => format!("{url} (healthy)"),
                    (url, false) => format!("{url} (not answering)"),
                },
                match d.links.as_slice() {
                    [] => "-".to_string(),
                    links => links.join("; "),
                },
            ];
            if wide {
                row.extend([
                    d.num_cores.to_string(),
                    d.labels.join(","),
                    d.num_tee.to_string(),
                    d.num_tpm.to_string(),
                    d.resource_providers.join(","),
                ]);
            }
            row
        })
        .collect();
    print_table(&header, rows);
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
            .map(|n| NodeRow::new(n, ""))
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
    if matches!(output, Output::Json | Output::Yaml) {
        return print_data(&rows, output);
    }
    let wide = output == Output::Wide;
    out!("domain {}", rows.domain_id);
    let mut header = vec![
        "NODE",
        "AGENT",
        "CPUS",
        "MEM AVAILABLE",
        "LOAD",
        "INSTANCES",
        "LEASE",
    ];
    if wide {
        header.extend(["LABELS", "RUNTIMES"]);
    }
    let nodes = rows
        .nodes
        .iter()
        .map(|n| {
            let mut row = vec![
                n.node_id.clone(),
                n.agent_url.clone(),
                n.num_cpus.to_string(),
                format!("{} kB", n.mem_available_kb),
                format!("{:.2}", n.load_avg_1),
                n.instances.to_string(),
                format!("{}s", n.lease_remaining_sec),
            ];
            if wide {
                row.extend([n.labels.join(","), n.runtimes.join(",")]);
            }
            row
        })
        .collect();
    print_table(&header, nodes);
    if rows.components.is_empty() {
        return Ok(());
    }
    out!("");
    let components = rows
        .components
        .iter()
        .map(|c| {
            vec![
                c.kind.clone(),
                c.class.clone(),
                c.logical_id.clone(),
                c.workflow_id.clone(),
                c.state.clone(),
                c.instances.join(", "),
            ]
        })
        .collect();
    print_table(
        &[
            "KIND",
            "CLASS",
            "COMPONENT",
            "WORKFLOW",
            "STATE",
            "INSTANCES",
        ],
        components,
    );
    Ok(())
}
