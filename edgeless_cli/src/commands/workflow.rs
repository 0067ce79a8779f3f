//! `edgeless_cli workflow ...`

use std::path::{Path, PathBuf};

use clap::Subcommand;
use edgeless_api::proto;
use edgeless_api::workflow::WorkflowSpec;

use super::workflow_view::{WorkflowRow, inspect_view, print_inspect, print_list};
use super::{Output, Session, controller, deploying_controller, print_data};
use crate::error::CliError;
use crate::output::out;

/// Workflow subcommands.
#[derive(Subcommand)]
pub enum WorkflowCommand {
    /// Check a workflow locally, start it and print its id.
    #[command(after_help = "Example: edgeless_cli workflow start examples/ping_pong/workflow.json")]
    Start {
        /// The workflow JSON file; code paths are relative to it.
        spec_file: PathBuf,
        /// Its name (default: the file's stem, or its folder's name for a
        /// file called workflow.json); unique among running workflows.
        #[arg(long)]
        name: Option<String>,
        /// Start it even when a workflow of that name runs.
        #[arg(long)]
        allow_duplicate: bool,
    },
    /// Start a workflow, or, when one of its name runs, change that one in
    /// place: changed functions and resources are re-created, unchanged
    /// ones kept, mappings patched. Prints the id; what changed on stderr.
    #[command(after_help = "Example: edgeless_cli workflow apply examples/ping_pong/workflow.json")]
    Apply {
        /// The workflow JSON file; code paths are relative to it.
        spec_file: PathBuf,
        /// Its name (default as for `start`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop workflows (by name, id or unique id prefix) and all their
    /// instances.
    #[command(after_help = "Example: edgeless_cli workflow stop ping_pong")]
    Stop {
        /// Names, ids or unique id prefixes.
        #[arg(required_unless_present = "all")]
        workflows: Vec<String>,
        /// Stop every running workflow.
        #[arg(long, conflicts_with = "workflows")]
        all: bool,
    },
    /// List running workflows: NAME, ID, STATE, DOMAIN, FUNCTIONS, AGE.
    #[command(after_help = "Example: edgeless_cli workflow list -o wide")]
    List,
    /// Print the log lines of a workflow's functions, wherever they run,
    /// each prefixed with the function's name and instance.
    #[command(after_help = "Example: edgeless_cli workflow logs ping_pong --function ponger -f")]
    Logs {
        /// A name, id or unique id prefix.
        workflow: String,
        /// Only this function's lines (its name in the workflow).
        #[arg(long)]
        function: Option<String>,
        /// Keep printing new lines until interrupted (Ctrl-C), also from
        /// instances re-created on other nodes.
        #[arg(short, long)]
        follow: bool,
        /// Only lines of the last SECONDS seconds.
        #[arg(long, value_name = "SECONDS")]
        since: Option<u64>,
        /// Only the last N lines kept so far.
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
        /// Prefix each line with its time (UTC).
        #[arg(long)]
        timestamps: bool,
    },
    /// Move a workflow to another orchestration domain: each function is
    /// stopped, then started there from its last synced state.
    #[command(after_help = "Example: edgeless_cli workflow migrate ping_pong site-b")]
    Migrate {
        /// A name, id or unique id prefix.
        workflow: String,
        /// The domain to move to (as `domain list` shows it).
        domain: String,
    },
    /// Move one component of a workflow to another orchestration domain;
    /// the rest stays, and events cross between the domains.
    #[command(
        name = "migrate-component",
        after_help = "Example: edgeless_cli workflow migrate-component ping_pong site-b pinger"
    )]
    MigrateComponent {
        /// A name, id or unique id prefix.
        workflow: String,
        /// The domain to move to (as `domain list` shows it).
        domain: String,
        /// The component's name in the workflow.
        component: String,
    },
    /// Show a workflow's functions, resources, domains and instances.
    #[command(after_help = "Example: edgeless_cli workflow inspect ping_pong -o json")]
    Inspect {
        /// A name, id or unique id prefix.
        workflow: String,
    },
}

/// The default name of the workflow in `file`.
fn default_name(file: &Path) -> String {
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let folder = file
        .canonicalize()
        .ok()
        .and_then(|p| p.parent()?.file_name()?.to_str().map(str::to_string));
    let name = match folder {
        Some(folder) if stem == "workflow" => folder,
        _ => stem.to_string(),
    };
    // What cannot be a name is made into one.
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(edgeless_api::workflow::MAX_NAME_LEN)
        .collect();
    if edgeless_api::workflow::is_workflow_name(&name) {
        name
    } else {
        format!("w{}", name.trim_start_matches(['-', '_', '.']))
    }
}

