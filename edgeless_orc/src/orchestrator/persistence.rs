//! What the orchestrator keeps in its data directory
//! (`<data_dir>/orchestrator.redb`): every logical component (its start
//! request, instance count and output mapping) and the states functions
//! saved with `sync`. After a restart the components are read back and
//! their instances re-created as nodes join (nodes are reset when they join
//! an orchestrator that does not know them, so no instance runs twice).

use std::collections::HashMap;

use edgeless_api::proto;
use edgeless_api::store::{Store, StoreError, Table};
use uuid::Uuid;

use super::{Component, Spec};

const COMPONENTS: Table = Table("components");
const STATES: Table = Table("states");

/// Opens the store of `data_dir` (empty: nothing is kept).
pub fn open(data_dir: &str) -> Result<Store, StoreError> {
    Store::open(data_dir, "orchestrator.redb", &[COMPONENTS, STATES])
}

/// Saves a component; a failure is logged.
pub fn save_component(store: &Store, lid: Uuid, component: &Component) {
    let record = proto::StoredComponent {
        spec: Some(match &component.spec {
            Spec::Function(request) => proto::stored_component::Spec::Function(request.clone()),
            Spec::Resource(request) => proto::stored_component::Spec::Resource(request.clone()),
        }),
        desired: component.desired as u32,
        mapping: component
            .mapping
            .iter()
            .map(|(output, targets)| {
                let ids = targets.iter().map(Uuid::to_string).collect();
                (output.clone(), proto::LogicalTargets { ids })
            })
            .collect(),
    };
    let bytes = prost::Message::encode_to_vec(&record);
    if let Err(error) = store.put(COMPONENTS, &lid.to_string(), &bytes) {
        tracing::error!(component = %lid, %error, "component not saved; it will be lost if the orchestrator restarts");
    }
}

/// Forgets a stopped component and its state.
pub fn remove_component(store: &Store, lid: Uuid) {
    let key = lid.to_string();
    if let Err(error) = store
        .delete(COMPONENTS, &key)
        .and_then(|()| store.delete(STATES, &key))
    {
        tracing::error!(component = %lid, %error, "stopped component not removed from the store");
    }
}

/// Saves states reported by a node, in one transaction.
pub fn save_states(store: &Store, states: &[(String, Vec<u8>)]) {
    if states.is_empty() {
        return;
    }
    let entries = states.iter().map(|(k, v)| (k.as_str(), v.as_slice()));
    if let Err(error) = store.put_all(STATES, entries) {
        tracing::error!(%error, "function states not saved");
    }
}

/// What an orchestrator finds in its store.
pub struct Saved {
    /// The components, without instances.
    pub components: HashMap<Uuid, Component>,
    /// The states functions saved, by state id.
    pub states: HashMap<String, Vec<u8>>,
}

/// The saved components and states.
pub fn load(store: &Store) -> Result<Saved, StoreError> {
    let mut components = HashMap::new();
    for (key, record) in store.records::<proto::StoredComponent>(COMPONENTS)? {
        match decode(&key, record) {
            Ok((lid, component)) => {
                components.insert(lid, component);
            }
            Err(error) => tracing::warn!(component = key, error, "skipping a saved component"),
        }
    }
    let states = store.all(STATES)?.into_iter().collect();
    Ok(Saved { components, states })
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
