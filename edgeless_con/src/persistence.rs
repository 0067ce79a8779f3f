//! The workflows the controller keeps in its data directory
//! (`<data_dir>/controller.redb`): written when a workflow is deployed (or
//! deployed again), removed when it is stopped, read back at start.
//! Function code is kept once per content; changes are written behind, so
//! no request waits for the disk.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use edgeless_api::proto;
use edgeless_api::store::{Codes, Store, StoreError, Table, WriteBehind};
use uuid::Uuid;

use crate::controller::{Component, State, Workflow};

const WORKFLOWS: Table = Table("workflows");
/// Function code by its key (see [`Codes`]).
const CODE: Table = Table("code");

/// The workflows read back, by id.
pub type Saved = Vec<(Uuid, Workflow)>;

/// Where the controller's changes go (nowhere by default). Cheap to clone.
#[derive(Clone)]
pub struct Kept {
    writer: WriteBehind,
    codes: Arc<Codes>,
    /// Whether the store was written by an earlier run.
    history: bool,
}

impl Default for Kept {
    fn default() -> Self {
        Self {
            writer: WriteBehind::default(),
            codes: Arc::new(Codes::new(CODE)),
            history: false,
        }
    }
}

impl Kept {
    /// Whether the store was written by an earlier run (see
    /// [`Store::has_history`]).
    pub fn has_history(&self) -> bool {
        self.history
    }
}

/// Opens the store of `data_dir` (empty: nothing is kept) and reads back
/// the workflows it holds.
pub fn open(data_dir: &str) -> Result<(Kept, Saved), StoreError> {
    let store = Store::open(data_dir, "controller.redb", &[WORKFLOWS, CODE])?;
    let codes = Arc::new(Codes::new(CODE));
    let (workflows, used) = load(&store, &codes)?;
    let kept = Kept {
        history: store.has_history(),
        writer: WriteBehind::new(store),
        codes,
    };
    kept.codes.prune(&kept.writer, &used);
    Ok((kept, workflows))
}

/// Saves a workflow; a failure is logged (the workflow runs anyway).
pub fn save(kept: &Kept, id: Uuid, workflow: &Workflow) {
    let mut request = workflow.request.clone();
    let mut code_keys = HashMap::new();
    for function in &mut request.workflow_functions {
        if let Some(class) = &mut function.class_spec
            && !class.function_class_code.is_empty()
        {
            let key = kept.codes.keep_keyed(
                &kept.writer,
                &class.function_class_code_key,
                &class.function_class_code,
            );
            code_keys.insert(function.name.clone(), key);
            class.function_class_code = Default::default();
        }
    }
    let record = proto::StoredWorkflow {
        request: Some(request),
        code_keys,
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
    kept.writer.put(WORKFLOWS, id.to_string(), bytes);
}

/// Forgets a stopped workflow.
pub fn remove(kept: &Kept, id: Uuid) {
    kept.writer.delete(WORKFLOWS, id.to_string());
}

/// The saved workflows, and the code keys they use. A record that does not
/// make sense is skipped with a warning.
fn load(store: &Store, codes: &Codes) -> Result<(Saved, HashSet<String>), StoreError> {
    let code = codes.load(store)?;
    let mut used = HashSet::new();
    let mut workflows = Vec::new();
    for (key, mut record) in store.records::<proto::StoredWorkflow>(WORKFLOWS)? {
        if let Err(error) = restore_code(&mut record, &code) {
            tracing::warn!(workflow = key, error, "skipping a saved workflow");
            continue;
        }
        used.extend(record.code_keys.values().cloned());
        match decode(&key, record) {
            Ok(entry) => workflows.push(entry),
            Err(error) => tracing::warn!(workflow = key, error, "skipping a saved workflow"),
        }
    }
    Ok((workflows, used))
}

/// Puts the code kept apart back into `record`'s functions.
fn restore_code(
    record: &mut proto::StoredWorkflow,
    code: &HashMap<String, prost::bytes::Bytes>,
) -> Result<(), String> {
    let Some(request) = &mut record.request else {
        return Ok(());
    };
    for function in &mut request.workflow_functions {
        if let (Some(key), Some(class)) = (
            record.code_keys.get(&function.name),
            &mut function.class_spec,
        ) {
            class.function_class_code = code
                .get(key)
                .cloned()
                .ok_or_else(|| format!("the code of function {:?} is missing", function.name))?;
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn workflow(code: &'static [u8]) -> Workflow {
        let function = |name: &str| proto::WorkflowFunction {
            name: name.into(),
            class_spec: Some(proto::FunctionClassSpecification {
                function_class_id: "c".into(),
                function_class_type: "RUST_WASM".into(),
                function_class_code: prost::bytes::Bytes::from_static(code),
                ..Default::default()
            }),
            ..Default::default()
        };
        Workflow {
            request: proto::SpawnWorkflowRequest {
                workflow_functions: vec![function("a"), function("b")],
                ..Default::default()
            },
            lids: HashMap::from([("a".into(), Uuid::new_v4()), ("b".into(), Uuid::new_v4())]),
            components: Vec::new(),
            state: State::Running,
            started_unix: 1,
            tenant: "t".into(),
            wired: Default::default(),
        }
    }

    #[test]
    fn workflows_come_back_with_their_code_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap();
        let (one, two) = (Uuid::new_v4(), Uuid::new_v4());
        {
            let (kept, saved) = open(data_dir).unwrap();
            assert!(saved.is_empty());
            save(&kept, one, &workflow(b"\0asm one"));
            save(&kept, two, &workflow(b"\0asm two"));
            remove(&kept, two);
        }
        let store = Store::open(data_dir, "controller.redb", &[CODE]).unwrap();
        assert_eq!(store.all(CODE).unwrap().len(), 2);
        drop(store);
        let (kept, saved) = open(data_dir).unwrap();
        assert_eq!(saved.len(), 1);
        let (id, back) = &saved[0];
        assert_eq!(*id, one);
        for function in &back.request.workflow_functions {
            let class = function.class_spec.as_ref().unwrap();
            assert_eq!(&class.function_class_code[..], b"\0asm one");
        }
        assert!(kept.has_history());
        drop(kept);
        // The code of the stopped workflow was dropped at the last open.
        let store = Store::open(data_dir, "controller.redb", &[CODE]).unwrap();
        assert_eq!(store.all(CODE).unwrap().len(), 1);
    }
}
