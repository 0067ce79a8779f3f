//! How `workflow list` and `workflow inspect` show workflows: as tables
//! or as JSON/YAML.

use std::collections::BTreeMap;

use edgeless_api::proto;
use serde::Serialize;

use super::{Output, print_data, print_table};
use crate::error::CliError;
use crate::output::out;

/// One row of `workflow list`.
#[derive(Serialize)]
pub(super) struct WorkflowRow {
    name: String,
    workflow_id: String,
    state: String,
    domain: String,
    functions: u32,
    resources: u32,
    started_unix: u64,
    tenant: String,
}

impl From<proto::WorkflowSummary> for WorkflowRow {
    fn from(w: proto::WorkflowSummary) -> Self {
        Self {
            name: w.name,
            workflow_id: w.workflow_id,
            state: w.state,
            domain: w.domain_id,
            functions: w.functions,
            resources: w.resources,
            started_unix: w.started_unix,
            tenant: w.tenant,
        }
    }
}

/// Everything `workflow inspect` shows.
#[derive(Serialize)]
pub(super) struct WorkflowView {
    workflow_id: String,
    name: String,
    state: String,
    functions: Vec<FunctionView>,
    resources: Vec<ResourceView>,
    components: Vec<ComponentView>,
}

#[derive(Serialize)]
struct FunctionView {
    name: String,
    function_type: String,
    class: String,
    version: String,
    outputs: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ResourceView {
    name: String,
    class_type: String,
    outputs: BTreeMap<String, String>,
    configurations: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct ComponentView {
    name: String,
    logical_id: String,
    domain: String,
    instances: Vec<String>,
    state: String,
    restarts: u32,
}

/// How long ago `started_unix` was, as `45s`, `12m`, `3h` or `2d`.
fn age(started_unix: u64) -> String {
    if started_unix == 0 {
        return "-".into();
    }
    let seconds = edgeless_api::now_secs().saturating_sub(started_unix);
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
}

pub(super) fn print_list(rows: Vec<WorkflowRow>, output: Output) -> Result<(), CliError> {
    match output {
        Output::Json | Output::Yaml => return print_data(&rows, output),
        Output::Text if rows.is_empty() => {
            eprintln!("no workflows running");
            return Ok(());
        }
        _ => {}
    }
    let wide = output == Output::Wide;
    let table = rows
        .into_iter()
        .map(|w| {
            let id = if wide {
                w.workflow_id
            } else {
                w.workflow_id.chars().take(8).collect()
            };
            let mut row = vec![
                if w.name.is_empty() {
                    "-".into()
                } else {
                    w.name
                },
                id,
                w.state,
                if w.domain.is_empty() {
                    "-".into()
                } else {
                    w.domain
                },
                w.functions.to_string(),
            ];
            if wide {
                row.push(w.resources.to_string());
                row.push(w.tenant);
            }
            row.push(age(w.started_unix));
            row
        })
        .collect();
    let header: &[&str] = if wide {
        &[
            "NAME",
            "ID",
            "STATE",
            "DOMAIN",
            "FUNCTIONS",
            "RESOURCES",
            "TENANT",
            "AGE",
        ]
    } else {
        &["NAME", "ID", "STATE", "DOMAIN", "FUNCTIONS", "AGE"]
    };
    print_table(header, table);
    Ok(())
}

pub(super) fn inspect_view(info: proto::WorkflowInstanceInfo) -> WorkflowView {
    let request = info.request.unwrap_or_default();
    let status = info.status.unwrap_or_default();
    let sorted = |map: std::collections::HashMap<String, String>| map.into_iter().collect();
    WorkflowView {
        workflow_id: status.workflow_id,
        name: request.name,
        state: status.state,
        functions: request
            .workflow_functions
            .into_iter()
            .map(|f| {
                let class = f.class_spec.unwrap_or_default();
                FunctionView {
                    name: f.name,
                    function_type: class.function_class_type,
                    class: class.function_class_id,
                    version: class.function_class_version,
                    outputs: sorted(f.output_mapping),
                    annotations: sorted(f.annotations),
                }
            })
            .collect(),
        resources: request
            .workflow_resources
            .into_iter()
            .map(|r| ResourceView {
                name: r.name,
                class_type: r.class_type,
                outputs: sorted(r.output_mapping),
                configurations: sorted(r.configurations),
            })
            .collect(),
        components: status
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
                state: m.state,
                restarts: m.restarts,
            })
            .collect(),
    }
}

pub(super) fn print_inspect(view: &WorkflowView) {
    out!("* workflow {} {}", view.workflow_id, view.name);
    out!("* state {}", view.state);
    for function in &view.functions {
        out!("* function {}", function.name);
        out!(
            "  run-time {} class {} version {}",
            function.function_type,
            function.class,
            function.version
        );
        for (output, target) in &function.outputs {
            out!("  OUT {output} -> {target}");
        }
        for (key, value) in &function.annotations {
            out!("  F_ANN {key} -> {value}");
        }
    }
    for resource in &view.resources {
        out!("* resource {}", resource.name);
        out!("  class-type {}", resource.class_type);
        for (output, target) in &resource.outputs {
            out!("  OUT {output} -> {target}");
        }
        for (key, value) in &resource.configurations {
            out!("  CONF {key} -> {value}");
        }
    }
    out!("* mapping");
    for component in &view.components {
        out!(
            "  MAP {} -> {} [logical ID {}] instances [{}] state {} restarts {}",
            component.name,
            component.domain,
            component.logical_id,
            component.instances.join(", "),
            component.state,
            component.restarts
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short() {
        let now = edgeless_api::now_secs();
        assert_eq!(age(now - 5), "5s");
        assert_eq!(age(now - 120), "2m");
        assert_eq!(age(now - 7200), "2h");
        assert_eq!(age(now - 3 * 86400), "3d");
        assert_eq!(age(0), "-");
    }
}
