//! Orchestration with real processes: a killed node's functions come back
//! elsewhere, scaled functions spread over nodes, placement constraints,
//! several domains, and delegated orchestration through a real Redis.

use std::time::{Duration, Instant};

use edgeless_tests::{Cluster, build_function, count, example, example_in, redis_server};

/// The ping_pong example with a fast ping and `pong_annotations` on pong.
fn write_workflow(dir: &std::path::Path, pong_annotations: &str) -> String {
    let pong = format!("\"output_mapping\": {{}},\n      \"annotations\": {{{pong_annotations}}}");
    let replacements = [
        ("period=1000", "period=200"),
        (
            "\"output_mapping\": {},\n      \"annotations\": {}",
            pong.as_str(),
        ),
    ];
    example_in(dir, "ping_pong", &replacements)
}

fn build_ping_pong() {
    build_function("ping");
    build_function("pong");
}

#[test]
fn a_killed_nodes_functions_are_recreated_and_events_flow_again() {
    build_ping_pong();
    let mut cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_workflow(dir.path(), "");
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let pong_node = cluster.nodes_of(&workflow, "ponger")[0].clone();
    let ping_node = cluster.nodes_of(&workflow, "pinger")[0].clone();
    assert_ne!(pong_node, ping_node);
    let ping = cluster.node_index(&ping_node);
    cluster.wait_for(Duration::from_secs(20), "pings answered", |c| {
        c.nodes[ping].log().contains("answered PONG")
    });

    let victim = cluster.node_index(&pong_node);
    let answered_before = count(&cluster.nodes[ping].log(), "answered PONG");
    let killed = Instant::now();
    cluster.nodes[victim].kill();
    cluster.wait_for(
        Duration::from_secs(30),
        "pings answered again after the kill",
        |c| count(&c.nodes[ping].log(), "answered PONG") > answered_before + 2,
    );
    let recovery = killed.elapsed();
    eprintln!("recovery after node kill (lease 2 s): {recovery:?}");
    assert_eq!(
        cluster.nodes_of(&workflow, "ponger"),
        vec![ping_node.clone()],
        "pong now runs on the survivor"
    );

    // The killed node comes back empty and rejoins; the workflow keeps running.
    cluster.restart_node(victim);
    cluster.wait_for(
        Duration::from_secs(20),
        "the restarted node to rejoin",
        |c| {
            let view = c.cli_ok(&["domain", "view", "domain-test"]);
            view.contains(&pong_node) && view.contains(&ping_node)
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn nodes_learn_only_the_peers_their_instances_exchange_events_with() {
    build_ping_pong();
    let mut cluster = Cluster::builder()
        .nodes(3)
        .labels(0, &["a"])
        .labels(1, &["b"])
        .labels(2, &["c"])
        .start();
    let dir = tempfile::tempdir().unwrap();
    let replacements = [
        ("period=1000", "period=200\", \"label_match_all\": \"a"),
        (
            "\"output_mapping\": {},\n      \"annotations\": {}",
            "\"output_mapping\": {},\n      \"annotations\": {\"label_match_all\": \"b\"}",
        ),
    ];
    let spec = example_in(dir.path(), "ping_pong", &replacements);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let ids = cluster.node_ids.clone();
    assert_eq!(cluster.nodes_of(&workflow, "pinger"), vec![ids[0].clone()]);
    assert_eq!(cluster.nodes_of(&workflow, "ponger"), vec![ids[1].clone()]);
    cluster.wait_for(Duration::from_secs(20), "pings answered", |c| {
        c.nodes[0].log().contains("answered PONG")
    });
    let told = |log: &str, what: &str, peer: &str| {
        log.lines()
            .filter(|l| l.contains(what) && l.contains(&format!("peer={peer}")))
            .count()
    };
    // The pinger's node and the ponger's know each other (the ponger's
    // node answers calls there); the third node is told nothing.
    assert_eq!(told(&cluster.nodes[0].log(), "peer added", &ids[1]), 1);
    assert_eq!(told(&cluster.nodes[1].log(), "peer added", &ids[0]), 1);
    for node in 0..2 {
        assert_eq!(told(&cluster.nodes[node].log(), "peer added", &ids[2]), 0);
    }
    let third = cluster.nodes[2].log();
    assert!(!third.contains("peer added"), "{third}");

    // The ponger's node goes: only the node that knew it is told.
    cluster.nodes[1].kill();
    cluster.wait_for(Duration::from_secs(20), "the pinger's node told", |c| {
        told(&c.nodes[0].log(), "peer removed", &ids[1]) == 1
    });
    assert!(!cluster.nodes[2].log().contains("peer removed"));
    // Back, the ponger is re-created there and the link made again.
    let answered = count(&cluster.nodes[0].log(), "answered PONG");
    cluster.restart_node(1);
    cluster.wait_for(Duration::from_secs(30), "pings answered again", |c| {
        count(&c.nodes[0].log(), "answered PONG") > answered + 2
    });
    assert_eq!(told(&cluster.nodes[0].log(), "peer added", &ids[1]), 2);
    let third = cluster.nodes[2].log();
    assert!(!third.contains("peer added"), "{third}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn a_node_starts_code_it_has_from_its_key_and_asks_for_code_it_has_not() {
    use edgeless_api::proto::{
        FunctionClassSpecification, SpawnFunctionRequest, function_instance_client,
    };
    let code = std::fs::read(build_function("noop")).unwrap();
    let cluster = Cluster::builder().nodes(1).start();
    let key = "0".repeat(64);
    let request = |code: Vec<u8>| SpawnFunctionRequest {
        code: Some(FunctionClassSpecification {
            function_class_id: "noop".into(),
            function_class_type: "RUST_WASM".into(),
            function_class_version: "0.1".into(),
            function_class_code: code.into(),
            function_class_outputs: Vec::new(),
            function_class_code_key: key.clone(),
        }),
        state_id: uuid::Uuid::new_v4().to_string(),
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = edgeless_api::client::channel(&cluster.agent_urls[0]).unwrap();
        let mut node = function_instance_client::FunctionInstanceClient::new(channel);
        // A key it has not seen, without the code: it asks for the code.
        let status = node.start(request(Vec::new())).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
        assert!(status.message().starts_with("unknown code"), "{status:?}");
        // With the code, then from the key alone.
        node.start(request(code.clone()))
            .await
            .expect("start with the code");
        node.start(request(Vec::new()))
            .await
            .expect("start from the key alone");
    });
}

#[test]
fn max_instances_spreads_a_function_over_nodes() {
    build_ping_pong();
    let cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_workflow(dir.path(), r#""max_instances": "2""#);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let mut pong_nodes = cluster.nodes_of(&workflow, "ponger");
    pong_nodes.sort();
    let mut all = cluster.node_ids.clone();
    all.sort();
    assert_eq!(pong_nodes, all, "one pong instance per node");
    cluster.wait_for(
        Duration::from_secs(20),
        "both pong instances to answer",
        |c| c.nodes.iter().all(|n| count(&n.log(), "pong: PING #") >= 2),
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn unsatisfiable_constraints_are_explained() {
    build_ping_pong();
    let cluster = Cluster::builder().nodes(2).labels(1, &["camera"]).start();
    let dir = tempfile::tempdir().unwrap();
    let camera = write_workflow(dir.path(), r#""label_match_all": "camera""#);
    let workflow = cluster.cli_ok(&["workflow", "start", &camera]);
    assert_eq!(
        cluster.nodes_of(&workflow, "ponger"),
        vec![cluster.node_ids[1].clone()]
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);

    let pinned = format!(
        r#""node_id_match_any": "{}""#,
        "00000000-0000-4000-8000-999999999999"
    );
    let nowhere = write_workflow(dir.path(), &pinned);
    let output = cluster.cli(&["workflow", "start", &nowhere]);
    assert_eq!(output.code(), Some(1), "{}", output.stderr_text());
    assert!(
        output.stderr_text().contains(
            "function `ponger`: cannot place `pong`: no node satisfies node_id_match_any"
        ),
        "{}",
        output.stderr_text()
    );
    let lidar = write_workflow(dir.path(), r#""label_match_all": "lidar""#);
    let output = cluster.cli(&["workflow", "start", &lidar]);
    assert!(
        output
            .stderr_text()
            .contains("domain `domain-test` has no node labelled `lidar` (needed by `ponger`)"),
        "{}",
        output.stderr_text()
    );
    assert_eq!(
        cluster.workflow_ids(),
        Vec::<String>::new(),
        "nothing is left running"
    );
}

#[test]
fn the_controller_picks_the_domain_that_fits_and_moves_workflows_when_a_domain_dies() {
    build_ping_pong();
    let mut cluster = Cluster::builder().nodes(1).domain_id("plain").start();
    cluster.add_domain(
        Cluster::builder()
            .nodes(1)
            .labels(0, &["gpu"])
            .domain_id("gpu"),
    );
    assert_eq!(cluster.domain_nodes("gpu"), Some(1));
    assert_eq!(cluster.domain_nodes("plain"), Some(1));

    let dir = tempfile::tempdir().unwrap();
    let gpu_only = write_workflow(dir.path(), r#""label_match_all": "gpu""#);
    let workflow = cluster.cli_ok(&["workflow", "start", &gpu_only]);
    assert_eq!(cluster.inspect(&workflow)["components"][0]["domain"], "gpu");
    cluster.cli_ok(&["workflow", "stop", &workflow]);

    // A workflow that fits both goes to the first (`gpu`); when that domain
    // dies it is deployed again on `plain`.
    let anywhere = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    assert_eq!(cluster.inspect(&anywhere)["components"][0]["domain"], "gpu");
    let gpu = &mut cluster.domains[0];
    gpu.orchestrator.kill();
    gpu.nodes.iter_mut().for_each(|n| n.kill());
    let moved = Instant::now();
    cluster.wait_for(
        Duration::from_secs(30),
        "the workflow to run on `plain`",
        |c| c.nodes[0].log().contains("ping: PING #2 answered PONG"),
    );
    eprintln!(
        "workflow moved to another domain after {:?}",
        moved.elapsed()
    );
    let view = cluster.inspect(&anywhere);
    assert_eq!(view["components"][0]["domain"], "plain");
    assert_eq!(view["state"], "running");
    cluster.cli_ok(&["workflow", "stop", &anywhere]);
}

#[test]
#[cfg_attr(skip_redis, ignore = "EDGELESS_TEST_SKIP=redis")]
fn the_redis_proxy_mirrors_state_and_carries_out_migrations() {
    let (redis, redis_url) = redis_server();
    build_ping_pong();
    let cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .redis(&redis_url)
        .start();
    let proxy = |args: &[&str]| {
        let output = std::process::Command::new(edgeless_tests::bin("edgeless_orc_proxy_cli"))
            .args(["--redis-url", &redis_url])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    cluster.wait_for(Duration::from_secs(10), "node capabilities in Redis", |c| {
        let text = proxy(&["show", "node", "capabilities"]);
        c.node_ids.iter().all(|id| text.contains(id.as_str()))
    });
    assert!(proxy(&["show", "node", "health"]).contains("mem_available"));

    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    let pong_lid = cluster.inspect(&workflow)["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ponger")
        .unwrap()["logical_id"]
        .as_str()
        .unwrap()
        .to_string();
    cluster.wait_for(Duration::from_secs(10), "the components in Redis", |_| {
        proxy(&["show", "functions"]).contains(&pong_lid)
    });
    let from = cluster.nodes_of(&workflow, "ponger")[0].clone();
    let to = cluster
        .node_ids
        .iter()
        .find(|n| **n != from)
        .unwrap()
        .clone();
    proxy(&["intent", "migrate", &pong_lid, &to]);
    cluster.wait_for(Duration::from_secs(15), "pong to move", |c| {
        c.nodes_of(&workflow, "ponger") == vec![to.clone()]
    });
    let target = cluster.node_index(&to);
    cluster.wait_for(Duration::from_secs(15), "the moved pong to answer", |c| {
        c.nodes[target].log().contains("pong: PING #")
    });
    cluster.wait_for(
        Duration::from_secs(10),
        "performance samples in Redis",
        |_| proxy(&["dump", "performance"]).lines().count() > 1,
    );
    // The mirror is refreshed every second.
    cluster.wait_for(Duration::from_secs(10), "the migration in Redis", |_| {
        proxy(&["show", "logical-to-physical"]).contains(&format!("{pong_lid} -> {to}/"))
    });

    // Redis goes away: the orchestrator says so and the domain runs on.
    drop(redis);
    cluster.wait_for(
        Duration::from_secs(15),
        "the lost Redis to be noticed",
        |c| {
            c.orchestrator
                .log()
                .contains("cannot connect to Redis; retrying")
        },
    );
    let answered = count(&cluster.node_logs(), "answered PONG");
    cluster.wait_for(Duration::from_secs(15), "pongs without Redis", |c| {
        count(&c.node_logs(), "answered PONG") > answered + 1
    });
    // It comes back, empty, on the same address: the mirror is written again.
    let port: u16 = redis_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut again = edgeless_tests::Daemon::redis_on(port, tempfile::tempdir().unwrap());
    assert!(
        again.wait_for_redis(),
        "the port was taken: {}",
        again.log()
    );
    cluster.wait_for(
        Duration::from_secs(20),
        "the mirror in the new Redis",
        |c| {
            let text = proxy(&["show", "node", "capabilities"]);
            c.node_ids.iter().all(|id| text.contains(id.as_str()))
                && proxy(&["show", "functions"]).contains(&pong_lid)
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    cluster.wait_for(
        Duration::from_secs(10),
        "stopped components to leave Redis",
        |_| !proxy(&["show", "functions"]).contains(&pong_lid),
    );
}

#[test]
fn synced_state_follows_an_instance_to_another_node() {
    build_ping_pong();
    let mut cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = write_workflow(dir.path(), "");
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let ping_node = cluster.nodes_of(&workflow, "pinger")[0].clone();
    let ping = cluster.node_index(&ping_node);
    let survivor = 1 - ping;
    cluster.wait_for(Duration::from_secs(20), "ten pings", |c| {
        c.nodes[ping].log().contains("ping: PING #10 answered PONG")
    });
    cluster.nodes[ping].kill();
    cluster.wait_for(
        Duration::from_secs(30),
        "ping to start again on the survivor",
        |c| c.nodes[survivor].log().contains("ping: started at count"),
    );
    let log = cluster.nodes[survivor].log();
    let restored: u64 = log
        .split("ping: started at count ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a count in the log");
    // It resumed at a count the killed instance had reported (states go to
    // the orchestrator at each refresh, so the last few may be lost), and
    // counts on from there.
    assert!(restored > 0, "the re-created ping started from 0:\n{log}");
    cluster.wait_for(
        Duration::from_secs(20),
        "the next ping after the restored count",
        |c| {
            c.nodes[survivor]
                .log()
                .contains(&format!("ping: PING #{} answered PONG", restored + 1))
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn a_workflow_whose_domain_dies_is_inspected_as_failed_until_it_returns() {
    build_ping_pong();
    let mut cluster = Cluster::builder().nodes(1).refresh_sec(1).start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    let running = cluster.inspect(&workflow);
    assert_eq!(running["state"], "running", "{running}");
    assert_eq!(running["workflow_id"], workflow.as_str());
    let names: Vec<&str> = running["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{running}");
    assert!(
        names.contains(&"pinger") && names.contains(&"ponger"),
        "{running}"
    );
    for component in running["components"].as_array().unwrap() {
        assert_eq!(component["domain"], "domain-test", "{running}");
        assert_eq!(
            component["instances"].as_array().unwrap().len(),
            1,
            "{running}"
        );
    }

    // The whole domain goes away: no domain can host the workflow.
    cluster.orchestrator.kill();
    cluster.nodes[0].kill();
    cluster.wait_for(Duration::from_secs(30), "the workflow to fail", |c| {
        c.inspect(&workflow)["state"]
            .as_str()
            .is_some_and(|s| s.starts_with("failed: "))
    });
    let failed = cluster.inspect(&workflow);
    let state = failed["state"].as_str().unwrap();
    assert!(
        state.contains("no orchestration domain is registered"),
        "{state}"
    );
    let text = cluster.cli_ok(&["workflow", "inspect", &workflow]);
    assert!(text.contains(&format!("* state {state}")), "{text}");
    assert!(cluster.workflow_ids().contains(&workflow));

    // The domain returns: the controller deploys the workflow again.
    cluster.restart_orchestrator();
    cluster.restart_node(0);
    cluster.wait_for(Duration::from_secs(30), "the workflow to run again", |c| {
        c.inspect(&workflow)["state"] == "running"
    });
    cluster.wait_for(Duration::from_secs(20), "pongs again", |c| {
        c.node_logs().contains("ping: PING #1 answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