/// The request of the workflow in `spec_file`, named `name` or after the
/// file, checked.
fn load_request(
    spec_file: &Path,
    name: Option<String>,
) -> Result<proto::SpawnWorkflowRequest, CliError> {
    let spec = WorkflowSpec::load(spec_file).map_err(|e| CliError::Input(e.into()))?;
    let base = spec_file.parent().map(PathBuf::from).unwrap_or_default();
    let mut request = spec
        .to_request(&base)
        .map_err(|e| CliError::Input(anyhow::anyhow!("{}: {e}", spec_file.display())))?;
    request.name = name.unwrap_or_else(|| default_name(spec_file));
    edgeless_api::workflow::validate(&request).map_err(|e| CliError::Input(e.into()))?;
    edgeless_api::workflow::pack_codes(&mut request);
    edgeless_api::workflow::check_message_size(&request)
        .map_err(|e| CliError::Input(anyhow::anyhow!("{}: {e}", spec_file.display())))?;
    Ok(request)
}

/// Starts `request`; prints its id.
async fn start(session: &Session, request: proto::SpawnWorkflowRequest) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let name = request.name.clone();
    let response = deploying_controller(session)?
        .start(request)
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner();
    out!("{}", response.workflow_id);
    eprintln!("workflow {name} started");
    Ok(())
}

/// The running workflows.
async fn summaries(session: &Session) -> Result<Vec<proto::WorkflowSummary>, CliError> {
    let url = &session.cluster.controller_url;
    Ok(controller(session)?
        .list(proto::Empty {})
        .await
        .map_err(|s| CliError::from_status(url, s))?
        .into_inner()
        .workflows)
}

/// The id of the running workflow `given` names: a full id, a name, or a
/// prefix of exactly one id.
fn resolve(given: &str, workflows: &[proto::WorkflowSummary]) -> Result<String, CliError> {
    if let Some(w) = workflows.iter().find(|w| w.workflow_id == given) {
        return Ok(w.workflow_id.clone());
    }
    let named: Vec<&proto::WorkflowSummary> =
        workflows.iter().filter(|w| w.name == given).collect();
    match named.as_slice() {
        [one] => return Ok(one.workflow_id.clone()),
        [] => {}
        many => {
            let ids: Vec<&str> = many.iter().map(|w| w.workflow_id.as_str()).collect();
            return Err(CliError::Usage(format!(
                "{} workflows are named {given}: give an id ({})",
                many.len(),
                ids.join(", ")
            )));
        }
    }
    let prefixed: Vec<&proto::WorkflowSummary> = workflows
        .iter()
        .filter(|w| given.len() >= 4 && w.workflow_id.starts_with(given))
        .collect();
    match prefixed.as_slice() {
        [one] => Ok(one.workflow_id.clone()),
        [] => Err(CliError::NotFound(format!(
            "no running workflow is named {given} or has an id starting with it"
        ))),
        many => Err(CliError::Usage(format!(
            "{given} starts {} workflow ids: give more of it",
            many.len()
        ))),
    }
}

/// The id of the running workflow `given` names, or `given` itself when it
/// is a full id (of a workflow that may have stopped).
pub async fn resolve_or_id(session: &Session, given: &str) -> Result<String, CliError> {
    match resolve(given, &summaries(session).await?) {
        Err(CliError::NotFound(_)) if uuid::Uuid::parse_str(given).is_ok() => Ok(given.to_string()),
        resolved => resolved,
    }
}

