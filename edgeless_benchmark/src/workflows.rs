//! The workflows an experiment starts (`--wf-type`).

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use edgeless_api::proto::{FunctionClassSpecification, SpawnWorkflowRequest, WorkflowFunction};

/// What kind of workflow each arrival starts.
#[derive(Debug, Clone)]
pub enum WorkflowType {
    /// No workflow: the schedule alone.
    None,
    /// One function named `single` (class from a function.json, code from a
    /// .wasm file), no mappings.
    Single { class: FunctionClassSpecification },
    /// `counter` → `incr` → … → `incr`: a chain of `length` functions
    /// passing a value on every second.
    Chain {
        length: usize,
        counter: Vec<u8>,
        incr: Vec<u8>,
    },
    /// `source` (counter) → `split` (scatter) → `map-0` … `map-{width-1}`
    /// (incr) → `reduce` (gather, waiting for all `width` results of each
    /// value).
    MapReduce {
        width: usize,
        counter: Vec<u8>,
        scatter: Vec<u8>,
        incr: Vec<u8>,
        gather: Vec<u8>,
    },
}

/// The widest map step `map-reduce` takes (scatter's outputs).
pub const MAX_MAP_WIDTH: usize = 16;

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl WorkflowType {
    /// Parses `none`, `single;FUNCTION_JSON;WASM`, `chain;LENGTH[;FUNCTIONS_DIR]`
    /// or `map-reduce;WIDTH[;FUNCTIONS_DIR]` (they take `NAME/NAME.wasm` of
    /// counter, incr, scatter and gather from FUNCTIONS_DIR, default
    /// `functions`).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let parts: Vec<&str> = text.split(';').collect();
        match parts.as_slice() {
            ["none"] => Ok(Self::None),
            ["single", spec, wasm] => {
                let spec_text = String::from_utf8(read(Path::new(spec))?)
                    .with_context(|| format!("{spec} is not text"))?;
                let spec_json: serde_json::Value = serde_json::from_str(&spec_text)
                    .with_context(|| format!("{spec} is not JSON"))?;
                let field = |name: &str| {
                    spec_json
                        .get(name)
                        .and_then(|v| v.as_str())
                        .map(str::to_string)
                        .ok_or_else(|| anyhow!("{spec} has no string field `{name}`"))
                };
                Ok(Self::Single {
                    class: FunctionClassSpecification {
                        function_class_id: field("id")?,
                        function_class_type: field("function_type")?,
                        function_class_version: field("version")?,
                        function_class_code: read(Path::new(wasm))?.into(),
                        function_class_outputs: Vec::new(),
                        function_class_code_key: String::new(),
                    },
                })
            }
            ["chain", length, rest @ ..] if rest.len() <= 1 => {
                let length: usize = length
                    .parse()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(|| anyhow!("chain length {length:?} is not 1..=100"))?;
                let dir = PathBuf::from(rest.first().copied().unwrap_or("functions"));
                Ok(Self::Chain {
                    length,
                    counter: read(&dir.join("counter/counter.wasm"))?,
                    incr: read(&dir.join("incr/incr.wasm"))?,
                })
            }
            ["map-reduce", width, rest @ ..] if rest.len() <= 1 => {
                let width: usize = width
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_MAP_WIDTH).contains(n))
                    .ok_or_else(|| anyhow!("map width {width:?} is not 1..={MAX_MAP_WIDTH}"))?;
                let dir = PathBuf::from(rest.first().copied().unwrap_or("functions"));
                let code = |name: &str| read(&dir.join(name).join(format!("{name}.wasm")));
                Ok(Self::MapReduce {
                    width,
                    counter: code("counter")?,
                    scatter: code("scatter")?,
                    incr: code("incr")?,
                    gather: code("gather")?,
                })
            }
            _ => Err(anyhow!(
                "unknown workflow type {text:?}: none, single;FUNCTION_JSON;WASM, chain;LENGTH[;FUNCTIONS_DIR] or map-reduce;WIDTH[;FUNCTIONS_DIR]"
            )),
        }
    }

    /// The request for workflow number `index`, or `None` for `none`.
    pub fn request(&self, index: usize) -> Option<SpawnWorkflowRequest> {
        let functions = match self {
            Self::None => return None,
            Self::Single { class } => {
                vec![function("single", class.clone(), &[], index.to_string())]
            }
            Self::Chain {
                length,
                counter,
                incr,
            } => (0..*length)
                .map(|i| {
                    let next = format!("f{}", i + 1);
                    let links: &[(&str, &str)] = match (i == 0, i + 1 < *length) {
                        (true, true) => &[("output", &next)],
                        (false, true) => &[("result", &next)],
                        (_, false) => &[],
                    };
                    let class = if i == 0 {
                        wasm_class("counter", counter, &["output"])
                    } else {
                        wasm_class("incr", incr, &["result"])
                    };
                    function(&format!("f{i}"), class, links, index.to_string())
                })
                .collect(),
            Self::MapReduce {
                width,
                counter,
                scatter,
                incr,
                gather,
            } => {
                let outputs: Vec<String> = (0..MAX_MAP_WIDTH).map(|i| format!("out-{i}")).collect();
                let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
                let maps: Vec<(String, String)> = (0..*width)
                    .map(|i| (format!("out-{i}"), format!("map-{i}")))
                    .collect();
                let maps: Vec<(&str, &str)> =
                    maps.iter().map(|(o, t)| (o.as_str(), t.as_str())).collect();
                let mut functions = vec![
                    function(
                        "source",
                        wasm_class("counter", counter, &["output"]),
                        &[("output", "split")],
                        index.to_string(),
                    ),
                    function(
                        "split",
                        wasm_class("scatter", scatter, &outputs),
                        &maps,
                        format!("outputs={width}"),
                    ),
                    function(
                        "reduce",
                        wasm_class("gather", gather, &["result"]),
                        &[],
                        format!("inputs={width}"),
                    ),
                ];
                functions.extend((0..*width).map(|i| {
                    function(
                        &format!("map-{i}"),
                        wasm_class("incr", incr, &["result"]),
                        &[("result", "reduce")],
                        String::new(),
                    )
                }));
                functions
            }
        };
        Some(SpawnWorkflowRequest {
            workflow_functions: functions,
            workflow_resources: Vec::new(),
            ..Default::default()
        })
    }
}

