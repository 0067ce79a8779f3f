//! Faults injected on purpose into a cluster of real processes running the
//! ping-pong workflow: kill -9 the orchestrator with all its nodes, or the
//! controller, and start them again; cut the link between the two nodes (a
//! partition), or slow it down. After each the workflow is still listed, flows again,
//! keeps the state its functions saved, and can be stopped. The time to
//! recover is printed.

use std::time::{Duration, Instant};

use edgeless_tests::link::LinkProxy;
use edgeless_tests::{Cluster, build_function, count, example};

fn answered(cluster: &Cluster) -> usize {
    cluster
        .nodes
        .iter()
        .map(|n| count(&n.log(), "answered PONG"))
        .sum()
}

fn start_ping_pong() -> (Cluster, String) {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .refresh_sec(1)
        .persistent()
        .start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "the first pongs", |c| {
        answered(c) >= 2
    });
    (cluster, workflow)
}

fn stop_and_check(cluster: &Cluster, workflow: &str) {
    assert!(
        cluster.workflow_ids().iter().any(|w| w == workflow),
        "the workflow is listed"
    );
    cluster.cli_ok(&["workflow", "stop", workflow]);
    cluster.wait_for(Duration::from_secs(10), "ping to stop", |c| {
        c.nodes.iter().any(|n| n.log().contains("ping: stopped"))
    });
    // Nothing of the workflow runs anywhere any more.
    cluster.wait_until_idle();
}

#[test]
fn a_killed_orchestrator_restarts_with_its_workflows() {
    let (mut cluster, workflow) = start_ping_pong();
    cluster.orchestrator.kill();
    let killed = Instant::now();
    // The workflow does not need the orchestrator to run.
    let before = answered(&cluster);
    cluster.wait_for(
        Duration::from_secs(10),
        "pongs without an orchestrator",
        |c| answered(c) >= before + 2,
    );
    cluster.restart_orchestrator();
    // The restarted orchestrator resets the nodes that join it and starts
    // the saved components again.
    cluster.wait_for(Duration::from_secs(30), "instances re-created", |c| {
        count(&c.orchestrator.log(), "instance re-created") >= 2
    });
    let after = answered(&cluster);
    cluster.wait_for(Duration::from_secs(20), "pongs after the restart", |c| {
        answered(c) > after
    });
    eprintln!(
        "orchestrator kill -9 → restart → re-created and answered again: {:?}",
        killed.elapsed()
    );
    stop_and_check(&cluster, &workflow);
}

#[test]
fn a_domain_that_loses_power_restarts_with_its_workflows_and_their_state() {
    let (mut cluster, workflow) = start_ping_pong();
    // The orchestrator and every node die at once: the functions' saved
    // state now exists only in the orchestrator's data directory.
    cluster.orchestrator.kill();
    for node in &mut cluster.nodes {
        node.kill();
    }
    let killed = Instant::now();
    cluster.restart_orchestrator();
    for i in 0..cluster.nodes.len() {
        cluster.restart_node(i);
    }
    // The restarted orchestrator starts the saved components on the nodes
    // as they join; ping resumes from its saved count.
    cluster.wait_for(Duration::from_secs(30), "instances re-created", |c| {
        count(&c.orchestrator.log(), "instance re-created") >= 2
    });
    let before = answered(&cluster);
    cluster.wait_for(Duration::from_secs(20), "pongs after the restart", |c| {
        answered(c) > before
    });
    eprintln!(
        "orchestrator and nodes kill -9 → restart after 1 s → answered again: {:?}",
        killed.elapsed()
    );
    // Every ping started since (the nodes' logs are new) resumed from the
    // saved count, and the controller did not deploy anything again.
    let logs: String = cluster.nodes.iter().map(|n| n.log()).collect();
    let starts: Vec<u64> = logs
        .lines()
        .filter_map(|l| l.split("ping: started at count ").nth(1))
        .filter_map(|n| n.split_whitespace().next()?.parse::<u64>().ok())
        .collect();
    assert!(
        !starts.is_empty() && starts.iter().all(|n| *n > 0),
        "ping resumed from its saved count ({starts:?}):\n{logs}"
    );
    assert!(!cluster.controller.log().contains("deployed again"));
    // The restarted nodes did not compile ping and pong again.
    assert!(
        logs.contains("WASM module loaded from the on-disk module cache"),
        "{logs}"
    );
    let inspect = cluster.cli_ok(&["workflow", "inspect", &workflow]);
    assert!(inspect.contains("state running"), "{inspect}");
    stop_and_check(&cluster, &workflow);
}

#[test]
fn a_killed_controller_restarts_with_its_workflows() {
    let (mut cluster, workflow) = start_ping_pong();
    cluster.controller.kill();
    let killed = Instant::now();
    // The workflow does not need the controller to run.
    let before = answered(&cluster);
    cluster.wait_for(Duration::from_secs(10), "pongs without a controller", |c| {
        answered(c) >= before + 2
    });
    cluster.restart_controller();
    cluster.wait_for(Duration::from_secs(20), "the workflow listed again", |c| {
        c.cli(&["workflow", "list", "-o", "wide"])
            .stdout_text()
            .contains(&workflow)
    });
    eprintln!(
        "controller kill -9 → restart → workflow listed: {:?}",
        killed.elapsed()
    );
    // Still the same deployment: the controller checked it with the
    // domain and found it running; nothing was started twice.
    cluster.wait_for(Duration::from_secs(20), "the saved workflow checked", |c| {
        c.controller.log().contains("saved workflow still runs")
    });
    let log = cluster.controller.log();
    assert!(!log.contains("deployed again"), "{log}");
    let inspect = cluster.cli_ok(&["workflow", "inspect", &workflow]);
    assert!(inspect.contains("state running"), "{inspect}");
    stop_and_check(&cluster, &workflow);
}

