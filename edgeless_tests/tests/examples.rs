//! Every example workflow runs and does what its README says.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, example};

fn run_example(name: &str, functions: &[&str], nodes: usize, expect: &[&str]) {
    for function in functions {
        build_function(function);
    }
    let cluster = Cluster::builder().nodes(nodes).round_robin().start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example(name)]);
    cluster.wait_for(
        Duration::from_secs(20),
        &format!("{name} to produce {expect:?}"),
        |c| {
            let logs: String = c.nodes.iter().map(|n| n.log()).collect();
            expect.iter().all(|e| logs.contains(e))
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn chain_passes_every_value_from_the_first_on() {
    // The counter casts its first value from handle_init: it must not be lost.
    run_example(
        "chain",
        &["counter", "incr", "double", "noop"],
        2,
        &[
            "incr: 0 -> 1",
            "double: 1 -> 2",
            "noop: cast from",
            ": 2 ",
            "incr: 2 -> 3",
            "double: 3 -> 6",
        ],
    );
}

#[test]
fn message_log_prints_generated_messages() {
    run_example(
        "message_log",
        &["message_generator", "noop"],
        1,
        &["[#0]: hello from edgeless", "[#2]: hello from edgeless"],
    );
}

#[test]
fn ping_pong_runs_on_one_node() {
    run_example(
        "ping_pong",
        &["ping", "pong"],
        1,
        &["ping: PING #2 answered PONG"],
    );
}

#[test]
fn cast_loop_bounces_events() {
    run_example("cast_loop", &["bounce"], 2, &["bounce: 10000 events"]);
}
