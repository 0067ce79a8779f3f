//! Functions written for the original EDGELESS SDK build and run
//! unchanged: `functions/compat_probe` uses its API in its style (glob
//! import, `()`-typed sends in `match` arms, borrowed init-payload maps,
//! `OwnedByteBuff` replies, `lcg`, the `logging` and `output_api` paths);
//! two instances of it call and cast each other on two nodes.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function};

fn workflow(dir: &std::path::Path, wasm: &std::path::Path) -> std::path::PathBuf {
    let function = |name: &str, peer: &str, payload: &str| {
        format!(
            r#"{{ "name": "{name}",
  "class_specification": {{ "id": "compat_probe", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": ["peer"] }},
  "output_mapping": {{ "peer": "{peer}" }},
  "annotations": {{ "init-payload": "{payload}" }} }}"#,
            wasm.display()
        )
    };
    let spec = format!(
        r#"{{ "functions": [{}, {}], "resources": [], "annotations": {{}} }}"#,
        function(
            "starter",
            "responder",
            "role=starter,sizes=1:2:x:4,verbose=TRUE"
        ),
        function("responder", "starter", "role=responder"),
    );
    let path = dir.join("compat.json");
    std::fs::write(&path, spec).unwrap();
    path
}

#[test]
fn a_function_in_the_original_sdk_style_builds_and_runs() {
    let wasm = build_function("compat_probe");
    let cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = workflow(dir.path(), &wasm);
    let id = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    let mut logs = String::new();
    cluster.wait_for(Duration::from_secs(20), "the exchange to finish", |c| {
        logs = c.cli_ok(&["workflow", "logs", &id]);
        logs.contains("compat: raw reply")
    });
    for line in [
        "[starter ",
        "compat: starter sizes [1, 2, 4] verbose true matrix 4 in range true level 2",
        "compat: responder sizes [] verbose false",
        "compat: I am ",
        "compat: reply answer to question",
        "compat: raw reply answer to direct question",
        "compat: parsed 2 pairs",
    ] {
        assert!(logs.contains(line), "{line} in\n{logs}");
    }
    assert!(!logs.contains("WARN") && !logs.contains("ERROR"), "{logs}");
    cluster.cli_ok(&["workflow", "stop", &id]);
}

#[test]
fn an_http_function_in_the_original_style_serves_and_calls_out() {
    let wasm = build_function("compat_http");
    let (port, requests) = edgeless_tests::http_server("hello from the outside");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("compat_http.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{{ "name": "web",
  "class_specification": {{ "id": "compat_http", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": ["egress"] }},
  "output_mapping": {{ "egress": "out" }}, "annotations": {{}} }}],
  "resources": [
    {{ "name": "in", "class_type": "http-ingress", "output_mapping": {{ "new_request": "web" }},
       "configurations": {{ "host": "compat.edgeless.com" }} }},
    {{ "name": "out", "class_type": "http-egress", "output_mapping": {{}}, "configurations": {{}} }}
  ], "annotations": {{}} }}"#,
            wasm.display()
        ),
    )
    .unwrap();
    let id = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    let url = cluster.http_ingress_url.clone().unwrap();
    let host = "Host: compat.edgeless.com";
    let mut answer = (String::new(), String::new());
    let served = edgeless_tests::eventually(Duration::from_secs(10), || {
        answer = edgeless_tests::curl(&["-H", host, &format!("{url}/hello?x=1")]);
        answer.1 == "200"
    });
    assert!(served, "{answer:?}");
    assert_eq!(answer.0, "GET /hello?x=1 from compat.edgeless.com");
    let fetched = edgeless_tests::curl(&[
        "-H",
        host,
        "-d",
        &format!("127.0.0.1:{port}"),
        &format!("{url}/fetch"),
    ]);
    assert_eq!(
        fetched,
        (
            "backend said 200: hello from the outside".into(),
            "200".into()
        )
    );
    let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /submit HTTP/1.1"), "{request}");
    assert!(
        head.to_ascii_lowercase().contains("x-compat: 1"),
        "{request}"
    );
    assert_eq!(body, "from compat");
    cluster.cli_ok(&["workflow", "stop", &id]);
}

