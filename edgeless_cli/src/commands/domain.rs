//! `edgeless_cli domain ...`

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
    let (id, output) = match &command {
        DomainCommand::List { output } => (String::new(), *output),
        DomainCommand::Inspect { id, output } => (id.clone(), *output),
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
                println!("domain {} ({} nodes)", d.domain_id, d.num_nodes);
            }
        }
        (DomainCommand::Inspect { .. }, Output::Text) => {
            for d in &domains {
                println!(
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
