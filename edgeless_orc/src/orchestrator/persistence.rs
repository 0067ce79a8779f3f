//! What the orchestrator keeps in its data directory
//! (`<data_dir>/orchestrator.redb`): every logical component (its start
//! request, instance count and output mapping; function code once per
//! content), the states functions saved with `sync`, and which nodes are
//! cordoned (a node restarted for maintenance stays cordoned). Changes are written
//! behind, so the orchestrator's task never waits for the disk. After a restart the components are read back and
//! their instances re-created as nodes join (nodes are reset when they join
//! an orchestrator that does not know them, so no instance runs twice).

use std::collections::{HashMap, HashSet};

use edgeless_api::proto;
use edgeless_api::store::{Codes, Store, StoreError, Table, WriteBehind};
use uuid::Uuid;

use super::{Component, Spec};

const COMPONENTS: Table = Table("components");
/// Output mappings, apart from the components (which hold the code): a
/// patch rewrites only the mapping.
const MAPPINGS: Table = Table("mappings");
const STATES: Table = Table("states");
/// Function code by its key (see [`Codes`]).
const CODE: Table = Table("code");
/// Cordoned node ids (values empty).
const CORDONED: Table = Table("cordoned");

/// Where the orchestrator's changes go.
pub struct Kept {
    writer: WriteBehind,
    codes: Codes,
}

/// Opens the store of `data_dir` (empty: nothing is kept) and reads back
/// what it holds.
pub fn open(data_dir: &str) -> Result<(Kept, Saved), StoreError> {
    let store = Store::open(
        data_dir,
        "orchestrator.redb",
        &[COMPONENTS, MAPPINGS, STATES, CODE, CORDONED],
    )?;
    let codes = Codes::new(CODE);
    let (saved, used) = load(&store, &codes)?;
    let kept = Kept {
        writer: WriteBehind::new(store),
        codes,
    };
    kept.codes.prune(&kept.writer, &used);
    Ok((kept, saved))
}

fn logical_targets(mapping: &HashMap<String, Vec<Uuid>>) -> proto::StoredMapping {
    proto::StoredMapping {
        mapping: mapping
            .iter()
            .map(|(output, targets)| {
                let ids = targets.iter().map(Uuid::to_string).collect();
                (output.clone(), proto::LogicalTargets { ids })
            })
            .collect(),
    }
}

/// The key of a function's code (its SHA-256 in hex; code seen before is
/// recognised without hashing it again). The code is kept in the store.
pub fn code_key(kept: &Kept, class: &proto::FunctionClassSpecification) -> String {
    kept.codes.keep_keyed(
        &kept.writer,
        &class.function_class_code_key,
        &class.function_class_code,
    )
}

/// Saves a component and its mapping (written behind: the orchestrator's
/// task never waits for the disk); a failure is logged.
pub fn save_component(kept: &Kept, lid: Uuid, component: &Component) {
    let mut code_key = String::new();
    let spec = match &component.spec {
        Spec::Function(request) => {
            let mut request = request.clone();
            if let Some(class) = &mut request.code
                && !class.function_class_code.is_empty()
            {
                code_key = kept.codes.keep_keyed(
                    &kept.writer,
                    &class.function_class_code_key,
                    &class.function_class_code,
                );
                class.function_class_code = Default::default();
            }
            proto::stored_component::Spec::Function(request)
        }
        Spec::Resource(request) => proto::stored_component::Spec::Resource(request.clone()),
    };
    let record = proto::StoredComponent {
        spec: Some(spec),
        desired: component.desired as u32,
        mapping: HashMap::new(),
        code_key,
    };
    kept.writer.put(
        COMPONENTS,
        lid.to_string(),
        prost::Message::encode_to_vec(&record),
    );
    save_mapping(kept, lid, &component.mapping);
}

/// Saves a component's output mapping.
pub fn save_mapping(kept: &Kept, lid: Uuid, mapping: &HashMap<String, Vec<Uuid>>) {
    kept.writer.put(
        MAPPINGS,
        lid.to_string(),
        prost::Message::encode_to_vec(&logical_targets(mapping)),
    );
}

/// Forgets a stopped component and its state.
pub fn remove_component(kept: &Kept, lid: Uuid) {
    for table in [COMPONENTS, MAPPINGS, STATES] {
        kept.writer.delete(table, lid.to_string());
    }
}

/// Saves states reported by a node.
pub fn save_states(kept: &Kept, states: Vec<(String, Vec<u8>)>) {
    for (key, state) in states {
        kept.writer.put(STATES, key, state);
    }
}

/// Records that node `node_id` is cordoned (or drained), or no longer.
pub fn save_cordon(kept: &Kept, node_id: Uuid, cordoned: bool) {
    match cordoned {
        true => kept.writer.put(CORDONED, node_id.to_string(), Vec::new()),
        false => kept.writer.delete(CORDONED, node_id.to_string()),
    }
}