#[test]
fn a_controller_restarted_without_state_leaves_running_functions_alone() {
    build_function("ping");
    build_function("pong");
    // data_dir = "": the restarted controller knows no workflow.
    let mut cluster = Cluster::builder().nodes(1).refresh_sec(1).start();
    cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "the first pongs", |c| {
        answered(c) >= 2
    });
    cluster.controller.kill();
    cluster.restart_controller();
    cluster.wait_for(
        Duration::from_secs(20),
        "the unknown components reported",
        |c| c.controller.log().contains("left running, unmanaged"),
    );
    let before = answered(&cluster);
    cluster.wait_for(Duration::from_secs(10), "pongs after the restart", |c| {
        answered(c) >= before + 2
    });
    let log = cluster.controller.log();
    assert!(!log.contains("stopping components"), "{log}");
    assert!(
        log.contains("data_dir is empty: workflows are not kept"),
        "{log}"
    );
    assert_eq!(cluster.workflow_ids(), Vec::<String>::new());
}

/// Ping-pong across two nodes, node 1's dataplane behind a proxy.
fn start_behind_proxy() -> (Cluster, LinkProxy, String) {
    build_function("ping");
    build_function("pong");
    let proxy = LinkProxy::bind();
    let cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .refresh_sec(1)
        .announce_invocation(1, proxy.port())
        .start();
    proxy.forward_to(cluster.invocation_urls[1].trim_start_matches("http://"));
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    assert_ne!(
        cluster.nodes_of(&workflow, "pinger"),
        cluster.nodes_of(&workflow, "ponger"),
        "ping and pong on different nodes"
    );
    cluster.wait_for(Duration::from_secs(20), "the first pongs", |c| {
        answered(c) >= 2
    });
    (cluster, proxy, workflow)
}

/// Pings whose call ended without an answer (no reply, or an error).
fn unanswered(cluster: &Cluster) -> usize {
    let logs: String = cluster.nodes.iter().map(|n| n.log()).collect();
    logs.lines()
        .filter(|l| l.contains("ping: PING #"))
        .filter(|l| l.contains(" got no reply") || l.contains(" failed"))
        .count()
}

#[test]
fn a_partition_between_two_nodes_heals() {
    let (cluster, proxy, workflow) = start_behind_proxy();
    let failed_before = unanswered(&cluster);
    proxy.cut();
    // The partition is felt: a ping's call ends without an answer (its
    // deadline), and the caller is told.
    cluster.wait_for(
        Duration::from_secs(30),
        "a call cut off by the partition",
        |c| unanswered(c) > failed_before,
    );
    let during = answered(&cluster);
    proxy.heal();
    let healed = Instant::now();
    cluster.wait_for(Duration::from_secs(30), "pongs after the partition", |c| {
        answered(c) >= during + 3
    });
    eprintln!(
        "partition of 5 s healed → pongs again after {:?}",
        healed.elapsed()
    );
    // Both nodes stayed in the domain: nothing was moved.
    let orchestrator = cluster.orchestrator.log();
    assert!(
        !orchestrator.contains("node lease expired"),
        "{orchestrator}"
    );
    stop_and_check(&cluster, &workflow);
}

#[test]
fn a_slow_peer_slows_the_workflow_without_breaking_it() {
    let (cluster, proxy, workflow) = start_behind_proxy();
    proxy.slow(Duration::from_millis(200));
    let before = answered(&cluster);
    let delayed_before = proxy.delayed_chunks();
    let slowed = Instant::now();
    cluster.wait_for(Duration::from_secs(30), "pongs through a slow link", |c| {
        answered(c) >= before + 3
    });
    // Each of those exchanges crossed the link while it held every chunk
    // back by 200 ms.
    let delayed = proxy.delayed_chunks() - delayed_before;
    assert!(
        delayed >= 3,
        "only {delayed} chunks crossed the slowed link during three exchanges"
    );
    eprintln!(
        "three pongs through a link delaying each chunk by 200 ms ({delayed} chunks delayed): {:?}",
        slowed.elapsed()
    );
    proxy.slow(Duration::ZERO);
    let logs: String = cluster.nodes.iter().map(|n| n.log()).collect();
    assert!(!logs.contains("panicked"), "{logs}");
    stop_and_check(&cluster, &workflow);
}

#[test]
fn an_orchestrator_restarted_without_its_data_gets_its_workflows_again() {
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .refresh_sec(1)
        .start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "the first pongs", |c| {
        answered(c) >= 2
    });
    cluster.orchestrator.kill();
    let killed = Instant::now();
    cluster.restart_orchestrator();
    // It remembers nothing: the controller notices and deploys again.
    cluster.wait_for(
        Duration::from_secs(30),
        "the workflow deployed again",
        |c| c.controller.log().contains("workflow deployed again"),
    );
    let after = answered(&cluster);
    cluster.wait_for(
        Duration::from_secs(20),
        "pongs after the redeployment",
        |c| answered(c) > after,
    );
    eprintln!(
        "orchestrator without data_dir kill -9 → restart → deployed again and answered: {:?}",
        killed.elapsed()
    );
    stop_and_check(&cluster, &workflow);
}
