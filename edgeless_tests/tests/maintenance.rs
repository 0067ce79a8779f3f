//! Node maintenance with real processes: a cordoned node takes no new
//! instances, a drained one hands its instances (and their synced state)
//! to the other nodes while events keep flowing, and only administrators
//! may do either.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, count, example_in};

#[test]
fn cordon_keeps_new_work_away_and_drain_moves_instances() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "ping_pong", &[("period=1000", "period=200")]);
    let (a, b) = (cluster.node_ids[0].clone(), cluster.node_ids[1].clone());

    cluster.cli_ok(&["node", "cordon", &a]);
    let listed = cluster.cli_ok(&["node", "list", "-o", "json"]);
    let nodes: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let cordoned = |id: &str| {
        nodes
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node_id"] == id)
            .map(|n| n["cordoned"] == true)
    };
    assert_eq!((cordoned(&a), cordoned(&b)), (Some(true), Some(false)));
    // Round robin would use both nodes: the cordoned one gets nothing.
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    assert_eq!(cluster.nodes_of(&workflow, "pinger"), vec![b.clone()]);
    assert_eq!(cluster.nodes_of(&workflow, "ponger"), vec![b.clone()]);

    // Uncordoned, A takes work again; drained, B hands it all to A.
    cluster.cli_ok(&["node", "uncordon", &a]);
    let second = cluster.cli_ok(&["workflow", "start", &spec, "--name", "second"]);
    let on_a = |c: &Cluster| {
        ["pinger", "ponger"]
            .iter()
            .flat_map(|f| c.nodes_of(&second, f))
            .any(|n| n == a)
    };
    assert!(
        on_a(&cluster),
        "round robin put nothing on the uncordoned node"
    );
    let ping_node = cluster.node_index(&b);
    cluster.wait_for(Duration::from_secs(20), "pings answered on B", |c| {
        count(&c.nodes[ping_node].log(), "answered PONG") >= 8
    });
    cluster.cli_ok(&["node", "drain", &b]);
    cluster.wait_for(Duration::from_secs(30), "every instance moved to A", |c| {
        [&workflow, &second].iter().all(|w| {
            ["pinger", "ponger"]
                .iter()
                .all(|f| c.nodes_of(w, f) == vec![a.clone()])
        })
    });
    let on_a_node = cluster.node_index(&a);
    let before = count(&cluster.nodes[on_a_node].log(), "answered PONG");
    cluster.wait_for(Duration::from_secs(20), "pings answered on A", |c| {
        count(&c.nodes[on_a_node].log(), "answered PONG") > before + 2
    });
    // The counter went on from its synced state instead of starting over.
    let log = cluster.nodes[on_a_node].log();
    assert!(
        log.lines()
            .any(|l| l.contains("ping: started at count") && !l.contains("count 0")),
        "{log}"
    );
    let events = cluster.cli_ok(&["events"]);
    assert!(events.contains("node-drained"), "{events}");
    for id in [&workflow, &second] {
        cluster.cli_ok(&["workflow", "stop", id]);
    }
    // An unknown node is a clear error.
    let output = cluster.cli(&["node", "cordon", "0b7e3a3c-7a0f-4a8b-9a55-6bd0e5e4c6f1"]);
    assert_eq!(output.code(), Some(3), "{}", output.stderr_text());
}

#[test]
fn only_administrators_cordon_nodes() {
    let cluster = Cluster::builder().nodes(1).tokens().start();
    let client = cluster.create_token("alice", "acme");
    let admin = std::fs::read_to_string(cluster.dir().join("admin.token")).unwrap();
    // New tokens are taken within a second.
    assert!(edgeless_tests::eventually(Duration::from_secs(5), || {
        cluster.cli_as(&client, &["workflow", "list"]).code() == Some(0)
    }));
    let node = cluster.node_ids[0].clone();
    let output = cluster.cli_as(&client, &["node", "cordon", &node]);
    assert_ne!(output.code(), Some(0));
    assert!(
        output.stderr_text().contains("SetNodeState"),
        "{}",
        output.stderr_text()
    );
    let output = cluster.cli_as(admin.trim(), &["node", "cordon", &node]);
    assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
}

#[test]
fn a_cordon_outlasts_an_orchestrator_restart() {
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .refresh_sec(1)
        .persistent()
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "ping_pong", &[]);
    let (a, b) = (cluster.node_ids[0].clone(), cluster.node_ids[1].clone());
    cluster.cli_ok(&["node", "cordon", &a]);
    // The orchestrator writes its changes behind (within milliseconds).
    std::thread::sleep(Duration::from_millis(500));
    cluster.orchestrator.kill();
    cluster.restart_orchestrator();
    let listed = |c: &Cluster| -> Vec<(String, bool)> {
        let output = c.cli(&["node", "list", "-o", "json"]);
        serde_json::from_str::<serde_json::Value>(&output.stdout_text())
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|n| {
                let id = n["node_id"].as_str().unwrap_or_default().to_string();
                (id, n["cordoned"] == true)
            })
            .collect()
    };
    cluster.wait_for(Duration::from_secs(30), "both nodes back", |c| {
        listed(c).len() == 2
    });
    let mut nodes = listed(&cluster);
    nodes.sort_by_key(|(id, _)| *id != a);
    assert_eq!(nodes, vec![(a.clone(), true), (b.clone(), false)]);
    // Round robin would use both nodes: the cordoned one still gets nothing
    // (once the controller has the restarted domain's nodes again).
    cluster.wait_for(
        Duration::from_secs(30),
        "the domain's nodes at the controller",
        |c| c.domain_nodes("domain-test").unwrap_or(0) >= 1,
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    assert_eq!(cluster.nodes_of(&workflow, "pinger"), vec![b.clone()]);
    assert_eq!(cluster.nodes_of(&workflow, "ponger"), vec![b.clone()]);
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
