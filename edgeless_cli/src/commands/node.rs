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

#[derive(Serialize)]
struct NodeRow {
    node_id: String,
    domain: String,
    agent_url: String,
    num_cpus: u32,
    mem_available_kb: i64,
    load_avg_1: f64,
    instances: u32,
    lease_remaining_sec: i64,
    labels: Vec<String>,
    runtimes: Vec<String>,
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
        for node in view.nodes {
            let capabilities = node.capabilities.unwrap_or_default();
            let health = node.health.unwrap_or_default();
            rows.push(NodeRow {
                node_id: node.node_id,
                domain: domain.domain_id.clone(),
                agent_url: node.agent_url,
                num_cpus: capabilities.num_cpus,
                mem_available_kb: health.mem_available,
                load_avg_1: f64::from(health.load_avg_1) / 100.0,
                instances: health.num_instances,
                lease_remaining_sec: node.lease_remaining,
                labels: capabilities.labels,
                runtimes: capabilities.runtimes,
            });
        }
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
