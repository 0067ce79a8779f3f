//! `edgeless_benchmark` against a real cluster: a seeded schedule of
//! workflows is started and stopped on time, and every workflow gets a CSV
//! row.

use std::process::Command;

use edgeless_tests::{Cluster, bin, build_function, functions_dir};

/// Runs `command`, which must succeed; returns what it printed.
fn succeeded(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_benchmark_starts_stops_and_records_every_workflow() {
    build_function("noop");
    build_function("counter");
    build_function("incr");
    build_function("scatter");
    build_function("gather");
    let cluster = Cluster::builder().nodes(2).start();
    let out = tempfile::tempdir().unwrap();
    let prefix = format!("{}/exp-", out.path().display());
    let functions = functions_dir();
    let noop = format!(
        "single;{0}/noop/function.json;{0}/noop/noop.wasm",
        functions.display()
    );
    let chain = format!("chain;3;{}", functions.display());
    let map_reduce = format!("map-reduce;3;{}", functions.display());
    for (wf_type, model, expected) in [
        (
            noop.as_str(),
            "incremental",
            "workflows requested 6, started 6, blocking probability 0.000",
        ),
        (
            chain.as_str(),
            "single",
            "workflows requested 1, started 1, blocking probability 0.000",
        ),
        (
            map_reduce.as_str(),
            "single",
            "workflows requested 1, started 1, blocking probability 0.000",
        ),
    ] {
        let stdout = succeeded(
            Command::new(bin("edgeless_benchmark"))
                .args(["-c", &cluster.controller_url, "--arrival-model", model])
                .args(["-i", "0.5", "-l", "1.2", "-d", "3", "-w", wf_type])
                .args(["--dataset-path", &prefix, "--append"])
                .args(["--additional-header", "run", "--additional-fields", model]),
        );
        assert!(stdout.contains(expected), "{stdout}");
        assert_eq!(
            cluster.workflow_ids(),
            Vec::<String>::new(),
            "every workflow was stopped"
        );
    }
    let csv = std::fs::read_to_string(format!("{prefix}workflows.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "run,seed,workflow,arrival_s,end_s,started,start_latency_ms,error"
    );
    assert_eq!(lines.len(), 1 + 6 + 1 + 1, "{csv}");
    assert!(
        lines[1].starts_with("incremental,42,0,0.000,1.200,1,"),
        "{csv}"
    );
    assert!(lines[7].starts_with("single,42,0,0.000,3.000,1,"), "{csv}");
    // The chain really ran: its values went from f0 through f1 to f2.
    let logs: String = cluster.nodes.iter().map(|n| n.log()).collect();
    assert!(
        logs.contains("incr: 0 -> 1") && logs.contains("incr: 1 -> 2"),
        "{logs}"
    );
    // The map-reduce too: each value went through all three mappers and
    // the reducer saw the three results.
    assert!(logs.contains("gather: 1 complete"), "{logs}");

    let bad = Command::new(bin("edgeless_benchmark"))
        .args(["-c", &cluster.controller_url, "-w", "vector-mul-chain"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown workflow type"));
}

#[test]
fn bench_mode_measures_every_scenario_against_the_baseline() {
    build_function("bounce");
    build_function("counter");
    build_function("incr");
    let out = tempfile::tempdir().unwrap();
    let prefix = format!("{}/bench-", out.path().display());
    let stdout = succeeded(
        Command::new(bin("edgeless_benchmark"))
            .args(["bench", "--functions-dir"])
            .arg(functions_dir())
            .args(["--dataset-path", &prefix])
            .args([
                "--samples",
                "200",
                "--seconds",
                "0.3",
                "--instances",
                "1000",
            ])
            .args(["--workflow-runs", "2", "--chain-length", "4"]),
    );
    // One line per scenario, each with a figure; whether a target is met
    // is the benchmark's business, not this test's.
    for scenario in [
        "floor: blocking TCP echo (std::net threads), per hop",
        "floor: bare TCP echo (tokio), per hop",
        "baseline: bare tonic stream echo, per hop",
        "same-node hop (cast)",
        "same-node casts, 256 in flight",
        "same-node call round trip",
        "cross-node hop (cast, loopback gRPC)",
        "cross-node casts, 256 in flight",
        "cross-node casts to a native bouncer (no WASM), 256 in flight",
        "inter-domain hop, nodes linked directly",
        "inter-domain hop through both ε-BALs",
        "WASM cold start (compiled class)",
        "WASM first start, compiling the module",
        "WASM first start after a restart (disk cache)",
        // A thousand instances on one node start and each answers a call.
        "1000 idle instances on one node",
        "start of a 4-function chain on 3 nodes",
        "cross-node hop with mutual TLS",
        "cross-node casts with mutual TLS, 256 in flight",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("no `{scenario}` line:\n{stdout}"));
        assert!(
            line.contains("µs") || line.contains("/s") || line.contains("KiB"),
            "{line}"
        );
    }
    assert!(stdout.contains("× baseline"), "{stdout}");
    let summary = std::fs::read_to_string(format!("{prefix}bench_summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 1 + 18, "{summary}");
    let samples = std::fs::read_to_string(format!("{prefix}bench_samples.csv")).unwrap();
    // 200 timed events for each of the nine hop and call scenarios, the
    // 10 cold starts, 5 + 5 first starts and the 2 workflow starts, after
    // the header.
    assert_eq!(samples.lines().count(), 1 + 9 * 200 + 10 + 10 + 2);
}

#[test]
fn bench_mode_names_a_missing_function() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(bin("edgeless_benchmark"))
        .args(["bench", "--functions-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bounce/bounce.wasm") && stderr.contains("edgeless_cli function build"),
        "{stderr}"
    );
}

#[test]
fn the_quick_scale_run_measures_every_scenario_and_draws_its_plots() {
    build_function("noop");
    build_function("bounce");
    let out = tempfile::tempdir().unwrap();
    let prefix = format!("{}/scale-", out.path().display());
    let stdout = succeeded(
        Command::new(bin("edgeless_benchmark"))
            .args(["scale", "--quick", "--functions-dir"])
            .arg(functions_dir())
            .args(["--dataset-path", &prefix]),
    );
    for scenario in [
        "workflow start, 1 functions (edgeless_cli process)",
        "workflow start, 10 functions (edgeless_cli process)",
        "3 nodes, Random: registration of all",
        "10 nodes, LeastLoaded: function start via the orchestrator",
        "10 nodes, RoundRobin: function start via the orchestrator",
        "10 nodes: node stopped → instance running elsewhere",
        "100 idle WASM instances on one node",
        "controller with 50 workflows: edgeless_cli workflow list",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(scenario)),
            "no `{scenario}` line:\n{stdout}"
        );
    }
    let start = std::fs::read_to_string(format!("{prefix}scale_start.csv")).unwrap();
    let sizes: Vec<&str> = start
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(sizes, ["1", "10"], "{start}");
    let nodes = std::fs::read_to_string(format!("{prefix}scale_nodes.csv")).unwrap();
    let counts: Vec<&str> = nodes
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(counts, ["3", "10"], "{nodes}");
    for plot in ["scale_start.png", "scale_nodes.png"] {
        let png = std::fs::read(format!("{prefix}{plot}")).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{plot} is not a PNG");
        assert!(
            png.len() > 10_000,
            "{plot} is nearly empty: {} bytes",
            png.len()
        );
    }
}

#[test]
fn the_quick_scale_run_works_with_mutual_tls_on_every_link() {
    build_function("noop");
    build_function("bounce");
    let stdout = succeeded(
        Command::new(bin("edgeless_benchmark"))
            .args(["scale", "--quick", "--tls", "--functions-dir"])
            .arg(functions_dir()),
    );
    for scenario in [
        "workflow start, 10 functions (edgeless_cli process) (mutual TLS)",
        "10 nodes, Random: registration of all (mutual TLS)",
        "10 nodes, LeastLoaded: function start via the orchestrator (mutual TLS)",
        "10 nodes: node stopped → instance running elsewhere (mutual TLS)",
        "100 idle WASM instances on one node (mutual TLS)",
        "controller with 50 workflows: edgeless_cli workflow list (mutual TLS)",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(scenario)),
            "no `{scenario}` line:\n{stdout}"
        );
    }
}
