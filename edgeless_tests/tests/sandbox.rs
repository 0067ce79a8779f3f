//! A function that loops forever, allocates without end or panics is
//! stopped by its limits and reported; the orchestrator restarts it with
//! back-off and gives up; the node and a workflow beside it keep running.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, count, example, example_in, functions_dir};

/// A module that logs like the misbehave function and, on its first event,
/// grows its table by 10,000 elements at a time for as long as it can (no
/// Rust function can: the language has no table growth).
const TABLE_GROWER: &str = r#"(module
  (import "edgeless" "cast" (func $cast (param i32 i32 i32 i32) (result i32)))
  (import "edgeless" "log" (func $log (param i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (table $t 1 funcref)
  (data (i32.const 16) "misbehave: starting, mode table")
  (data (i32.const 64) "misbehave")
  (data (i32.const 80) "self")
  (data (i32.const 96) "go")
  (func (export "edgeless_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "edgeless_free") (param i32 i32))
  (func (export "handle_init") (param i32 i32 i32 i32)
    (call $log (i32.const 3) (i32.const 64) (i32.const 9) (i32.const 16) (i32.const 31))
    (drop (call $cast (i32.const 80) (i32.const 4) (i32.const 96) (i32.const 2))))
  (func (export "handle_cast") (param i32 i32 i32)
    (loop $grow
      (br_if $grow (i32.ne (table.grow $t (ref.null func) (i32.const 10000)) (i32.const -1))))
    unreachable)
  (func (export "handle_call") (param i32 i32 i32 i32) (result i32) (i32.const 0))
  (func (export "handle_stop")))"#;

/// Runs the misbehave example in `mode` until the orchestrator gives up;
/// returns what the node logged meanwhile.
fn misbehaving(cluster: &Cluster, mode: &str, expected_reason: &str) -> String {
    misbehaving_with(cluster, mode, expected_reason, &[])
}

/// [`misbehaving`], with more replacements in the workflow.
fn misbehaving_with(
    cluster: &Cluster,
    mode: &str,
    expected_reason: &str,
    replacements: &[(&str, &str)],
) -> String {
    // Only what this mode makes the daemons log counts.
    let node_from = cluster.nodes[0].log().len();
    let orchestrator_from = cluster.orchestrator.log().len();
    let dir = tempfile::tempdir().unwrap();
    let mode_arg = format!("mode={mode}");
    let mut all = vec![("mode=loop", mode_arg.as_str())];
    all.extend_from_slice(replacements);
    let spec = example_in(dir.path(), "misbehave", &all);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    // The workflow's state follows its function's: degraded while it is
    // restarted, failed once the orchestrator gives up.
    let listed_state = |c: &Cluster| {
        let listing: serde_json::Value =
            serde_json::from_str(&c.cli_ok(&["workflow", "list", "-o", "json"])).unwrap();
        listing
            .as_array()
            .and_then(|all| all.iter().find(|w| w["workflow_id"] == workflow.as_str()))
            .map(|w| w["state"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    cluster.wait_for(
        Duration::from_secs(30),
        "the workflow listed as degraded",
        |c| listed_state(c) == format!("degraded: spinner: restarting: {expected_reason}"),
    );
    cluster.wait_for(
        Duration::from_secs(30),
        &format!("`{mode}` to be stopped, restarted and given up on"),
        |c| {
            let view = c.cli_ok(&["domain", "view", "domain-test"]);
            view.contains(&format!("failed: {expected_reason}"))
                && view.contains("(gave up after 2 restarts)")
        },
    );
    let failed = format!("failed: spinner: {expected_reason} (gave up after 2 restarts)");
    assert_eq!(listed_state(cluster), failed);
    let inspect = cluster.inspect(&workflow);
    assert_eq!(inspect["state"], failed.as_str(), "{inspect}");
    assert_eq!(inspect["components"][0]["restarts"], 2, "{inspect}");
    let log = cluster.nodes[0].log()[node_from..].to_string();
    assert_eq!(
        count(&log, &format!("misbehave: starting, mode {mode}")),
        3,
        "one start and two restarts:\n{log}"
    );
    assert!(
        count(&log, expected_reason) >= 3,
        "three attempts, each stopped:\n{log}"
    );
    let orchestrator = cluster.orchestrator.log()[orchestrator_from..].to_string();
    assert!(
        orchestrator.contains("instance failed; restarting after back-off"),
        "{orchestrator}"
    );
    assert!(
        orchestrator.contains("instance keeps failing; giving up"),
        "{orchestrator}"
    );
    // `workflow logs` has the lines of all three attempts (ended instances
    // keep theirs), each failure with its reason, a panic with its location.
    let logs = cluster.cli_ok(&["workflow", "logs", &workflow]);
    assert_eq!(
        count(&logs, &format!("misbehave: starting, mode {mode}")),
        3,
        "{logs}"
    );
    assert!(
        count(&logs, &format!("ERROR instance failed: {expected_reason}")) >= 3,
        "{logs}"
    );
    if mode == "panic" {
        assert!(logs.contains("ERROR panicked at src/lib.rs:"), "{logs}");
    }
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    cluster.wait_for(Duration::from_secs(10), "the failed instance to go", |c| {
        !c.cli_ok(&["domain", "view", "domain-test"])
            .contains("failed:")
    });
    log
}

/// The most MiB the alloc mode logged holding, in one attempt.
fn most_held_mib(log: &str) -> usize {
    log.lines()
        .filter_map(|l| l.split("misbehave: holding ").nth(1))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .max()
        .unwrap_or(0)
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
    let alloc = misbehaving(
        &cluster,
        "alloc",
        "trapped: unreachable code (a panic, or memory exhausted)",
    );
    // The workflow's `max_memory_mb = 16` is the limit that hit, not the
    // node's default of 64 MiB: it got close to 16 MiB and no further.
    let held = most_held_mib(&alloc);
    assert!(
        (10..16).contains(&held),
        "held {held} MiB at most:\n{alloc}"
    );
    // A panic is named by its message (the function reports it before it
    // traps); the log line has its location.
    let panic = misbehaving(
        &cluster,
        "panic",
        "panicked: misbehave: panicking on purpose",
    );
    assert!(panic.contains("location=\"src/lib.rs:"), "{panic}");
    assert!(!panic.contains("misbehave: holding"), "{panic}");
    let dir = tempfile::tempdir().unwrap();
    let table_grower = dir.path().join("table.wasm");
    std::fs::write(&table_grower, wat::parse_str(TABLE_GROWER).unwrap()).unwrap();
    let misbehave_code = functions_dir().join("misbehave/misbehave.wasm");
    misbehaving_with(
        &cluster,
        "table",
        "a table would grow to 100001 elements, beyond the node's limit of 100000",
        &[(
            misbehave_code.to_str().unwrap(),
            table_grower.to_str().unwrap(),
        )],
    );
    // The neighbour never stopped answering.
    let answered = count(&cluster.nodes[0].log(), "answered PONG");
    cluster.wait_for(Duration::from_secs(10), "ping-pong to keep flowing", |c| {
        count(&c.nodes[0].log(), "answered PONG") > answered + 1
    });
    cluster.cli_ok(&["workflow", "stop", &neighbour]);
}

#[test]
fn a_stop_ends_a_running_handler_and_sigterm_ends_the_node() {
    build_function("misbehave");
    // A node that lets a handler run for ten minutes.
    let mut cluster = Cluster::builder()
        .nodes(1)
        .wasm_runtime("max_cpu_ms_per_event = 600000")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(
        dir.path(),
        "misbehave",
        &[("\"max_cpu_ms\": \"200\"", "\"max_cpu_ms\": \"600000\"")],
    );
    // Two endless loops: as many as this machine has cores.
    let first = cluster.cli_ok(&["workflow", "start", "--name", "spin-1", &spec]);
    let _second = cluster.cli_ok(&["workflow", "start", "--name", "spin-2", &spec]);
    cluster.wait_for(Duration::from_secs(20), "both loops running", |c| {
        count(&c.nodes[0].log(), "misbehave: starting, mode loop") >= 2
    });
    std::thread::sleep(Duration::from_secs(1));
    // The node still answers while they spin.
    let view = cluster.cli_ok(&["domain", "view", "domain-test"]);
    assert!(view.contains("running"), "{view}");
    cluster.cli_ok(&["workflow", "stop", &first]);
    cluster.wait_for(
        Duration::from_secs(10),
        "the stop to end the handler",
        |c| {
            c.nodes[0]
                .log()
                .contains("stopped in the middle of an event")
        },
    );
    // SIGTERM ends the node although a handler still spins.
    assert!(
        cluster.nodes[0].terminate(Duration::from_secs(10)),
        "the node ignored SIGTERM:\n{}",
        cluster.nodes[0].log()
    );
}

#[test]
fn a_state_too_large_is_refused_to_the_function_and_the_node_stays() {
    for function in ["misbehave", "ping", "pong"] {
        build_function(function);
    }
    let cluster = Cluster::builder().nodes(1).refresh_sec(1).start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "misbehave", &[("mode=loop", "mode=sync")]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(20), "both states synced", |c| {
        c.nodes[0].log().contains("misbehave: small state saved")
    });
    let log = cluster.nodes[0].log();
    assert!(
        log.contains("misbehave: large state refused: the state was not saved"),
        "{log}"
    );
    // The small state reaches the orchestrator with the node's refreshes,
    // and the node keeps its place in the domain.
    std::thread::sleep(Duration::from_secs(3));
    let view = cluster.cli_ok(&["domain", "view", "domain-test"]);
    assert!(view.contains(&cluster.node_ids[0]), "{view}");
    assert!(!view.contains("failed"), "{view}");
    let neighbour = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "ping-pong on the same node", |c| {
        c.nodes[0].log().contains("answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &neighbour]);
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
