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
        logs.contains("compat: thanks from the peer")
    });
    for line in [
        "[starter ",
        "compat: starter sizes [1, 2, 4] verbose true matrix 4 in range true level 2",
        "compat: responder sizes [] verbose false",
        "compat: I am ",
        "compat: reply answer to question",
    ] {
        assert!(logs.contains(line), "{line} in\n{logs}");
    }
    assert!(!logs.contains("WARN") && !logs.contains("ERROR"), "{logs}");
    cluster.cli_ok(&["workflow", "stop", &id]);
}
