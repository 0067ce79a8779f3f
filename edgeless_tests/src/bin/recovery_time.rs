//! Measures how long a workflow stops flowing when the node running one of
//! its functions is killed: from the kill to the next answered ping, for
//! several refresh periods (the lease is two periods; 2 s is the default
//! period).
//!
//! `cargo build --release --bins && target/release/recovery_time [RUNS]`

use std::time::{Duration, Instant};

use edgeless_tests::{Cluster, build_function, count, eventually, example_in};

fn measure(refresh_sec: u64) -> Duration {
    let mut cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .refresh_sec(refresh_sec)
        .start();
    let dir = tempfile::tempdir().expect("temp dir");
    let id = cluster.cli_ok(&[
        "workflow",
        "start",
        &example_in(dir.path(), "ping_pong", &[("period=1000", "period=50")]),
    ]);
    let ping = cluster.node_index(&cluster.nodes_of(&id, "pinger")[0]);
    let pong = cluster.node_index(&cluster.nodes_of(&id, "ponger")[0]);
    assert_ne!(ping, pong, "round-robin placement puts them apart");
    assert!(eventually(Duration::from_secs(20), || cluster.nodes[ping]
        .log()
        .contains("answered PONG")));
    let before = count(&cluster.nodes[ping].log(), "answered PONG");
    let killed = Instant::now();
    cluster.nodes[pong].kill();
    let flowing = eventually(Duration::from_secs(60), || {
        count(&cluster.nodes[ping].log(), "answered PONG") > before
    });
    assert!(flowing, "the workflow did not recover:\n{}", cluster.logs());
    killed.elapsed()
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    build_function("ping");
    build_function("pong");
    println!("refresh_s lease_s median_recovery_s runs");
    for refresh in [1, 2, 4] {
        let mut times: Vec<f64> = (0..runs).map(|_| measure(refresh).as_secs_f64()).collect();
        times.sort_by(f64::total_cmp);
        println!(
            "{refresh} {} {:.2} {:?}",
            2 * refresh,
            times[times.len() / 2],
            times
        );
    }
}
