//! `edgeless_cli node list`: every node of every domain.

use clap::Subcommand;
use edgeless_api::proto;
use serde::Serialize;

use super::{Output, Session, controller, print_data, print_table};
use crate::error::CliError;

/// Node subcommands.
#[derive(Subcommand)]
pub enum NodeCommand {
    /// The nodes of every domain: NODE, DOMAIN, CPUS, MEM AVAILABLE, LOAD,
    /// INSTANCES, LEASE (`-o wide`: also AGENT, LABELS, RUNTIMES).
    #[command(after_help = "Example: edgeless_cli node list -o wide")]
    List,
}

/// A node as `node list` and `domain view` show it.
#[derive(Serialize)]
pub(super) struct NodeRow {
    pub node_id: String,
    /// Its domain (empty within `domain view`, where it is said once).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub domain: String,
    pub agent_url: String,
    pub num_cpus: u32,
    pub mem_available_kb: i64,
    pub load_avg_1: f64,
    /// Instances the node itself reported running, at its last refresh.
    pub instances: u32,
    pub lease_remaining_sec: i64,
    pub labels: Vec<String>,
    pub runtimes: Vec<String>,
}

impl NodeRow {
    /// The row of `node` of domain `domain`.
    pub(super) fn new(node: proto::NodeView, domain: &str) -> Self {
        let capabilities = node.capabilities.unwrap_or_default();
        let health = node.health.unwrap_or_default();
        Self {
            node_id: node.node_id,
            domain: domain.to_string(),
            agent_url: node.agent_url,
            num_cpus: capabilities.num_cpus,
            mem_available_kb: health.mem_available,
            load_avg_1: f64::from(health.load_avg_1) / 100.0,
            instances: health.num_instances,
            lease_remaining_sec: node.lease_remaining,
            labels: capabilities.labels,
            runtimes: capabilities.runtimes,
        }
    }
}

pub async fn run(command: NodeCommand, session: &Session) -> Result<(), CliError> {
    let NodeCommand::List = command;
    let url = &session.cluster.controller_url;
    let status = |s| CliError::from_status(url, s);
    let mut client = controller(session)?;
    let domains = client
        .domains(proto::DomainId {
            domain_id: String::new(),
        })
        .await
        .map_err(status)?
        .into_inner()
        .domain_capabilities;
    let mut rows = Vec::new();
    for domain in domains {
        let view = client
            .domain_view(proto::DomainId {
                domain_id: domain.domain_id.clone(),
            })
            .await
            .map_err(status)?
            .into_inner();
        rows.extend(
            view.nodes
                .into_iter()
                .map(|node| NodeRow::new(node, &domain.domain_id)),
        );
    }
    let output = session.output;
    if matches!(output, Output::Json | Output::Yaml) {
        return print_data(&rows, output);
    }
    if rows.is_empty() {
        eprintln!("no nodes registered");
        return Ok(());
    }
    let wide = output == Output::Wide;
    let mut header = vec![
        "NODE",
        "DOMAIN",
        "CPUS",
        "MEM AVAILABLE",
        "LOAD",
        "INSTANCES",
        "LEASE",
    ];
    if wide {
        header.extend(["AGENT", "LABELS", "RUNTIMES"]);
    }
    let table = rows
        .into_iter()
        .map(|n| {
            let mut row = vec![
                n.node_id,
                n.domain,
                n.num_cpus.to_string(),
                format!("{} kB", n.mem_available_kb),
                format!("{:.2}", n.load_avg_1),
                n.instances.to_string(),
                format!("{}s", n.lease_remaining_sec),
            ];
            if wide {
                row.extend([n.agent_url, n.labels.join(","), n.runtimes.join(",")]);
            }
            row
        })
        .collect();
    print_table(&header, table);
    Ok(())
}
