//! `edgeless_cli workflow migrate` and `migrate-component`: move a workflow,
//! or one of its components, to another orchestration domain.

use edgeless_api::proto;

use super::Session;
use crate::error::CliError;

/// Moves `component` of `workflow` (none: all of it) to `domain`.
pub async fn migrate(
    session: &Session,
    workflow: &str,
    domain: &str,
    component: Option<&str>,
) -> Result<(), CliError> {
    let url = &session.cluster.controller_url;
    let workflow_id = super::workflow::resolve_or_id(session, workflow).await?;
    super::deploying_controller(session)?
        .migrate(proto::MigrateWorkflowRequest {
            workflow_id: workflow_id.clone(),
            domain_id: domain.to_string(),
            component: component.unwrap_or_default().to_string(),
        })
        .await
        .map_err(|s| CliError::from_status(url, s))?;
    match component {
        Some(component) => {
            eprintln!("{component} of workflow {workflow_id} now runs in domain {domain}")
        }
        None => eprintln!("workflow {workflow_id} now runs in domain {domain}"),
    }
    Ok(())
}
