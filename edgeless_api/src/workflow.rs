//! The workflow a user asks for: its JSON form (as written in
//! `workflow.json`), the checks every workflow must pass, and its conversion
//! into a [`proto::SpawnWorkflowRequest`]. The CLI checks a workflow before
//! sending it and the controller checks it again on arrival, with the same
//! code and the same messages.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{CONTAINER, RUST_WASM, proto};

/// The most functions and resources one workflow may have.
pub const MAX_COMPONENTS: usize = 1000;

/// The longest workflow name.
pub const MAX_NAME_LEN: usize = 63;
/// The most entries of one component's annotations, configurations or
/// output mapping.
pub const MAX_ENTRIES: usize = 64;
/// The longest key, value, component or output name, in bytes.
pub const MAX_TEXT: usize = 4096;

/// Why a workflow cannot be started. Messages name the component, the field
/// and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The workflow file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a valid workflow document.
    #[error("{path} is not a valid workflow: {source}")]
    Json {
        /// The workflow file.
        path: PathBuf,
        /// What serde found.
        source: serde_json::Error,
    },
    /// A workflow-level annotation is unknown or has a bad value.
    #[error("workflow annotation `{key}`: {reason}")]
    BadAnnotation {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The workflow has nothing to run.
    #[error("the workflow has no functions and no resources")]
    Empty,
    /// The workflow is larger than a cluster accepts.
    #[error("the workflow has {0} functions and resources; at most {MAX_COMPONENTS} are allowed")]
    TooLarge(usize),
    /// A map of a component has too many entries, or a text in it is too
    /// long.
    #[error("{component}: {what}")]
    Oversized {
        /// The component (or `the workflow`).
        component: String,
        /// What is over which bound.
        what: String,
    },
    /// The workflow's own name is not a name.
    #[error(
        "the workflow name {0:?} is not a name (1 to {MAX_NAME_LEN} letters, digits, `-`, `_`, `.`, starting with a letter or digit)"
    )]
    BadWorkflowName(String),
    /// A component has an empty name.
    #[error("a {kind} has an empty name")]
    EmptyName {
        /// "function" or "resource".
        kind: &'static str,
    },
    /// Two components share a name.
    #[error("the name `{0}` is used by more than one function or resource")]
    DuplicateName(String),
    /// An output is mapped to a name that is not in the workflow.
    #[error(
        "{kind} `{component}` maps output `{output}` to `{target}`, which is not a function or resource of this workflow"
    )]
    UnknownOutputTarget {
        /// "function" or "resource".
        kind: &'static str,
        /// The component that has the mapping.
        component: String,
        /// The output channel.
        output: String,
        /// The name that does not exist.
        target: String,
    },
    /// The function type is not one the platform runs.
    #[error(
        "function `{function}` has function_type `{function_type}`; expected `{RUST_WASM}` or `{CONTAINER}`"
    )]
    UnknownFunctionType {
        /// The function.
        function: String,
        /// The type given.
        function_type: String,
    },
    /// A function has no code.
    #[error("function `{function}` has no `code` in its class_specification")]
    MissingCode {
        /// The function.
        function: String,
    },
    /// A function's code file could not be read.
    #[error("function `{function}`: cannot read code file {path}: {source}")]
    CodeFile {
        /// The function.
        function: String,
        /// The resolved path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A WASM function's code is not WebAssembly.
    #[error("function `{function}`: the code is not a WebAssembly module (bad magic number)")]
    NotWasm {
        /// The function.
        function: String,
    },
    /// A resource has no class type.
    #[error("resource `{resource}` has an empty class_type")]
    MissingClassType {
        /// The resource.
        resource: String,
    },
    /// The request's code table does not match its functions.
    #[error("{0}")]
    Codes(String),
    /// The request would not fit in one control message.
    #[error("the request is {:.1} MiB; a request may have at most {} MiB (a module shared by many functions counts once)", *.0 as f64 / (1 << 20) as f64, crate::limits::MAX_CONTROL_MESSAGE >> 20)]
    MessageTooLarge(usize),
}

/// Reads a file of at most [`crate::limits::MAX_CONTROL_MESSAGE`] bytes
/// (the most one request carries), without reading further than that: a
/// device or a pipe that never ends (`/dev/zero`) is refused, not read.
fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let max = crate::limits::MAX_CONTROL_MESSAGE;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "is larger than {} MiB, the most a request carries",
                max >> 20
            ),
        ));
    }
    Ok(bytes)
}

/// A workflow as written in JSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// The functions, each with a unique name.
    pub functions: Vec<FunctionSpec>,
    /// The resources, each with a unique name.
    #[serde(default)]
    pub resources: Vec<ResourceSpec>,
    /// Workflow-level annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// One function of a workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Unique in the workflow; the target name in output mappings.
    pub name: String,
    /// What code to run.
    pub class_specification: FunctionClassSpec,
    /// Output channel → name of the receiving function or resource.
    #[serde(default)]
    pub output_mapping: BTreeMap<String, String>,
    /// Placement and start-up hints (`init-payload`, `node_id_match_any`, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The class of a function: its code and declared outputs. Also the content
