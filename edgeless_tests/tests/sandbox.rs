//! A function that loops forever, allocates without end or panics is
//! stopped by its limits and reported; the orchestrator restarts it with
//! back-off and gives up; the node and a workflow beside it keep running.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, count, example, example_in};

fn misbehaving(cluster: &Cluster, mode: &str, expected_reason: &str) {
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(
        dir.path(),
        "misbehave",
        &[("mode=loop", &format!("mode={mode}"))],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(
        Duration::from_secs(30),
        &format!("`{mode}` to be stopped, restarted and given up on"),
        |c| {
            let view = c.cli_ok(&["domain", "view", "domain-test"]);
            view.contains(&format!("failed: {expected_reason}"))
                && view.contains("(gave up after 2 restarts)")
        },
    );
    let log = cluster.nodes[0].log();
    assert!(
        count(&log, expected_reason) >= 3,
        "three attempts, each stopped:\n{log}"
    );
    let orchestrator = cluster.orchestrator.log();
    assert!(
        orchestrator.contains("instance failed; restarting after back-off"),
        "{orchestrator}"
    );
    assert!(
        orchestrator.contains("instance keeps failing; giving up"),
        "{orchestrator}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn misbehaving_functions_are_stopped_reported_and_given_up_on() {
    for function in ["misbehave", "ping", "pong"] {
        build_function(function);
    }
    let cluster = Cluster::builder().nodes(1).max_restarts(2).start();
    let neighbour = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    misbehaving(
        &cluster,
        "loop",
        "exceeded its CPU budget of 200 ms for one event",
    );
    misbehaving(
        &cluster,
        "alloc",
        "trapped: unreachable code (a panic, or memory exhausted)",
    );
    misbehaving(
        &cluster,
        "panic",
        "trapped: unreachable code (a panic, or memory exhausted)",
    );
    // The neighbour never stopped answering.
    let answered = count(&cluster.nodes[0].log(), "answered PONG");
    cluster.wait_for(Duration::from_secs(10), "ping-pong to keep flowing", |c| {
        count(&c.nodes[0].log(), "answered PONG") > answered + 1
    });
    cluster.cli_ok(&["workflow", "stop", &neighbour]);
}
