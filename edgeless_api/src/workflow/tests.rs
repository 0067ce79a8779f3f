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
    let err = load_and_convert(&json).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the workflow has 10000 functions and resources; at most 1000 are allowed"
    );
}

/// A small deterministic generator (xorshift), so that failures reproduce.
fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// A value that may stand anywhere in a workflow, for mutations.
fn odd_value(next: &mut impl FnMut() -> u64) -> serde_json::Value {
    use serde_json::json;
    match next() % 9 {
        0 => json!(null),
        1 => json!(-1),
        2 => json!(""),
        3 => json!("a"),
        4 => json!("r"),
        5 => json!([]),
        6 => json!({}),
        7 => json!("x".repeat((next() % 300) as usize)),
        _ => json!(u64::MAX),
    }
}

/// Changes one value, key or element somewhere in `value`.
fn mutate(value: &mut serde_json::Value, next: &mut impl FnMut() -> u64) {
    use serde_json::Value;
    match value {
        Value::Object(map) if !map.is_empty() && !next().is_multiple_of(10) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[(next() as usize) % keys.len()].clone();
            match next() % 10 {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let moved = map.remove(&key).unwrap_or_default();
                    map.insert(format!("{key}_"), moved);
                }
                _ => mutate(map.get_mut(&key).expect("a key of the map"), next),
            }
        }
        Value::Array(items) if !items.is_empty() && !next().is_multiple_of(10) => {
            let at = (next() as usize) % items.len();
            match next() % 5 {
                0 => {
                    let copy = items[at].clone();
                    items.push(copy);
                }
                1 => {
                    items.remove(at);
                }
                _ => mutate(&mut items[at], next),
            }
        }
        // Mostly a value of the same kind, so that the parser takes it and
        // the checks judge it.
        Value::String(_) if !next().is_multiple_of(5) => *value = odd_string(next),
        _ => *value = odd_value(next),
    }
}

/// A string that may mean something somewhere in a workflow.
fn odd_string(next: &mut impl FnMut() -> u64) -> serde_json::Value {
    let choices = [
        "a",
        "b",
        "r",
        "",
        " ",
        "out",
        "f.wasm",
        "../f.wasm",
        "/nonexistent",
        "RUST_WASM",
        "CONTAINER",
        "file-log",
        "http-ingress",
        "0.1",
        "a/b",
        "\u{0}",
    ];
    match choices.get((next() as usize) % (choices.len() + 1)) {
        Some(choice) => serde_json::json!(choice),
        None => serde_json::json!("é".repeat((next() % 200) as usize)),
    }
}

