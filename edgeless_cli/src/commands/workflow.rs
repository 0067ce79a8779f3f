//! `edgeless_cli workflow ...`

use crate::output::out;
use std::path::PathBuf;

use clap::Subcommand;
use edgeless_api::proto;
use edgeless_api::workflow::WorkflowSpec;
use serde::Serialize;

use super::{Output, controller, print_json};
use crate::config::Config;
use crate::error::CliError;

/// Workflow subcommands.
#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Check a workflow locally, start it and print its id.
    #[command(after_help = "Example: edgeless_cli workflow start examples/ping_pong/workflow.json")]
    Start {
        /// The workflow JSON file; code paths are relative to it.
        spec_file: PathBuf,
    },
    /// Stop a workflow and all its instances.
    #[command(after_help = "Example: edgeless_cli workflow stop 6f1c...")]
    Stop {
        /// The workflow id printed by `start`.
        id: String,
    },
    /// List running workflows, one id per line.
    #[command(after_help = "Example: edgeless_cli workflow list -o json")]
    List {
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
    /// Show a workflow's components, their domain and instances.
    #[command(after_help = "Example: edgeless_cli workflow inspect 6f1c...")]
    Inspect {
        /// The workflow id.
        id: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t)]
        output: Output,
    },
}

#[derive(Serialize)]
struct WorkflowView {
    workflow_id: String,
    state: String,
    components: Vec<ComponentView>,
}

#[derive(Serialize)]
struct ComponentView {
    name: String,
    logical_id: String,
    domain: String,
    instances: Vec<String>,
}

pub async fn run(command: WorkflowCommand, config: &Config) -> Result<(), CliError> {
    let url = &config.controller_url;
    let status = |s| CliError::from_status(url, s);
    let mut client = controller(config)?;
    match command {
        WorkflowCommand::Start { spec_file } => {
            let spec = WorkflowSpec::load(&spec_file).map_err(|e| CliError::Input(e.into()))?;
            let base = spec_file.parent().map(PathBuf::from).unwrap_or_default();
            let request = spec
                .to_request(&base)
                .map_err(|e| CliError::Input(anyhow::anyhow!("{}: {e}", spec_file.display())))?;
            let response = client.start(request).await.map_err(status)?.into_inner();
            out!("{}", response.workflow_id);
        }
        WorkflowCommand::Stop { id } => {
            client
                .stop(proto::WorkflowId {
                    workflow_id: id.clone(),
                })
                .await
                .map_err(status)?;
            eprintln!("workflow {id} stopped");
        }
        WorkflowCommand::List { output } => {
            let ids = client
                .list(proto::Empty {})
                .await
                .map_err(status)?
                .into_inner()
                .identifiers;
            match output {
                Output::Text => ids.iter().for_each(|id| out!("{id}")),
                Output::Json => print_json(&ids)?,
            }
        }
        WorkflowCommand::Inspect { id, output } => {
            let info = client
                .inspect(proto::WorkflowId { workflow_id: id })
                .await
                .map_err(status)?
                .into_inner();
            let status = info.status.unwrap_or_default();
            let components: Vec<ComponentView> = status
                .domain_mapping
                .into_iter()
                .map(|m| ComponentView {
                    name: m.name,
                    logical_id: m.function_id,
                    domain: m.domain_id,
                    instances: m
                        .instances
                        .iter()
                        .map(|i| format!("{}/{}", i.node_id, i.function_id))
                        .collect(),
                })
                .collect();
            match output {
                Output::Json => print_json(&WorkflowView {
                    workflow_id: status.workflow_id,
                    state: status.state,
                    components,
                })?,
                Output::Text => {
                    out!("* state {}", status.state);
                    print_inspect(info.request.unwrap_or_default(), &components)
                }
            }
        }
    }
    Ok(())
}

fn print_inspect(request: proto::SpawnWorkflowRequest, components: &[ComponentView]) {
    for function in &request.workflow_functions {
        out!("* function {}", function.name);
        if let Some(class) = &function.class_spec {
            out!(
                "  run-time {} class {} version {}",
                class.function_class_type, class.function_class_id, class.function_class_version
            );
        }
        let mut outputs: Vec<_> = function.output_mapping.iter().collect();
        outputs.sort();
        for (output, target) in outputs {
            out!("  OUT {output} -> {target}");
        }
        let mut annotations: Vec<_> = function.annotations.iter().collect();
        annotations.sort();
        for (key, value) in annotations {
            out!("  F_ANN {key} -> {value}");
        }
    }
    for resource in &request.workflow_resources {
        out!("* resource {}", resource.name);
        out!("  class-type {}", resource.class_type);
        for (output, target) in &resource.output_mapping {
            out!("  OUT {output} -> {target}");
        }
        for (key, value) in &resource.configurations {
            out!("  CONF {key} -> {value}");
        }
    }
    out!("* mapping");
    for component in components {
        out!(
            "  MAP {} -> {} [logical ID {}] instances [{}]",
            component.name,
            component.domain,
            component.logical_id,
            component.instances.join(", ")
        );
    }
}
