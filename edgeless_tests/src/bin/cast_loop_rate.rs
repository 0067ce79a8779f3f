//! Measures the two-function cast loop of `examples/cast_loop`: one event
//! bouncing between two WASM instances, on one node and across two node
//! processes. Prints events (hops) per second for each.
//!
//! `cargo build --release --bins && target/release/cast_loop_rate [SECONDS]`

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, example};

/// The time stamp (seconds) and count of each `bounce: N events` line.
fn reports(log: &str) -> Vec<(f64, u64)> {
    log.lines()
        .filter_map(|line| {
            let count = line
                .split("bounce: ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()?;
            let stamp = line.split_whitespace().next()?;
            let time = stamp.split('T').nth(1)?.trim_end_matches('Z');
            let mut parts = time.split(':');
            let (h, m, s): (f64, f64, f64) = (
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
                parts.next()?.parse().ok()?,
            );
            Some((h * 3600.0 + m * 60.0 + s, count))
        })
        .collect()
}

fn measure(nodes: usize, seconds: u64) -> f64 {
    let cluster = Cluster::builder().nodes(nodes).round_robin().start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("cast_loop")]);
    std::thread::sleep(Duration::from_secs(seconds));
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    // Each instance logs its own count; take the instance with most reports.
    let best = cluster
        .nodes
        .iter()
        .flat_map(|n| {
            let log = n.log();
            let mut by_instance: std::collections::HashMap<String, String> = Default::default();
            for line in log
                .lines()
                .filter(|l| l.contains("bounce: ") && l.contains(" events"))
            {
                let instance = line
                    .split("instance=")
                    .nth(1)
                    .unwrap_or("")
                    .split(' ')
                    .next()
                    .unwrap_or("");
                by_instance
                    .entry(instance.to_string())
                    .or_default()
                    .push_str(&format!("{line}\n"));
            }
            by_instance.into_values().collect::<Vec<_>>()
        })
        .map(|lines| reports(&lines))
        .max_by_key(|r| r.len())
        .unwrap_or_default();
    // Skip the first report (warm-up) and measure to the last one.
    let (Some(first), Some(last)) = (best.get(1), best.last()) else {
        panic!("not enough reports; logs:\n{}", cluster.logs());
    };
    // Every event one instance receives is one hop; the other instance
    // receives as many, so the loop makes twice as many hops.
    2.0 * (last.1 - first.1) as f64 / (last.0 - first.0)
}

fn main() {
    let seconds = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    build_function("bounce");
    let same_node = measure(1, seconds);
    println!(
        "cast loop, same node:    {same_node:>10.0} events/s ({:.1} µs per hop)",
        1e6 / same_node
    );
    let two_nodes = measure(2, seconds);
    println!(
        "cast loop, across nodes: {two_nodes:>10.0} events/s ({:.1} µs per hop)",
        1e6 / two_nodes
    );
}
