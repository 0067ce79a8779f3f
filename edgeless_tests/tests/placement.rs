//! Placement in a running cluster: the `LeastLoaded` policy, the `tee`,
//! `tpm` and `resource_match_all` annotations, and the orchestrator's
//! `node_lease_sec`.

use std::collections::HashMap;
use std::time::Duration;

use edgeless_tests::{Cluster, build_function};

/// A workflow of one `noop` function with `annotations` (JSON object body),
/// written into `dir`.
fn one_function(dir: &std::path::Path, name: &str, annotations: &str) -> String {
    let code = build_function("noop");
    let text = format!(
        r#"{{"functions": [{{"name": "f",
            "class_specification": {{"id": "noop", "function_type": "RUST_WASM", "version": "0.1",
                                     "code": "{}", "outputs": []}},
            "output_mapping": {{}}, "annotations": {{{annotations}}}}}],
           "resources": [], "annotations": {{}}}}"#,
        code.display()
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn least_loaded_fills_nodes_by_instances_per_cpu() {
    // Node 0 counts four CPUs, node 1 one.
    let cluster = Cluster::builder()
        .nodes(2)
        .least_loaded()
        .capabilities(0, "num_cpus = 4")
        .capabilities(1, "num_cpus = 1")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = one_function(dir.path(), "one", "");
    let mut on: HashMap<String, usize> = HashMap::new();
    let mut workflows = Vec::new();
    for _ in 0..5 {
        let workflow = cluster.cli_ok(&["workflow", "start", &spec, "--allow-duplicate"]);
        let node = cluster.nodes_of(&workflow, "f")[0].clone();
        *on.entry(node).or_default() += 1;
        workflows.push(workflow);
    }
    // Loads per CPU stay level: 4 of 4 CPUs, 1 of 1.
    let four = on.get(&cluster.node_ids[0]).copied().unwrap_or(0);
    let one = on.get(&cluster.node_ids[1]).copied().unwrap_or(0);
    assert_eq!((four, one), (4, 1), "{on:?}");
    // Freeing the small node makes it the least loaded again.
    let on_small = workflows
        .iter()
        .find(|w| cluster.nodes_of(w, "f")[0] == cluster.node_ids[1])
        .unwrap()
        .clone();
    cluster.cli_ok(&["workflow", "stop", &on_small]);
    let next = cluster.cli_ok(&["workflow", "start", &spec, "--allow-duplicate"]);
    assert_eq!(
        cluster.nodes_of(&next, "f"),
        vec![cluster.node_ids[1].clone()]
    );
}

#[test]
fn tee_tpm_and_resource_annotations_pick_the_node_that_has_them() {
    // Node 0 hosts the resource providers; node 1 has a TEE and a TPM.
    let cluster = Cluster::builder()
        .nodes(2)
        .resources()
        .capabilities(1, "is_tee_running = true\nhas_tpm = true")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let (providers, trusted) = (&cluster.node_ids[0], &cluster.node_ids[1]);
    // Placement is random among eligible nodes: several starts each, so
    // that luck cannot pass.
    for (name, annotations, node) in [
        ("tee", r#""tee": "required""#, trusted),
        ("tpm", r#""tpm": "required""#, trusted),
        (
            "provider",
            r#""resource_match_all": "file-log-1,redis-1""#,
            providers,
        ),
    ] {
        let spec = one_function(dir.path(), name, annotations);
        for _ in 0..4 {
            let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
            assert_eq!(
                &cluster.nodes_of(&workflow, "f"),
                &vec![node.clone()],
                "{name}"
            );
            cluster.cli_ok(&["workflow", "stop", &workflow]);
        }
    }
    // No node has both: refused, naming the constraint that ruled out the last node.
    let both = one_function(
        dir.path(),
        "both",
        r#""resource_match_all": "file-log-1", "tpm": "required""#,
    );
    let refused = cluster.cli(&["workflow", "start", &both]);
    assert_eq!(refused.code(), Some(1), "{}", refused.stderr_text());
    assert!(
        refused
            .stderr_text()
            .contains("no node satisfies tpm = required"),
        "{}",
        refused.stderr_text()
    );
}

#[test]
fn node_lease_sec_sets_how_long_a_silent_node_is_kept() {
    // Refreshes every second; without node_lease_sec a lease is two periods.
    let mut cluster = Cluster::builder()
        .nodes(2)
        .refresh_sec(1)
        .node_lease_sec(8)
        .start();
    let lease_of = |c: &Cluster, node: &str| -> Option<i64> {
        let view = c.cli_ok(&["domain", "view", &c.domain_id, "-o", "json"]);
        let value: serde_json::Value = serde_json::from_str(&view).unwrap();
        value["nodes"]
            .as_array()?
            .iter()
            .find(|n| n["node_id"] == node)?["lease_remaining_sec"]
            .as_i64()
    };
    let node = cluster.node_ids[1].clone();
    let lease = lease_of(&cluster, &node).expect("the node is listed");
    assert!(lease > 2 && lease <= 8, "lease {lease}s");
    cluster.nodes[1].kill();
    // The silent node is kept while its lease runs down, then dropped.
    cluster.wait_for(Duration::from_secs(20), "the lease to run down", |c| {
        lease_of(c, &node).is_some_and(|l| l <= 2)
    });
    cluster.wait_for(
        Duration::from_secs(20),
        "the silent node to be dropped",
        |c| lease_of(c, &node).is_none(),
    );
    assert!(cluster.orchestrator.log().contains("node lease expired"));
}
