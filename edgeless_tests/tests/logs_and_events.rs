//! Function logs and cluster events through the control plane, against
//! real processes: `workflow logs` gathers the lines of every node and
//! follows a function across a node kill; `events` tells what happened.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use edgeless_tests::{Cluster, bin, build_function, count, example_in};

/// A CLI command that keeps printing (`-f`), its lines collected as they
/// come.
struct Follower {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Follower {
    fn start(cluster: &Cluster, args: &[&str]) -> Self {
        let mut child = Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(cluster.dir().join("cli.toml"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("edgeless_cli runs");
        let lines = Arc::<Mutex<Vec<String>>>::default();
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The instance prefixes (`[ponger 1a2b3c4d]`) of `function`'s lines.
fn instances_of(text: &str, function: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&format!("[{function} "))
            && let Some((instance, _)) = rest.split_once(']')
            && !seen.iter().any(|s| s == instance)
        {
            seen.push(instance.to_string());
        }
    }
    seen
}

#[test]
fn workflow_logs_gather_every_node_and_follow_a_function_across_a_node_kill() {
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::builder().nodes(2).round_robin().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "ping_pong", &[("period=1000", "period=200")]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let pong_node = cluster.nodes_of(&workflow, "ponger")[0].clone();
    assert_ne!(pong_node, cluster.nodes_of(&workflow, "pinger")[0]);

    // Both functions' lines, from both nodes, each with its function and
    // instance.
    cluster.wait_for(Duration::from_secs(20), "lines of both functions", |c| {
        let logs = c.cli_ok(&["workflow", "logs", "ping_pong"]);
        logs.contains("answered PONG") && logs.contains("pong: PING")
    });
    let logs = cluster.cli_ok(&["workflow", "logs", "ping_pong"]);
    assert!(
        logs.lines()
            .all(|l| l.starts_with("[pinger ") || l.starts_with("[ponger ")),
        "{logs}"
    );
    let only_pong = cluster.cli_ok(&["workflow", "logs", "ping_pong", "--function", "ponger"]);
    assert!(
        only_pong.lines().all(|l| l.starts_with("[ponger ")),
        "{only_pong}"
    );
    assert!(only_pong.contains("pong: started as"), "{only_pong}");
    let tail = cluster.cli_ok(&["workflow", "logs", &workflow, "--tail", "3"]);
    assert_eq!(tail.lines().count(), 3, "{tail}");
    std::thread::sleep(Duration::from_secs(2));
    let recent = cluster.cli_ok(&[
        "workflow",
        "logs",
        &workflow,
        "--since",
        "1",
        "--timestamps",
    ]);
    assert!(recent.contains("pong: PING"), "{recent}");
    assert!(!recent.contains("started as"), "{recent}");
    assert!(recent.starts_with("20"), "{recent}");

    // Follow pong; kill its node; the re-created instance's lines come.
    let mut follower = Follower::start(
        &cluster,
        &["workflow", "logs", &workflow, "--function", "ponger", "-f"],
    );
    cluster.wait_for(
        Duration::from_secs(10),
        "the follower's first lines",
        |_| follower.text().contains("pong: PING"),
    );
    let before = instances_of(&follower.text(), "ponger");
    assert_eq!(before.len(), 1, "{}", follower.text());
    let victim = cluster.node_index(&pong_node);
    cluster.nodes[victim].kill();
    cluster.wait_for(
        Duration::from_secs(30),
        "lines of the re-created pong in the same follow",
        |_| {
            let text = follower.text();
            instances_of(&text, "ponger").len() == 2 && count(&text, "pong: PING") > 3
        },
    );
    assert!(follower.running(), "-f keeps following");
    let text = follower.text();
    assert_eq!(count(&text, "pong: started as"), 2, "{text}");

    // What happened is in the events, in order.
    let events = cluster.cli_ok(&["events", "--workflow", "ping_pong"]);
    let kinds: Vec<&str> = events
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    let position = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("no {kind} in\n{events}"))
    };
    assert!(
        position("workflow-started") < position("instance-re-created"),
        "{events}"
    );
    assert!(
        position("instance-started") < position("instance-re-created"),
        "{events}"
    );
    assert!(events.contains("component=ponger"), "{events}");
    let all = cluster.cli_ok(&["events", "-o", "json"]);
    for kind in ["domain-registered", "node-joined", "node-lost"] {
        assert!(
            all.contains(&format!("\"kind\":\"{kind}\"")),
            "{kind} in\n{all}"
        );
    }
    let lost: serde_json::Value = all
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["kind"] == "node-lost")
        .unwrap();
    assert_eq!(lost["node"], pong_node.as_str(), "{lost}");
    assert_eq!(lost["source"], "domain domain-test", "{lost}");

    // `events -f` prints the stop as it happens.
    let mut events = Follower::start(&cluster, &["events", "-f", "--tail", "1"]);
    cluster.wait_for(Duration::from_secs(10), "the last event", |_| {
        !events.text().is_empty()
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    cluster.wait_for(Duration::from_secs(10), "the stop followed", |_| {
        events.text().contains("workflow-stopped")
    });
    assert!(events.running());
}

#[test]
fn logs_of_an_unknown_workflow_are_a_clear_error() {
    let cluster = Cluster::builder().nodes(1).start();
    for given in ["no-such-workflow", "0b7e3a3c-7a0f-4a8b-9a55-6bd0e5e4c6f1"] {
        let output = cluster.cli(&["workflow", "logs", given]);
        assert_eq!(output.code(), Some(3), "{}", output.stderr_text());
        assert!(
            output.stderr_text().contains(given),
            "{}",
            output.stderr_text()
        );
    }
}
