//! A request to start a function on this node, and the limits its
//! instance runs with.

use std::collections::HashMap;

use uuid::Uuid;

use crate::agent::AgentError;
use crate::runtime::InstanceLimits;

/// What the agent needs to start a function.
pub struct StartFunction {
    /// The physical function id chosen by the orchestrator (nil: pick one).
    pub function_id: Uuid,
    /// `RUST_WASM` or `CONTAINER`.
    pub function_type: String,
    /// The class name, for logs.
    pub class_id: String,
    /// The code: a WASM module, or the name of a Docker image.
    pub code: bytes::Bytes,
    /// The WASM code's SHA-256 in hex, when the orchestrator names it:
    /// with `code` empty, the module compiled before under this key runs.
    pub code_key: String,
    /// The workflow, for logs.
    pub workflow_id: String,
    /// The function's name in its workflow (for metrics; may be empty).
    pub function_name: String,
    /// Key of the state kept across re-creations.
    pub state_id: String,
    /// The function's annotations (`init-payload`, `max_memory_mb`, `max_cpu_ms`).
    pub annotations: HashMap<String, String>,
    /// The state the orchestrator kept for `state_id`, if any.
    pub serialized_state: Option<Vec<u8>>,
}

impl StartFunction {
    /// A fresh instance of `class_id` with its own state, no annotations and
    /// no saved state: what tools and benchmarks start.
    pub fn new(function_type: &str, class_id: &str, code: impl Into<bytes::Bytes>) -> Self {
        Self {
            function_id: Uuid::nil(),
            function_type: function_type.to_string(),
            class_id: class_id.to_string(),
            code: code.into(),
            code_key: String::new(),
            workflow_id: String::new(),
            function_name: String::new(),
            state_id: Uuid::new_v4().to_string(),
            annotations: HashMap::new(),
            serialized_state: None,
        }
    }
}

/// The limits of an instance: the node's, or lower ones its annotations ask
/// for (an annotation cannot raise a limit above the node's).
pub(crate) fn limits(
    node: &crate::config::WasmRuntime,
    annotations: &HashMap<String, String>,
) -> Result<InstanceLimits, AgentError> {
    let number = |key: &str, maximum: u64, node_key: &str| -> Result<u64, AgentError> {
        let Some(value) = annotations.get(key) else {
            return Ok(maximum);
        };
        match value.trim().parse::<u64>() {
            Ok(v) if v > 0 && v <= maximum => Ok(v),
            Ok(v) if v > maximum => Err(AgentError::Invalid(format!(
                "annotation {key} = {value:?} is above this node's maximum of {maximum} ([wasm_runtime] {node_key})"
            ))),
            _ => Err(AgentError::Invalid(format!(
                "annotation {key} = {value:?} is not a positive number"
            ))),
        }
    };
    Ok(InstanceLimits {
        memory_bytes: (number("max_memory_mb", node.max_memory_mb, "max_memory_mb")? as usize)
            .saturating_mul(1 << 20),
        cpu_ms: number(
            "max_cpu_ms",
            node.max_cpu_ms_per_event,
            "max_cpu_ms_per_event",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_lower_the_node_limits_and_never_raise_them() {
        let node = crate::config::WasmRuntime::default();
        let ask = |key: &str, value: &str| {
            limits(
                &node,
                &HashMap::from([(key.to_string(), value.to_string())]),
            )
        };
        let lowered = ask("max_memory_mb", "16").unwrap();
        assert_eq!(lowered.memory_bytes, 16 << 20);
        assert_eq!(ask("max_cpu_ms", "200").unwrap().cpu_ms, 200);
        for (key, value) in [("max_memory_mb", "65"), ("max_cpu_ms", "1000000")] {
            let error = ask(key, value).err().unwrap().to_string();
            assert!(error.contains("above this node's maximum"), "{error}");
        }
        let unset = limits(&node, &HashMap::new()).unwrap();
        assert_eq!((unset.memory_bytes, unset.cpu_ms), (64 << 20, 1000));
    }
}
