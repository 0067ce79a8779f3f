//! Ping-pong across two node processes: calls flow between nodes, and
//! `workflow stop` stops both instances.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, example};

#[test]
fn ping_pong_flows_across_two_nodes_and_stops() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(2).round_robin().start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    assert_eq!(cluster.workflow_ids(), vec![workflow.clone()]);

    let instances = cluster.instances(&workflow);
    let node_of = |name: &str| {
        let (_, list) = instances
            .iter()
            .find(|(n, _)| n == name)
            .expect("component listed");
        list[0].0.clone()
    };
    let (ping_node, pong_node) = (node_of("pinger"), node_of("ponger"));
    assert_ne!(
        ping_node, pong_node,
        "round-robin puts the two functions on two nodes"
    );
    let ping = &cluster.nodes[cluster.node_index(&ping_node)];
    let pong = &cluster.nodes[cluster.node_index(&pong_node)];

    cluster.wait_for(
        Duration::from_secs(20),
        "three pings answered across nodes",
        |_| {
            pong.log().contains("pong: PING #3 from")
                && ping.log().contains("ping: PING #3 answered PONG")
        },
    );

    cluster.cli_ok(&["workflow", "stop", &workflow]);
    cluster.wait_for(Duration::from_secs(10), "both instances to stop", |_| {
        ping.log().contains("ping: stopped after") && pong.log().contains("pong: stopped")
    });
    assert!(cluster.workflow_ids().is_empty());
    // No ping after stop: the nodes run nothing, and pong saw no ping
    // beyond the last one ping sent.
    cluster.wait_until_idle();
    let sent: u64 = ping
        .log()
        .split("ping: stopped after ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .expect("ping logged how many it sent");
    let seen = pong
        .log()
        .lines()
        .filter_map(|l| {
            l.split("pong: PING #")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    assert!(seen <= sent, "pong saw PING #{seen}, ping sent {sent}");

    let again = cluster.cli(&["workflow", "stop", &workflow]);
    assert_eq!(
        again.code(),
        Some(3),
        "stopping twice: {}",
        again.stderr_text()
    );
}
