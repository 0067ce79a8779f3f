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
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl WorkflowType {
    /// Parses `none`, `single;FUNCTION_JSON;WASM` or `chain;LENGTH[;FUNCTIONS_DIR]`
    /// (the chain takes `counter/counter.wasm` and `incr/incr.wasm` from
    /// FUNCTIONS_DIR, default `functions`).
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
                        function_class_code: read(Path::new(wasm))?,
                        function_class_outputs: Vec::new(),
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
            _ => Err(anyhow!(
                "unknown workflow type {text:?}: none, single;FUNCTION_JSON;WASM or chain;LENGTH[;FUNCTIONS_DIR]"
            )),
        }
    }

    /// The request for workflow number `index`, or `None` for `none`.
    pub fn request(&self, index: usize) -> Option<SpawnWorkflowRequest> {
        let function = |name: String, class: FunctionClassSpecification, next: Option<String>| {
            let output = class.function_class_outputs.first().cloned();
            WorkflowFunction {
                name,
                class_spec: Some(class),
                output_mapping: match (output, next) {
                    (Some(output), Some(next)) => [(output, next)].into(),
                    _ => Default::default(),
                },
                annotations: [("init-payload".to_string(), index.to_string())].into(),
            }
        };
        let functions = match self {
            Self::None => return None,
            Self::Single { class } => vec![function("single".into(), class.clone(), None)],
            Self::Chain {
                length,
                counter,
                incr,
            } => (0..*length)
                .map(|i| {
                    let (id, code, output) = if i == 0 {
                        ("counter", counter, "output")
                    } else {
                        ("incr", incr, "result")
                    };
                    let class = FunctionClassSpecification {
                        function_class_id: id.into(),
                        function_class_type: edgeless_api::RUST_WASM.into(),
                        function_class_version: "0.1".into(),
                        function_class_code: code.clone(),
                        function_class_outputs: vec![output.into()],
                    };
                    let next = (i + 1 < *length).then(|| format!("f{}", i + 1));
                    function(format!("f{i}"), class, next)
                })
                .collect(),
        };
        Some(SpawnWorkflowRequest {
            workflow_functions: functions,
            workflow_resources: Vec::new(),
            annotations: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_links_each_function_to_the_next() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["counter", "incr"] {
            std::fs::create_dir_all(dir.path().join(f)).unwrap();
            std::fs::write(
                dir.path().join(f).join(format!("{f}.wasm")),
                b"\0asm\x01\0\0\0",
            )
            .unwrap();
        }
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
            WorkflowType::parse("map-reduce")
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
        assert!(WorkflowType::parse("none").unwrap().request(0).is_none());
    }
}