fn wasm_class(id: &str, code: &[u8], outputs: &[&str]) -> FunctionClassSpecification {
    FunctionClassSpecification {
        function_class_id: id.into(),
        function_class_type: edgeless_api::RUST_WASM.into(),
        function_class_version: "0.1".into(),
        function_class_code: code.to_vec().into(),
        function_class_outputs: outputs.iter().map(|o| o.to_string()).collect(),
        function_class_code_key: String::new(),
    }
}

/// A workflow function named `name` whose outputs go as `links` says
/// (output, target), with `init_payload` (none when empty).
fn function(
    name: &str,
    class: FunctionClassSpecification,
    links: &[(&str, &str)],
    init_payload: String,
) -> WorkflowFunction {
    WorkflowFunction {
        name: name.into(),
        class_spec: Some(class),
        output_mapping: links
            .iter()
            .map(|(output, target)| (output.to_string(), target.to_string()))
            .collect(),
        annotations: if init_payload.is_empty() {
            Default::default()
        } else {
            [("init-payload".to_string(), init_payload)].into()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder with an empty module `NAME/NAME.wasm` for each name.
    fn functions_dir(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::create_dir_all(dir.path().join(name)).unwrap();
            std::fs::write(
                dir.path().join(name).join(format!("{name}.wasm")),
                b"\0asm\x01\0\0\0",
            )
            .unwrap();
        }
        dir
    }

    #[test]
    fn a_chain_links_each_function_to_the_next() {
        let dir = functions_dir(&["counter", "incr"]);
        let text = format!("chain;3;{}", dir.path().display());
        let request = WorkflowType::parse(&text).unwrap().request(7).unwrap();
        let links: Vec<(String, Vec<(String, String)>)> = request
            .workflow_functions
            .iter()
            .map(|f| {
                (
                    f.name.clone(),
                    f.output_mapping.clone().into_iter().collect(),
                )
            })
            .collect();
        assert_eq!(
            links,
            vec![
                ("f0".into(), vec![("output".into(), "f1".into())]),
                ("f1".into(), vec![("result".into(), "f2".into())]),
                ("f2".into(), vec![]),
            ]
        );
        assert!(edgeless_api::workflow::validate(&request).is_ok());
    }

    #[test]
    fn bad_types_and_missing_files_are_named() {
        assert!(
            WorkflowType::parse("vector-mul-chain")
                .unwrap_err()
                .to_string()
                .contains("unknown workflow type")
        );
        assert!(
            WorkflowType::parse("chain;0")
                .unwrap_err()
                .to_string()
                .contains("1..=100")
        );
        let error = WorkflowType::parse("single;/nonexistent/function.json;x.wasm").unwrap_err();
        assert!(
            format!("{error:#}").contains("/nonexistent/function.json"),
            "{error:#}"
        );
        assert!(
            WorkflowType::parse("map-reduce;17")
                .unwrap_err()
                .to_string()
                .contains("1..=16")
        );
        assert!(WorkflowType::parse("none").unwrap().request(0).is_none());
    }

    #[test]
    fn a_map_reduce_fans_out_to_every_mapper_and_back_in() {
        let dir = functions_dir(&["counter", "incr", "scatter", "gather"]);
        let text = format!("map-reduce;3;{}", dir.path().display());
        let request = WorkflowType::parse(&text).unwrap().request(5).unwrap();
        let find = |name: &str| {
            request
                .workflow_functions
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no {name}"))
        };
        assert_eq!(request.workflow_functions.len(), 3 + 3);
        assert_eq!(find("source").output_mapping["output"], "split");
        let split = find("split");
        assert_eq!(split.output_mapping.len(), 3);
        assert_eq!(split.output_mapping["out-2"], "map-2");
        assert_eq!(split.annotations["init-payload"], "outputs=3");
        assert_eq!(find("map-1").output_mapping["result"], "reduce");
        assert_eq!(find("reduce").annotations["init-payload"], "inputs=3");
        assert_eq!(find("source").annotations["init-payload"], "5");
        assert!(edgeless_api::workflow::validate(&request).is_ok());
    }
}