/// What an orchestrator finds in its store.
pub struct Saved {
    /// The components, without instances.
    pub components: HashMap<Uuid, Component>,
    /// The states functions saved, by state id.
    pub states: HashMap<String, Vec<u8>>,
    /// The cordoned nodes.
    pub cordoned: HashSet<Uuid>,
}

/// The saved components and states, and the code keys they use.
fn load(store: &Store, codes: &Codes) -> Result<(Saved, HashSet<String>), StoreError> {
    let mut components = HashMap::new();
    let mut used = HashSet::new();
    let code = codes.load(store)?;
    let mut mappings: HashMap<String, proto::StoredMapping> =
        store.records(MAPPINGS)?.into_iter().collect();
    for (key, mut record) in store.records::<proto::StoredComponent>(COMPONENTS)? {
        // Records written before mappings had their own table hold theirs.
        if let Some(kept) = mappings.remove(&key) {
            record.mapping = kept.mapping;
        }
        // Records written before code was kept apart hold it themselves.
        if !record.code_key.is_empty() {
            let Some(code) = code.get(&record.code_key) else {
                tracing::warn!(
                    component = key,
                    "skipping a saved component whose code is missing"
                );
                continue;
            };
            if let Some(proto::stored_component::Spec::Function(request)) = &mut record.spec
                && let Some(class) = &mut request.code
            {
                class.function_class_code = code.clone();
            }
            used.insert(record.code_key.clone());
        }
        match decode(&key, record) {
            Ok((lid, component)) => {
                components.insert(lid, component);
            }
            Err(error) => tracing::warn!(component = key, error, "skipping a saved component"),
        }
    }
    let states = store.all(STATES)?.into_iter().collect();
    let cordoned = store
        .all(CORDONED)?
        .into_iter()
        .filter_map(|(key, _)| Uuid::parse_str(&key).ok())
        .collect();
    let saved = Saved {
        components,
        states,
        cordoned,
    };
    Ok((saved, used))
}

fn decode(key: &str, record: proto::StoredComponent) -> Result<(Uuid, Component), String> {
    let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| format!("bad id {s:?}"));
    let lid = uuid(key)?;
    let spec = match record.spec.ok_or("no start request")? {
        proto::stored_component::Spec::Function(request) => Spec::Function(request),
        proto::stored_component::Spec::Resource(request) => Spec::Resource(request),
    };
    let mapping = record
        .mapping
        .into_iter()
        .map(|(output, targets)| {
            let ids = targets
                .ids
                .iter()
                .map(|id| uuid(id))
                .collect::<Result<_, _>>()?;
            Ok((output, ids))
        })
        .collect::<Result<HashMap<_, _>, String>>()?;
    Ok((
        lid,
        Component {
            spec,
            instances: Vec::new(),
            desired: (record.desired as usize).max(1),
            mapping,
            failures: Default::default(),
            starting: Vec::new(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(code: &'static [u8]) -> Component {
        Component {
            spec: Spec::Function(proto::SpawnFunctionRequest {
                code: Some(proto::FunctionClassSpecification {
                    function_class_id: "c".into(),
                    function_class_type: "RUST_WASM".into(),
                    function_class_code: prost::bytes::Bytes::from_static(code),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            instances: Vec::new(),
            desired: 1,
            mapping: HashMap::from([("out".to_string(), vec![Uuid::new_v4()])]),
            failures: Default::default(),
            starting: Vec::new(),
        }
    }

    fn code_of(component: &Component) -> &[u8] {
        match &component.spec {
            Spec::Function(request) => &request.code.as_ref().unwrap().function_class_code,
            Spec::Resource(_) => panic!("a resource"),
        }
    }

    /// `data_dir`'s store, opened raw.
    fn reopened(data_dir: &str) -> Store {
        Store::open(data_dir, "orchestrator.redb", &[CODE]).unwrap()
    }

    #[test]
    fn code_is_kept_once_and_dropped_with_its_last_component() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().to_str().unwrap();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let (kept, _) = open(data_dir).unwrap();
        save_component(&kept, a, &function(b"\0asm shared"));
        save_component(&kept, b, &function(b"\0asm shared"));
        save_component(&kept, c, &function(b"\0asm other"));
        remove_component(&kept, c);
        // Dropped: everything is written and the file closed.
        drop(kept);
        // Each content stored once; "other" is pruned at the next open.
        assert_eq!(reopened(data_dir).all(CODE).unwrap().len(), 2);

        let (kept, saved) = open(data_dir).unwrap();
        assert_eq!(saved.components.len(), 2);
        for lid in [a, b] {
            let component = &saved.components[&lid];
            assert_eq!(code_of(component), b"\0asm shared");
            assert_eq!(component.mapping["out"].len(), 1);
        }
        drop(kept);
        assert_eq!(reopened(data_dir).all(CODE).unwrap().len(), 1);
    }
}
