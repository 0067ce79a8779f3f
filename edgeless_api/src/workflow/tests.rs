use std::path::Path;

use super::*;

const WASM_HEADER: &[u8] = b"\0asm\x01\0\0\0";

fn write_workflow(dir: &Path, json: &str) -> PathBuf {
    std::fs::write(dir.join("f.wasm"), WASM_HEADER).unwrap();
    let path = dir.join("workflow.json");
    std::fs::write(&path, json).unwrap();
    path
}

fn load_and_convert(json: &str) -> Result<proto::SpawnWorkflowRequest, WorkflowError> {
    let dir = tempfile::tempdir().unwrap();
    let path = write_workflow(dir.path(), json);
    WorkflowSpec::load(&path)?.to_request(dir.path())
}

fn function(name: &str, mapping: &str) -> String {
    format!(
        r#"{{"name": "{name}", "class_specification": {{"id": "x", "function_type": "RUST_WASM",
           "version": "0.1", "code": "f.wasm", "outputs": ["out"]}},
           "output_mapping": {{{mapping}}}, "annotations": {{}}}}"#
    )
}

#[test]
fn a_good_workflow_becomes_a_request_with_the_code_inline() {
    let json = format!(
        r#"{{"functions": [{}, {}], "resources": [], "annotations": {{}}}}"#,
        function("a", r#""out": "b""#),
        function("b", r#""out": "a""#)
    );
    let request = load_and_convert(&json).unwrap();
    assert_eq!(request.workflow_functions.len(), 2);
    let code = &request.workflow_functions[0].class_spec.as_ref().unwrap();
    assert_eq!(code.function_class_code, WASM_HEADER);
    assert_eq!(request.workflow_functions[0].output_mapping["out"], "b");
}

#[test]
fn an_unknown_output_target_is_named() {
    let json = format!(
        r#"{{"functions": [{}], "resources": []}}"#,
        function("pinger", r#""ponger": "pongr""#)
    );
    let err = load_and_convert(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "function `pinger` maps output `ponger` to `pongr`, which is not a function or resource of this workflow"
    );
}

#[test]
fn duplicate_names_are_rejected() {
    let json = format!(
        r#"{{"functions": [{}, {}]}}"#,
        function("a", ""),
        function("a", "")
    );
    let err = load_and_convert(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the name `a` is used by more than one function or resource"
    );
}

#[test]
fn an_unknown_function_type_is_named() {
    let json = function("a", "").replace("RUST_WASM", "PYTHON");
    let err = load_and_convert(&format!(r#"{{"functions": [{json}]}}"#)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "function `a` has function_type `PYTHON`; expected `RUST_WASM` or `CONTAINER`"
    );
}

#[test]
fn a_missing_code_file_names_the_function_and_path() {
    let json = function("a", "").replace("f.wasm", "missing.wasm");
    let err = load_and_convert(&format!(r#"{{"functions": [{json}]}}"#)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("function `a`: cannot read code file "),
        "{text}"
    );
    assert!(text.contains("missing.wasm"), "{text}");
}

#[test]
fn bad_json_reports_the_position() {
    let err = load_and_convert(r#"{"functions": [ }"#).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("is not a valid workflow"), "{text}");
    assert!(text.contains("line 1 column"), "{text}");
}

#[test]
fn unknown_fields_are_rejected() {
    let err = load_and_convert(r#"{"functions": [], "functoins": []}"#).unwrap_err();
    assert!(
        err.to_string().contains("unknown field `functoins`"),
        "{err}"
    );
}

#[test]
fn an_empty_workflow_is_rejected() {
    let err = load_and_convert(r#"{"functions": []}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workflow has no functions and no resources"
    );
}

#[test]
fn code_that_is_not_wasm_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_workflow(
        dir.path(),
        &format!(r#"{{"functions": [{}]}}"#, function("a", "")),
    );
    std::fs::write(dir.path().join("f.wasm"), b"#!/bin/sh").unwrap();
    let err = WorkflowSpec::load(&path)
        .unwrap()
        .to_request(dir.path())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "function `a`: the code is not a WebAssembly module (bad magic number)"
    );
}

#[test]
fn resources_may_be_mapping_targets() {
    let json = format!(
        r#"{{"functions": [{}], "resources": [{{"name": "log", "class_type": "file-log",
            "configurations": {{"filename": "x.log"}}}}]}}"#,
        function("a", r#""out": "log""#)
    );
    let request = load_and_convert(&json).unwrap();
    assert_eq!(request.workflow_resources[0].class_type, "file-log");
}

#[test]
fn a_huge_workflow_is_refused_quickly() {
    let functions: Vec<String> = (0..10_000)
        .map(|i| function(&format!("f{i}"), ""))
        .collect();
    let json = format!(r#"{{"functions": [{}]}}"#, functions.join(","));
    let started = std::time::Instant::now();
    let err = load_and_convert(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workflow has 10000 functions and resources; at most 1000 are allowed"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Arbitrary bytes and mangled workflows never panic the parser or the checks.
#[test]
fn garbage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.wasm"), WASM_HEADER).unwrap();
    let good = format!(
        r#"{{"functions": [{}, {}], "resources": [{{"name": "r", "class_type": "file-log"}}]}}"#,
        function("a", r#""out": "b""#),
        function("b", r#""out": "r""#)
    );
    // A small deterministic generator (xorshift) so failures reproduce.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = br#"{}[]":,abcdefnrstu0123 \"#;
    for round in 0..20_000 {
        let mut bytes = good.clone().into_bytes();
        for _ in 0..(1 + next() % 8) {
            let at = (next() as usize) % bytes.len();
            match next() % 3 {
                0 => bytes[at] = alphabet[(next() as usize) % alphabet.len()],
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        if round % 2 == 0 {
            bytes = (0..(next() % 64)).map(|_| next() as u8).collect();
        }
        let path = dir.path().join("workflow.json");
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(spec) = WorkflowSpec::load(&path) {
            let _ = spec.to_request(dir.path());
        }
    }
}