/// Mangled workflows never panic the parser or the checks, and every
/// refusal says why. Mutations are made on the JSON structure, so most
/// inputs get past the parser and into the checks (counted below), and on
/// the bytes, for what the parser alone sees.
#[test]
fn mangled_workflows_never_panic_and_every_refusal_says_why() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.wasm"), WASM_HEADER).unwrap();
    let good = format!(
        r#"{{"functions": [{}, {}], "resources": [{{"name": "r", "class_type": "file-log",
            "configurations": {{"filename": "x.log"}}}}], "annotations": {{}}}}"#,
        function("a", r#""out": "b""#),
        function("b", r#""out": "r""#)
    );
    let good_value: serde_json::Value = serde_json::from_str(&good).unwrap();
    let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
    let (mut parsed, mut accepted, mut refused) = (0, 0, 0);
    let mut refused_by_checks = 0;
    let path = dir.path().join("workflow.json");
    let rounds = 20_000;
    for round in 0..rounds {
        let bytes = if round % 4 == 0 {
            let mut bytes = good.clone().into_bytes();
            for _ in 0..(1 + next() % 8) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = (next() % 256) as u8;
            }
            bytes
        } else {
            let mut value = good_value.clone();
            for _ in 0..(1 + next() % 3) {
                mutate(&mut value, &mut next);
            }
            serde_json::to_vec(&value).unwrap()
        };
        std::fs::write(&path, &bytes).unwrap();
        let outcome = match WorkflowSpec::load(&path) {
            Ok(spec) => {
                parsed += 1;
                let checked = spec.to_request(dir.path()).map(|_| ());
                refused_by_checks += usize::from(checked.is_err());
                checked
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => accepted += 1,
            Err(error) => {
                refused += 1;
                let message = error.to_string();
                assert!(
                    message.len() > 10,
                    "a refusal without a reason: {message:?} for {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
    // The checks, not only the parser, judged a good share of the inputs,
    // and refused some of them themselves.
    eprintln!(
        "{rounds} inputs: {parsed} parsed, {accepted} accepted, {refused} refused ({refused_by_checks} by the checks)"
    );
    assert!(parsed > rounds / 10, "only {parsed} of {rounds} parsed");
    assert!(accepted > rounds / 100, "only {accepted} accepted");
    assert!(
        refused_by_checks > rounds / 100,
        "only {refused_by_checks} refused by the checks"
    );
}

#[test]
fn workflow_names_are_checked() {
    for good in ["ping_pong", "a", "v1.2-beta", &"x".repeat(MAX_NAME_LEN)] {
        assert!(is_workflow_name(good), "{good}");
    }
    for bad in [
        "",
        "-rm",
        ".hidden",
        "a b",
        "a/b",
        "é",
        &"x".repeat(MAX_NAME_LEN + 1),
    ] {
        assert!(!is_workflow_name(bad), "{bad}");
    }
    let json = format!(r#"{{"functions": [{}]}}"#, function("a", ""));
    let mut request = load_and_convert(&json).unwrap();
    request.name = "bad name".into();
    assert_eq!(
        validate(&request).unwrap_err().to_string(),
        "the workflow name \"bad name\" is not a name (1 to 63 letters, digits, `-`, `_`, `.`, starting with a letter or digit)"
    );
    request.name = "good".into();
    assert!(validate(&request).is_ok());
}

#[test]
fn the_component_limit_is_inclusive() {
    let at_limit: Vec<String> = (0..MAX_COMPONENTS)
        .map(|i| function(&format!("f{i}"), ""))
        .collect();
    let json = format!(r#"{{"functions": [{}]}}"#, at_limit.join(","));
    assert!(load_and_convert(&json).is_ok());
    let over: Vec<String> = (0..=MAX_COMPONENTS)
        .map(|i| function(&format!("f{i}"), ""))
        .collect();
    let json = format!(r#"{{"functions": [{}]}}"#, over.join(","));
    assert!(
        matches!(load_and_convert(&json), Err(WorkflowError::TooLarge(n)) if n == MAX_COMPONENTS + 1)
    );
}

#[test]
fn oversized_maps_and_texts_are_refused_with_the_value() {
    let base = || {
        let mut request = proto::SpawnWorkflowRequest::default();
        request.workflow_resources.push(proto::WorkflowResource {
            name: "r".into(),
            class_type: "file-log".into(),
            ..Default::default()
        });
        request
    };
    let mut many = base();
    many.workflow_resources[0].configurations = (0..=MAX_ENTRIES)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    assert_eq!(
        validate(&many).unwrap_err().to_string(),
        "resource `r`: configurations has 65 entries; at most 64 are allowed"
    );
    let mut long = base();
    long.annotations
        .insert("note".into(), "x".repeat(MAX_TEXT + 1));
    assert_eq!(
        validate(&long).unwrap_err().to_string(),
        "the workflow: annotations `note` has 4097 bytes; at most 4096 are allowed"
    );
    let mut long_name = base();
    long_name.workflow_resources[0].name = "n".repeat(100_000);
    let error = validate(&long_name).unwrap_err().to_string();
    assert!(error.contains("its name has 100000 bytes"), "{error}");
    assert!(
        error.len() < 200,
        "the message quotes the name short: {error}"
    );
    assert!(validate(&base()).is_ok());
}

#[test]
fn a_code_file_or_workflow_file_that_never_ends_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let json = r#"{"functions": [{"name": "a", "class_specification": {"id": "x",
        "function_type": "RUST_WASM", "version": "0.1", "code": "/dev/zero", "outputs": []},
        "output_mapping": {}, "annotations": {}}], "resources": [], "annotations": {}}"#;
    let path = write_workflow(dir.path(), json);
    let error = WorkflowSpec::load(&path)
        .unwrap()
        .to_request(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("/dev/zero") && error.contains("larger than 64 MiB"),
        "{error}"
    );
    let error = WorkflowSpec::load(Path::new("/dev/zero"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("larger than 64 MiB"), "{error}");
}
