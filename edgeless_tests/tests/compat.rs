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
