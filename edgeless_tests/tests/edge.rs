//! A node built for 64-bit ARM (static musl, release) runs under
//! `qemu-aarch64-static` beside an x86_64 controller, orchestrator and
//! node on loopback: it reports its architecture, placement can require
//! it, and a workflow with one function on each architecture casts and
//! calls both ways.

use std::time::Duration;

use edgeless_tests::edge::require_arm_node;
use edgeless_tests::{Cluster, Daemon, build_function, pin_ports};

#[test]
#[cfg_attr(skip_arm, ignore = "EDGELESS_TEST_SKIP=arm")]
fn a_workflow_spans_an_x86_node_and_an_emulated_arm_node() {
    let (emulator, binary) = require_arm_node();
    let wasm = build_function("compat_probe");
    let cluster = Cluster::builder().nodes(1).start();
    let config = cluster.dir().join("arm-node.toml");
    let arm_id = "a4c40000-0000-4000-8000-00000000a64a";
    std::fs::write(
        &config,
        format!(
            "[general]\nnode_id = \"{arm_id}\"\nagent_url = \"http://127.0.0.1:0\"\n\
             invocation_url = \"http://127.0.0.1:0\"\nnode_register_url = \"{}\"\n\
             subscription_refresh_interval_sec = 1\n\
             [user_node_capabilities]\nlabels = [\"board\"]\n\
             [wasm_runtime]\nmodule_cache_dir = \"{}\"\n",
            cluster.node_register_url,
            cluster.dir().join("arm-cache").display()
        ),
    )
    .unwrap();
    let mut arm = Daemon::start_emulated(
        &emulator,
        "arm node",
        &binary,
        &config,
        cluster.dir().join("arm-node.log"),
    );
    // Emulated, it starts slower: its listening file says when it runs.
    let listening = arm.listening();
    pin_ports(&config, &listening);
    cluster.wait_for(Duration::from_secs(60), "the ARM node to join", |c| {
        c.domain_nodes(&c.domain_id) == Some(2)
    });
    // It says what it is, in `node list` and in the domain's capabilities.
    let listed = cluster.cli_ok(&["node", "list", "-o", "json"]);
    let nodes: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let arch_of = |id: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node_id"] == id)
            .map(|n| n["arch"].as_str().unwrap().to_string())
    };
    assert_eq!(arch_of(arm_id).as_deref(), Some("aarch64"));
    assert_eq!(arch_of(&cluster.node_ids[0]).as_deref(), Some("x86_64"));
    let labels = cluster.cli_ok(&["domain", "inspect", "-o", "json"]);
    assert!(
        labels.contains("arch=aarch64") && labels.contains("arch=x86_64"),
        "{labels}"
    );

    // compat_probe pinned by architecture: the starter on x86, the
    // responder on the ARM node; they call and cast each other.
    let function = |name: &str, peer: &str, payload: &str, arch: &str| {
        format!(
            r#"{{ "name": "{name}",
  "class_specification": {{ "id": "compat_probe", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": ["peer"] }},
  "output_mapping": {{ "peer": "{peer}" }},
  "annotations": {{ "init-payload": "{payload}", "label_match_all": "arch={arch}" }} }}"#,
            wasm.display()
        )
    };
    let spec = cluster.dir().join("across-architectures.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{}, {}], "resources": [], "annotations": {{}} }}"#,
            function(
                "starter",
                "responder",
                "role=starter,sizes=1:2,verbose=true",
                "x86_64"
            ),
            function("responder", "starter", "role=responder", "aarch64"),
        ),
    )
    .unwrap();
    let id = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    assert_eq!(cluster.nodes_of(&id, "responder"), vec![arm_id.to_string()]);
    assert_eq!(
        cluster.nodes_of(&id, "starter"),
        vec![cluster.node_ids[0].clone()]
    );
    let mut logs = String::new();
    cluster.wait_for(
        Duration::from_secs(60),
        "the exchange across architectures",
        |c| {
            logs = c.cli_ok(&["workflow", "logs", &id]);
            logs.contains("compat: raw reply")
        },
    );
    for line in [
        "compat: reply answer to question",
        "compat: raw reply answer to direct question",
        "compat: parsed 2 pairs",
    ] {
        assert!(logs.contains(line), "{line} in\n{logs}");
    }
    assert!(!logs.contains("ERROR"), "{logs}");
    // A function that asks for an architecture no node has is refused,
    // naming the label.
    let wrong = cluster.dir().join("riscv.json");
    std::fs::write(
        &wrong,
        format!(
            r#"{{ "functions": [{}], "resources": [], "annotations": {{}} }}"#,
            function("lonely", "lonely", "role=responder", "riscv64")
        ),
    )
    .unwrap();
    cluster.start_refused(&[wrong.to_str().unwrap()], "arch=riscv64");
    cluster.cli_ok(&["workflow", "stop", &id]);
    arm.kill();
}