/// of a `function.json` file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunctionClassSpec {
    /// Class name.
    pub id: String,
    /// `RUST_WASM` or `CONTAINER`.
    pub function_type: String,
    /// Free-form version string.
    pub version: String,
    /// A path relative to the JSON file (WASM) or an image name (container).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The output channels the code may use.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// The Cargo.toml that builds the code (used by `function build`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// One resource of a workflow.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourceSpec {
    /// Unique in the workflow.
    pub name: String,
    /// Provider type, e.g. `http-ingress`.
    pub class_type: String,
    /// Output channel → receiving component name.
    #[serde(default)]
    pub output_mapping: BTreeMap<String, String>,
    /// Provider-specific settings.
    #[serde(default)]
    pub configurations: BTreeMap<String, String>,
}

impl WorkflowSpec {
    /// Reads and parses a workflow file.
    pub fn load(path: &Path) -> Result<Self, WorkflowError> {
        let text = read_bounded(path).map_err(|source| WorkflowError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_slice(&text).map_err(|source| WorkflowError::Json {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Builds the request for the controller, reading WASM code files relative
    /// to `base_dir`, and checks the result.
    pub fn to_request(
        &self,
        base_dir: &Path,
    ) -> Result<proto::SpawnWorkflowRequest, WorkflowError> {
        let mut functions = Vec::with_capacity(self.functions.len());
        // Each file is read once, however many functions share it.
        let mut files: std::collections::HashMap<std::path::PathBuf, bytes::Bytes> =
            std::collections::HashMap::new();
        for function in &self.functions {
            let class = &function.class_specification;
            let code: bytes::Bytes = match (&class.code, class.function_type.as_str()) {
                (None, _) => {
                    return Err(WorkflowError::MissingCode {
                        function: function.name.clone(),
                    });
                }
                (Some(path), RUST_WASM) => {
                    let path = base_dir.join(path);
                    match files.get(&path) {
                        Some(code) => code.clone(),
                        None => {
                            let code =
                                read_bounded(&path).map_err(|source| WorkflowError::CodeFile {
                                    function: function.name.clone(),
                                    path: path.clone(),
                                    source,
                                })?;
                            files.entry(path).or_insert(code.into()).clone()
                        }
                    }
                }
                (Some(image), _) => image.as_bytes().to_vec().into(),
            };
            functions.push(proto::WorkflowFunction {
                name: function.name.clone(),
                class_spec: Some(proto::FunctionClassSpecification {
                    function_class_id: class.id.clone(),
                    function_class_type: class.function_type.clone(),
                    function_class_version: class.version.clone(),
                    function_class_code: code,
                    function_class_outputs: class.outputs.clone(),
                    function_class_code_key: String::new(),
                }),
                output_mapping: function.output_mapping.clone().into_iter().collect(),
                annotations: function.annotations.clone().into_iter().collect(),
            });
        }
        let request = proto::SpawnWorkflowRequest {
            workflow_functions: functions,
            workflow_resources: self
                .resources
                .iter()
                .map(|r| proto::WorkflowResource {
                    name: r.name.clone(),
                    class_type: r.class_type.clone(),
                    output_mapping: r.output_mapping.clone().into_iter().collect(),
                    configurations: r.configurations.clone().into_iter().collect(),
                })
                .collect(),
            annotations: self.annotations.clone().into_iter().collect(),
            name: String::new(),
            allow_duplicate: false,
            codes: Vec::new(),
        };
        validate(&request)?;
        Ok(request)
    }
}

/// Moves the request's WASM code into its code table: code shared by many
/// functions travels once (see [`crate::code_table`]).
pub fn pack_codes(request: &mut proto::SpawnWorkflowRequest) {
    let classes = request
        .workflow_functions
        .iter_mut()
        .filter_map(|f| f.class_spec.as_mut());
    request.codes = crate::code_table::pack(classes);
}

/// Checks that `request`, as it will be sent, fits in one control message
/// ([`crate::limits::MAX_CONTROL_MESSAGE`]).
pub fn check_message_size(request: &proto::SpawnWorkflowRequest) -> Result<(), WorkflowError> {
    let size = prost::Message::encoded_len(request);
    if size > crate::limits::MAX_CONTROL_MESSAGE {
        return Err(WorkflowError::MessageTooLarge(size));
    }
    Ok(())
}

/// Puts the code of the request's code table back into its functions,
/// checking every key against its code.
pub fn unpack_codes(request: &mut proto::SpawnWorkflowRequest) -> Result<(), WorkflowError> {
    let table = std::mem::take(&mut request.codes);
    let classes = request
        .workflow_functions
        .iter_mut()
        .filter_map(|f| f.class_spec.as_mut());
    crate::code_table::unpack(classes, &table).map_err(WorkflowError::Codes)
}

/// The first characters of a name that may be long, for messages.
fn short(name: &str) -> String {
    match name.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &name[..cut]),
        None => name.to_string(),
    }
}

/// Checks one map of a component against [`MAX_ENTRIES`] and [`MAX_TEXT`].
fn check_sizes(
    component: &str,
    map_name: &str,
    map: &std::collections::HashMap<String, String>,
) -> Result<(), WorkflowError> {
    let oversized = |what: String| WorkflowError::Oversized {
        component: component.to_string(),
        what,
    };
    if map.len() > MAX_ENTRIES {
        return Err(oversized(format!(
            "{map_name} has {} entries; at most {MAX_ENTRIES} are allowed",
            map.len()
        )));
    }
    for (key, value) in map {
        if key.len() > MAX_TEXT || value.len() > MAX_TEXT {
            return Err(oversized(format!(
                "{map_name} `{}` has {} bytes; at most {MAX_TEXT} are allowed",
                short(key),
                key.len().max(value.len())
            )));
        }
    }
    Ok(())
}

/// Whether `name` may name a workflow: 1 to [`MAX_NAME_LEN`] ASCII
/// letters, digits, `-`, `_`, `.`, starting with a letter or digit (so that
/// it is never mistaken for an option, nor needs quoting).
pub fn is_workflow_name(name: &str) -> bool {
    name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks that a workflow request is consistent: a valid name (if any),
/// unique non-empty component names, known function types, code present
/// (and WebAssembly for WASM functions), and every output mapped to a
/// component of the same workflow.
pub fn validate(request: &proto::SpawnWorkflowRequest) -> Result<(), WorkflowError> {
    if !request.name.is_empty() && !is_workflow_name(&request.name) {
        return Err(WorkflowError::BadWorkflowName(request.name.clone()));
    }
    let components = request.workflow_functions.len() + request.workflow_resources.len();
    if components == 0 {
        return Err(WorkflowError::Empty);
    }
    if components > MAX_COMPONENTS {
        return Err(WorkflowError::TooLarge(components));
    }
    let mut names = HashSet::new();
    let all_names = request
        .workflow_functions
        .iter()
        .map(|f| (&f.name, "function"))
        .chain(
            request
                .workflow_resources
                .iter()
                .map(|r| (&r.name, "resource")),
        );
    for (name, kind) in all_names {
        if name.is_empty() {
            return Err(WorkflowError::EmptyName { kind });
        }
        if name.len() > MAX_TEXT {
            return Err(WorkflowError::Oversized {
                component: format!("{kind} `{}`", short(name)),
                what: format!(
                    "its name has {} bytes; at most {MAX_TEXT} are allowed",
                    name.len()
                ),
            });
        }
        if !names.insert(name.as_str()) {
            return Err(WorkflowError::DuplicateName(name.clone()));
        }
    }
    check_sizes("the workflow", "annotations", &request.annotations)?;
    let placement = crate::annotations::workflow_placement(&request.annotations).map_err(|e| {
        WorkflowError::BadAnnotation {
            key: e.key,
            reason: e.reason,
        }
    })?;
    if let Some(missing) = placement
        .colocate
        .iter()
        .find(|c| !names.contains(c.as_str()))
    {
        return Err(WorkflowError::BadAnnotation {
            key: "colocate".into(),
            reason: format!("no function or resource is named `{}`", short(missing)),
        });
    }
    for function in &request.workflow_functions {
        let component = format!("function `{}`", short(&function.name));
        check_sizes(&component, "annotations", &function.annotations)?;
        check_sizes(&component, "output_mapping", &function.output_mapping)?;
    }
    for resource in &request.workflow_resources {
        let component = format!("resource `{}`", short(&resource.name));
        check_sizes(&component, "configurations", &resource.configurations)?;
        check_sizes(&component, "output_mapping", &resource.output_mapping)?;
    }
    let check_mapping =
        |kind, component: &str, mapping: &std::collections::HashMap<String, String>| {
            // Sorted so that the first error reported does not depend on hashing.
            let mut outputs: Vec<_> = mapping.iter().collect();
            outputs.sort();
            for (output, target) in outputs {
                if !names.contains(target.as_str()) {
                    return Err(WorkflowError::UnknownOutputTarget {
                        kind,
                        component: component.to_string(),
                        output: output.clone(),
                        target: target.clone(),
                    });
                }
            }
            Ok(())
        };
    for function in &request.workflow_functions {
        let class = function
            .class_spec
            .as_ref()
            .ok_or_else(|| WorkflowError::MissingCode {
                function: function.name.clone(),
            })?;
        match class.function_class_type.as_str() {
            RUST_WASM => {
                if !class.function_class_code.starts_with(b"\0asm") {
                    return Err(WorkflowError::NotWasm {
                        function: function.name.clone(),
                    });
                }
            }
            CONTAINER => {
                if class.function_class_code.is_empty() {
                    return Err(WorkflowError::MissingCode {
                        function: function.name.clone(),
                    });
                }
            }
            other => {
                return Err(WorkflowError::UnknownFunctionType {
                    function: function.name.clone(),
                    function_type: other.to_string(),
                });
            }
        }
        check_mapping("function", &function.name, &function.output_mapping)?;
    }
    for resource in &request.workflow_resources {
        if resource.class_type.is_empty() {
            return Err(WorkflowError::MissingClassType {
                resource: resource.name.clone(),
            });
        }
        check_mapping("resource", &resource.name, &resource.output_mapping)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
