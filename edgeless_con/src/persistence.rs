//! The workflows the controller keeps in its data directory
//! (`<data_dir>/controller.redb`): written when a workflow is deployed (or
//! deployed again), removed when it is stopped, read back at start.

use std::collections::HashMap;

use edgeless_api::proto;
use edgeless_api::store::{Store, StoreError, Table};
use uuid::Uuid;

use crate::controller::{Component, State, Workflow};

const WORKFLOWS: Table = Table("workflows");

/// Opens the store of `data_dir` (empty: nothing is kept).
pub fn open(data_dir: &str) -> Result<Store, StoreError> {
    Store::open(data_dir, "controller.redb", &[WORKFLOWS])
}

/// Saves a workflow; a failure is logged (the workflow runs anyway).
pub fn save(store: &Store, id: Uuid, workflow: &Workflow) {
    let record = proto::StoredWorkflow {
        request: Some(workflow.request.clone()),
        lids: workflow
            .lids
            .iter()
            .map(|(name, lid)| (name.clone(), lid.to_string()))
            .collect(),
        // Read by older controllers; each component names its own.
        domain_id: match workflow.domains().as_slice() {
            [one] => one.clone(),
            _ => String::new(),
        },
        started_unix: workflow.started_unix,
        tenant: workflow.tenant.clone(),
        components: workflow
            .components
            .iter()
            .map(|c| proto::StoredComponentRef {
                name: c.name.clone(),
                lid: c.lid.to_string(),
                is_function: c.is_function,
                domain_id: c.domain_id.clone(),
            })
            .collect(),
    };
    let bytes = prost::Message::encode_to_vec(&record);
    if let Err(error) = store.put(WORKFLOWS, &id.to_string(), &bytes) {
        tracing::error!(workflow = %id, %error, "workflow not saved; it will be lost if the controller restarts");
    }
}

/// Forgets a stopped workflow.
pub fn remove(store: &Store, id: Uuid) {
    if let Err(error) = store.delete(WORKFLOWS, &id.to_string()) {
        tracing::error!(workflow = %id, %error, "stopped workflow not removed from the store");
    }
}

/// The saved workflows. A record that does not make sense is skipped with a
/// warning.
pub fn load(store: &Store) -> Result<Vec<(Uuid, Workflow)>, StoreError> {
    let mut workflows = Vec::new();
    for (key, record) in store.records::<proto::StoredWorkflow>(WORKFLOWS)? {
        match decode(&key, record) {
            Ok(entry) => workflows.push(entry),
            Err(error) => tracing::warn!(workflow = key, error, "skipping a saved workflow"),
        }
    }
    Ok(workflows)
}

fn decode(key: &str, record: proto::StoredWorkflow) -> Result<(Uuid, Workflow), String> {
    let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| format!("bad id {s:?}"));
    let id = uuid(key)?;
    let request = record.request.ok_or("no request")?;
    let lids = record
        .lids
        .into_iter()
        .map(|(name, lid)| Ok((name, uuid(&lid)?)))
        .collect::<Result<HashMap<_, _>, String>>()?;
    let components = record
        .components
        .into_iter()
        .map(|c| {
            Ok(Component {
                lid: uuid(&c.lid)?,
                name: c.name,
                is_function: c.is_function,
                instances: Vec::new(),
                domain_id: if c.domain_id.is_empty() {
                    record.domain_id.clone()
                } else {
                    c.domain_id
                },
                previous_domain: String::new(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((
        id,
        Workflow {
            request,
            lids,
            components,
            state: State::Running,
            wired: Default::default(),
            started_unix: record.started_unix,
            tenant: if record.tenant.is_empty() {
                edgeless_api::auth::DEFAULT_TENANT.to_string()
            } else {
                record.tenant
            },
        },
    ))
}
