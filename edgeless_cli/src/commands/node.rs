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
    /// Stop placing new instances on a node (its running ones stay).
    #[command(after_help = "Example: edgeless_cli node cordon 3f2a9c1b-...")]
    Cordon {
        /// The node's id.
        node_id: String,
    },
    /// Let a cordoned node take instances again.
    Uncordon {
        /// The node's id.
        node_id: String,
    },
    /// Cordon a node and re-create its instances on other nodes (their
    /// synced state goes with them).
    Drain {
        /// The node's id.
        node_id: String,
    },
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
    pub cordoned: bool,
    pub labels: Vec<String>,
    pub runtimes: Vec<String>,
    /// The processor architecture.
    pub arch: String,
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
            cordoned: node.cordoned,
            labels: capabilities.labels,
            runtimes: capabilities.runtimes,
            arch: capabilities.arch,
        }
    }
}

pub async fn run(command: NodeCommand, session: &Session) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let status = |s| CliError::from_status(url, s);
    let (node_id, action) = match command {
        NodeCommand::List => return list(session).await,
        NodeCommand::Cordon { node_id } => (node_id, "cordon"),
        NodeCommand::Uncordon { node_id } => (node_id, "uncordon"),
        NodeCommand::Drain { node_id } => (node_id, "drain"),
    };
    super::deploying_controller(session)?
        .set_node_state(proto::NodeStateRequest {
            node_id: node_id.clone(),
            action: action.to_string(),
        })
        .await
        .map_err(status)?;
    eprintln!("node {node_id}: {action}ed");
    Ok(())
}

/// `node list`.
async fn list(session: &Session) -> Result<(), CliError> {
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
        "ARCH",
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
                n.arch,
                n.num_cpus.to_string(),
                format!("{} kB", n.mem_available_kb),
                format!("{:.2}", n.load_avg_1),
                n.instances.to_string(),
                if n.cordoned {
                    format!("{}s (cordoned)", n.lease_remaining_sec)
                } else {
                    format!("{}s", n.lease_remaining_sec)
                },
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