/// A module that logs each cast's message under the target naming the way
/// it came in: `old` (`handle_cast`, buffers from `edgeless_alloc`) or,
/// with `INBOX` in its place, `inbox` (`handle_cast_inbox`).
const LOGGER: &str = r#"(module
  (import "edgeless" "log" (func $log (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 4096))
  (global $inbox (mut i32) (i32.const 0))
  (data (i32.const 16) "old")
  (data (i32.const 32) "inbox")
  (func $bump (param $len i32) (result i32)
    (local $at i32)
    (local.set $at (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $at))
  (func (export "edgeless_alloc") (param i32) (result i32) (call $bump (local.get 0)))
  (func (export "edgeless_free") (param i32 i32))
  (func (export "handle_init") (param i32 i32 i32 i32))
  (func (export "handle_cast") (param i32 i32 i32)
    (call $log (i32.const 3) (i32.const 16) (i32.const 3) (local.get 1) (local.get 2)))
  (func (export "handle_call") (param i32 i32 i32 i32) (result i32) (i32.const 0))
  (func (export "handle_stop"))
  INBOX)"#;

/// The inbox exports: every request for a larger inbox moves it.
const INBOX: &str = r#"
  (func (export "edgeless_inbox") (param i32) (result i32)
    (global.set $inbox (call $bump (local.get 0)))
    (global.get $inbox))
  (func (export "handle_cast_inbox") (param i32)
    (call $log (i32.const 3) (i32.const 32) (i32.const 5)
      (i32.add (global.get $inbox) (i32.const 32)) (local.get 0)))
  (func (export "handle_call_inbox") (param i32 i32) (result i32) (i32.const 0))"#;

/// Starts `module` as a one-function workflow; returns the workflow's id.
fn start_module(cluster: &Cluster, dir: &std::path::Path, module: &str) -> String {
    let code = dir.join("logger.wasm");
    std::fs::write(&code, wat::parse_str(module).unwrap()).unwrap();
    let spec = dir.join("logger.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{{ "name": "logger",
  "class_specification": {{ "id": "logger", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": [] }},
  "output_mapping": {{}}, "annotations": {{}} }}], "resources": [], "annotations": {{}} }}"#,
            code.display()
        ),
    )
    .unwrap();
    cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()])
}

/// A message as the assertions show it: short ones whole, long ones by
/// their first bytes and length.
fn summary(message: &str) -> String {
    match message.get(..8) {
        Some(head) if message.len() > 16 => format!("{head}… ({} bytes)", message.len()),
        _ => message.to_string(),
    }
}

/// Casts each of `messages` to the workflow's function; returns the
/// (target, message summary) of its log lines once all arrived.
fn logged(cluster: &Cluster, workflow: &str, messages: &[String]) -> Vec<(String, String)> {
    cluster.cast_to_first_instance(workflow, messages);
    let mut lines = Vec::new();
    cluster.wait_for(Duration::from_secs(10), "every message logged", |c| {
        lines = c
            .cli_ok(&["workflow", "logs", workflow, "-o", "json"])
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|l| {
                let text = |key: &str| l[key].as_str().unwrap_or_default();
                (text("target").to_string(), summary(text("message")))
            })
            .collect();
        lines.len() >= messages.len()
    });
    lines
}

#[test]
fn events_enter_a_guest_through_its_inbox_or_the_original_way() {
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    // Small, larger than every inbox so far, small again.
    let messages = ["first".to_string(), "x".repeat(3000), "last".to_string()];
    for (module, way) in [
        (LOGGER.replace("INBOX", INBOX), "inbox"),
        (LOGGER.replace("INBOX", ""), "old"),
    ] {
        let workflow = start_module(&cluster, dir.path(), &module);
        let expected: Vec<(String, String)> = messages
            .iter()
            .map(|m| (way.to_string(), summary(m)))
            .collect();
        assert_eq!(logged(&cluster, &workflow, &messages), expected);
        cluster.cli_ok(&["workflow", "stop", &workflow]);
    }
    // Some of the inbox exports but not all: refused, not half used.
    let partial = LOGGER.replace(
        "INBOX",
        r#"(func (export "edgeless_inbox") (param i32) (result i32) (i32.const 0))"#,
    );
    let code = dir.path().join("partial.wasm");
    std::fs::write(&code, wat::parse_str(&partial).unwrap()).unwrap();
    let spec = dir.path().join("partial.json");
    let text = std::fs::read_to_string(dir.path().join("logger.json"))
        .unwrap()
        .replace("logger.wasm", "partial.wasm");
    std::fs::write(&spec, text).unwrap();
    cluster.start_refused(
        &[spec.to_str().unwrap()],
        "the module exports edgeless_inbox but not all of edgeless_inbox, handle_cast_inbox, handle_call_inbox",
    );
}