pub async fn run(command: WorkflowCommand, session: &Session) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let status = |s| CliError::from_status(url, s);
    match command {
        WorkflowCommand::Start {
            spec_file,
            name,
            allow_duplicate,
        } => {
            let mut request = load_request(&spec_file, name)?;
            request.allow_duplicate = allow_duplicate;
            start(session, request).await?;
        }
        WorkflowCommand::Apply { spec_file, name } => {
            let request = load_request(&spec_file, name)?;
            let running = summaries(session).await?;
            let same: Vec<&proto::WorkflowSummary> =
                running.iter().filter(|w| w.name == request.name).collect();
            match same.as_slice() {
                [] => start(session, request).await?,
                [one] => {
                    let name = request.name.clone();
                    let answer = deploying_controller(session)?
                        .update(proto::UpdateWorkflowRequest {
                            workflow_id: one.workflow_id.clone(),
                            request: Some(request),
                        })
                        .await
                        .map_err(status)?
                        .into_inner();
                    out!("{}", answer.workflow_id);
                    for (what, names) in [
                        ("added", &answer.added),
                        ("changed (re-created)", &answer.changed),
                        ("removed", &answer.removed),
                        ("unchanged", &answer.kept),
                    ] {
                        if !names.is_empty() {
                            eprintln!("{what}: {}", names.join(", "));
                        }
                    }
                    eprintln!("workflow {name} updated");
                }
                many => {
                    return Err(CliError::Usage(format!(
                        "{} workflows are named {}: stop all but one first",
                        many.len(),
                        request.name
                    )));
                }
            }
        }
        WorkflowCommand::Stop { workflows, all } => {
            let running = summaries(session).await?;
            let ids: Vec<String> = if all {
                running.iter().map(|w| w.workflow_id.clone()).collect()
            } else {
                workflows
                    .iter()
                    .map(|given| resolve(given, &running))
                    .collect::<Result<_, _>>()?
            };
            let mut client = deploying_controller(session)?;
            for id in ids {
                client
                    .stop(proto::WorkflowId {
                        workflow_id: id.clone(),
                    })
                    .await
                    .map_err(status)?;
                eprintln!("workflow {id} stopped");
            }
        }
        WorkflowCommand::Logs {
            workflow,
            function,
            follow,
            since,
            tail,
            timestamps,
        } => {
            let workflow_id = resolve(&workflow, &summaries(session).await?)?;
            let query = super::logs::LogsQuery {
                workflow_id,
                function,
                follow,
                since_seconds: since,
                tail,
                timestamps,
            };
            super::logs::logs(session, query).await?;
        }
        WorkflowCommand::Migrate { workflow, domain } => {
            super::migrate::migrate(session, &workflow, &domain, None).await?;
        }
        WorkflowCommand::MigrateComponent {
            workflow,
            domain,
            component,
        } => {
            super::migrate::migrate(session, &workflow, &domain, Some(&component)).await?;
        }
        WorkflowCommand::List => {
            let rows: Vec<WorkflowRow> = summaries(session)
                .await?
                .into_iter()
                .map(Into::into)
                .collect();
            print_list(rows, session.output)?;
        }
        WorkflowCommand::Inspect { workflow } => {
            let id = resolve(&workflow, &summaries(session).await?)?;
            let info = controller(session)?
                .inspect(proto::WorkflowId { workflow_id: id })
                .await
                .map_err(status)?
                .into_inner();
            let view = inspect_view(info);
            match session.output {
                Output::Json | Output::Yaml => print_data(&view, session.output)?,
                Output::Text | Output::Wide => print_inspect(&view),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, name: &str) -> proto::WorkflowSummary {
        proto::WorkflowSummary {
            workflow_id: id.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn workflows_are_found_by_id_name_or_unique_prefix() {
        let running = [
            summary("6f1c0000-0000-4000-8000-000000000001", "ping"),
            summary("6f1d0000-0000-4000-8000-000000000002", "pong"),
            summary("a0000000-0000-4000-8000-000000000003", "twin"),
            summary("b0000000-0000-4000-8000-000000000004", "twin"),
        ];
        assert_eq!(resolve("ping", &running).unwrap(), running[0].workflow_id);
        assert_eq!(resolve("6f1d", &running).unwrap(), running[1].workflow_id);
        assert_eq!(
            resolve(&running[2].workflow_id, &running).unwrap(),
            running[2].workflow_id
        );
        // Fewer than four characters are never taken as a prefix.
        let short = resolve("6f1", &running).unwrap_err().to_string();
        assert!(short.contains("no running workflow"), "{short}");
        let two = [
            summary("6f1c0000-0000-4000-8000-000000000001", ""),
            summary("6f1c0000-0000-4000-8000-000000000002", ""),
        ];
        let ambiguous = resolve("6f1c0000", &two).unwrap_err();
        assert_eq!(ambiguous.exit_code(), crate::error::EXIT_USAGE);
        assert!(
            ambiguous.to_string().contains("starts 2 workflow ids"),
            "{ambiguous}"
        );
        let twins = resolve("twin", &running).unwrap_err();
        assert_eq!(twins.exit_code(), crate::error::EXIT_USAGE);
        assert!(
            twins.to_string().contains("2 workflows are named twin"),
            "{twins}"
        );
        let none = resolve("nope", &running).unwrap_err();
        assert_eq!(none.exit_code(), crate::error::EXIT_NOT_FOUND);
    }

    #[test]
    fn default_names_come_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("ping_pong");
        std::fs::create_dir(&folder).unwrap();
        let file = folder.join("workflow.json");
        std::fs::write(&file, "{}").unwrap();
        assert_eq!(default_name(&file), "ping_pong");
        let other = folder.join("my flow.json");
        std::fs::write(&other, "{}").unwrap();
        assert_eq!(default_name(&other), "my-flow");
        assert_eq!(default_name(Path::new("-x.json")), "wx");
    }
}
