//! Container functions against a real dockerd: WASM and container functions
//! exchange events both ways; a missing image, a container that never
//! serves, one that exits at once, one killed while running, a node killed
//! and restarted, and an unreachable daemon each give a clear error or a
//! reported failure, and no container is left behind.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeless_tests::docker::{build_container_image, containers_of, docker, require_docker};
use edgeless_tests::{Cluster, bin, build_function, count, eventually, example_in};

/// Everything the example needs, built.
fn build_example() {
    for function in ["ping", "counter", "double", "noop"] {
        build_function(function);
    }
    build_container_image("pong");
    build_container_image("incr");
}

fn all_containers(cluster: &Cluster) -> Vec<String> {
    cluster
        .node_ids
        .iter()
        .flat_map(|id| containers_of(id))
        .collect()
}

fn node_logs(cluster: &Cluster) -> String {
    cluster.nodes.iter().map(|n| n.log()).collect()
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn wasm_and_container_functions_exchange_events_and_leave_nothing_behind() {
    require_docker();
    build_example();
    let cluster = Cluster::builder()
        .nodes(2)
        .round_robin()
        .containers()
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "container", &[]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(
        Duration::from_secs(30),
        "calls into a container and casts through one",
        |c| {
            let logs = node_logs(c);
            // WASM ping calls the container pong, whose reply comes back;
            // the container's log lines reach the node's log.
            logs.contains("ping: PING #2 answered PONG")
                && logs.contains("pong: PING #2 from")
                // WASM counter → container incr → WASM double.
                && logs.contains("incr: 2 -> 3")
                && logs.contains("double: 3 -> 6")
        },
    );
    assert_eq!(
        all_containers(&cluster).len(),
        2,
        "one container per container function"
    );
    // `workflow logs` has the container's lines: those it logs through the
    // platform and what it prints.
    let logs = cluster.cli_ok(&["workflow", "logs", &workflow, "--function", "ponger"]);
    assert!(logs.contains("] pong: PING #2 from"), "{logs}");
    assert!(
        logs.contains("] edgeless container function: serving on 0.0.0.0:"),
        "{logs}"
    );
    // Each container got the limits its annotations ask for, or the node's
    // defaults (256 MiB, one CPU).
    for (image, memory_mb, nano_cpus) in [
        ("edgeless-pong", 64, 500_000_000),
        ("edgeless-incr", 256, 1_000_000_000),
    ] {
        let container = container_of(&cluster, image);
        let limits = docker(&[
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}",
            &container,
        ]);
        assert_eq!(
            limits.trim(),
            format!("{} {nano_cpus}", memory_mb << 20),
            "{image}"
        );
        // Hardened: nobody, no capabilities, no privilege gain, read-only
        // root, a process limit.
        let hardening = docker(&[
            "inspect",
            "--format",
            "{{.Config.User}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.PidsLimit}} {{.HostConfig.NetworkMode}}",
            &container,
        ]);
        assert_eq!(
            hardening.trim(),
            "65534:65534 [ALL] [no-new-privileges:true] true 256 edgeless-guests",
            "{image}"
        );
    }
    // Their network has no route off the host and no traffic between
    // containers: they reach the node's host service at its gateway.
    let network = docker(&[
        "network",
        "inspect",
        "edgeless-guests",
        "--format",
        "{{.Internal}} {{index .Options \"com.docker.network.bridge.enable_icc\"}}",
    ]);
    assert_eq!(network.trim(), "true false");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    let gone = eventually(Duration::from_secs(15), || {
        all_containers(&cluster).is_empty()
    });
    assert!(
        gone,
        "containers left after stop: {:?}",
        all_containers(&cluster)
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn a_container_reaches_its_node_and_no_other_service_of_the_host() {
    require_docker();
    let image = build_container_image("misbehave");
    let cluster = Cluster::builder().nodes(1).containers().start();
    // A service of the host, listening on every address.
    let other = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let gateway = docker(&[
        "network",
        "inspect",
        "edgeless-guests",
        "--format",
        "{{(index .IPAM.Config 0).Gateway}}",
    ]);
    let target = format!("{}:{}", gateway.trim(), other.local_addr().unwrap().port());
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("connect.json");
    let workflow = serde_json::json!({
        "functions": [{
            "name": "prober",
            "class_specification": {
                "id": "misbehave", "function_type": "CONTAINER", "version": "0.1",
                "code": image, "outputs": []
            },
            "output_mapping": {},
            "annotations": { "init-payload": format!("mode=connect,target={target}") }
        }],
        "resources": [],
        "annotations": {}
    });
    std::fs::write(&spec, workflow.to_string()).unwrap();
    let workflow = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    // The function's log lines reach the node: it reaches the host service.
    let line = format!("misbehave: connect to {target}: ");
    cluster.wait_for(Duration::from_secs(30), "the connection attempt", |c| {
        c.nodes[0].log().contains(&line)
    });
    let log = cluster.nodes[0].log();
    assert!(
        log.contains(&format!("{line}failed")),
        "the container reached another service of the host:\n{log}"
    );
    assert!(
        other.accept().is_err(),
        "the other service got a connection from the container"
    );
    assert!(
        log.contains("containers reach only the host service on this host"),
        "{log}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// Starts the example with its `ponger` image replaced; returns the CLI's
/// error output (the start must fail).
fn start_fails(cluster: &Cluster, image: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(
        dir.path(),
        "container",
        &[("\"edgeless-pong\"", &format!("\"{image}\""))],
    );
    let output = cluster.cli(&["workflow", "start", &spec]);
    assert_ne!(output.code(), Some(0), "{image} must not start");
    output.stderr_text()
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn failed_starts_are_explained_and_leave_no_container() {
    require_docker();
    build_example();
    // Images derived from the real pong: one listens on the wrong port (never
    // ready), one exits at once with a message.
    let work = tempfile::tempdir().unwrap();
    for (tag, env) in [
        ("edgeless-test-deaf", "EDGELESS_GUEST_PORT=9999"),
        ("edgeless-test-exits", "EDGELESS_GUEST_PORT=notaport"),
    ] {
        let dockerfile = work.path().join(tag);
        std::fs::write(&dockerfile, format!("FROM edgeless-pong\nENV {env}\n")).unwrap();
        docker(&[
            "build",
            "-q",
            "-t",
            tag,
            "-f",
            &dockerfile.display().to_string(),
            &work.path().display().to_string(),
        ]);
    }
    let cluster = Cluster::builder().nodes(1).containers().start();

    let missing = start_fails(&cluster, "edgeless-no-such-image");
    assert!(
        missing.contains("image `edgeless-no-such-image` is not on this node"),
        "{missing}"
    );
    // Only the node's allowed images run (default `edgeless-*`), even when
    // they are on the node.
    let foreign = start_fails(&cluster, "hello-world");
    assert!(
        foreign.contains("image `hello-world` is not allowed on this node"),
        "{foreign}"
    );
    let deaf = start_fails(&cluster, "edgeless-test-deaf");
    assert!(
        deaf.contains("did not serve the function interface on port 7101 within 5s"),
        "{deaf}"
    );
    let exits = start_fails(&cluster, "edgeless-test-exits");
    assert!(
        exits.contains("exited with code 2 before it served the function interface")
            && exits.contains("is not a port"),
        "{exits}"
    );
    let left = eventually(Duration::from_secs(10), || {
        all_containers(&cluster).is_empty()
    });
    assert!(
        left,
        "containers left after failed starts: {:?}",
        all_containers(&cluster)
    );
    // The node is fine: a good workflow runs.
    let spec = example_in(work.path(), "container", &[]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(30), "the good workflow", |c| {
        node_logs(c).contains("ping: PING #1 answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// The running container of `image` on any node of the cluster.
fn container_of(cluster: &Cluster, image: &str) -> String {
    cluster
        .node_ids
        .iter()
        .map(|node| {
            docker(&[
                "ps",
                "--filter",
                &format!("label=edgeless.node={node}"),
                "--filter",
                &format!("ancestor={image}"),
                "--format",
                "{{.ID}}",
            ])
            .trim()
            .to_string()
        })
        .find(|id| !id.is_empty())
        .unwrap_or_default()
}

/// The container of the `ponger` function.
fn ponger_container(cluster: &Cluster) -> String {
    container_of(cluster, "edgeless-pong")
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn a_crashed_container_is_restarted_and_a_restarted_node_cleans_up() {
    require_docker();
    build_example();
    let mut cluster = Cluster::builder()
        .nodes(1)
        .refresh_sec(1)
        .containers()
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(dir.path(), "container", &[]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(30), "the first pong", |c| {
        node_logs(c).contains("answered PONG")
    });

    // A crash from outside: the node reports it, the orchestrator restarts it.
    let first = ponger_container(&cluster);
    docker(&["kill", &first]);
    let killed_at = Instant::now();
    cluster.wait_for(
        Duration::from_secs(30),
        "the killed container to be replaced",
        |c| {
            let replaced = ponger_container(c);
            !replaced.is_empty() && replaced != first
        },
    );
    let answered = count(&cluster.nodes[0].log(), "answered PONG");
    cluster.wait_for(Duration::from_secs(30), "pongs again", |c| {
        count(&c.nodes[0].log(), "answered PONG") > answered + 1
    });
    eprintln!(
        "container crash → answered again: {:?}",
        killed_at.elapsed()
    );
    let log = cluster.nodes[0].log();
    assert!(
        log.contains("container function failed") && log.contains("exited with code 137"),
        "{log}"
    );
    assert!(
        cluster
            .orchestrator
            .log()
            .contains("instance failed; restarting after back-off"),
        "{}",
        cluster.orchestrator.log()
    );

    // kill -9 the node: its containers outlive it; the restarted node removes
    // them before it takes new work.
    let before = containers_of(&cluster.node_ids[0]);
    assert_eq!(before.len(), 2, "{before:?}");
    cluster.nodes[0].kill();
    assert_eq!(
        containers_of(&cluster.node_ids[0]),
        before,
        "containers outlive a killed node"
    );
    cluster.restart_node(0);
    cluster.wait_for(
        Duration::from_secs(30),
        "the old containers to be removed",
        |c| {
            let now = containers_of(&c.node_ids[0]);
            before.iter().all(|old| !now.contains(old))
        },
    );
    cluster.wait_for(
        Duration::from_secs(30),
        "pongs from the restarted node",
        |c| c.nodes[0].log().contains("answered PONG"),
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    let gone = eventually(Duration::from_secs(15), || {
        containers_of(&cluster.node_ids[0]).is_empty()
    });
    assert!(
        gone,
        "containers left after stop: {:?}\n{}",
        containers_of(&cluster.node_ids[0]),
        cluster.logs()
    );
}

#[test]
fn a_node_refuses_to_start_when_docker_does_not_answer() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(
        &config,
        "[general]\nagent_url = \"http://127.0.0.1:0\"\ninvocation_url = \"http://127.0.0.1:0\"\n\
         [container_runtime]\nenabled = true\ndocker_socket = \"/nonexistent/docker.sock\"\n",
    )
    .unwrap();
    let mut child = Command::new(bin("edgeless_node_d"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let exited = eventually(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = child.kill();
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(exited, "the node must exit");
    assert!(!output.status.success());
    assert!(
        stderr.contains("Docker does not answer on /nonexistent/docker.sock")
            && stderr.contains("[container_runtime] enabled = false"),
        "{stderr}"
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn a_container_over_its_memory_limit_is_killed_and_reported() {
    require_docker();
    build_function("misbehave");
    let image = build_container_image("misbehave");
    let cluster = Cluster::builder()
        .nodes(1)
        .max_restarts(1)
        .containers()
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(
        dir.path(),
        "misbehave",
        &[
            ("mode=loop", "mode=alloc"),
            ("\"RUST_WASM\"", "\"CONTAINER\""),
            (
                &format!(
                    "\"{}/misbehave/misbehave.wasm\"",
                    edgeless_tests::functions_dir().display()
                ),
                &format!("\"{image}\""),
            ),
        ],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(
        Duration::from_secs(60),
        "the container to be killed for its memory and given up on",
        |c| {
            let view = c.cli_ok(&["domain", "view", &c.domain_id]);
            view.contains("failed: killed: out of memory (raise max_memory_mb)")
                && view.contains("(gave up after 1 restarts)")
        },
    );
    // It was the 16 MiB of the annotation: it held less than that.
    let log = node_logs(&cluster);
    let held = log
        .lines()
        .filter_map(|l| {
            l.split("misbehave: holding ")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u32>()
                .ok()
        })
        .max()
        .unwrap_or(0);
    assert!((1..16).contains(&held), "held {held} MiB:\n{log}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    let gone = eventually(Duration::from_secs(15), || {
        all_containers(&cluster).is_empty()
    });
    assert!(gone, "containers left: {:?}", all_containers(&cluster));
}

/// The ids of the networks named exactly `name`.
fn networks_named(name: &str) -> Vec<String> {
    docker(&[
        "network",
        "ls",
        "--no-trunc",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Name}} {{.ID}}",
    ])
    .lines()
    .filter_map(|line| line.split_once(' '))
    .filter(|(n, _)| *n == name)
    .map(|(_, id)| id.to_string())
    .collect()
}

/// Creates network `name` through the API without Docker's duplicate
/// check, as nodes starting at the same moment can.
fn create_unchecked(name: &str) {
    let output = Command::new("curl")
        .args([
            "-sf",
            "--unix-socket",
            "/var/run/docker.sock",
            "-H",
            "Content-Type: application/json",
            "-d",
            &format!(r#"{{"Name":"{name}","CheckDuplicate":false,"Internal":true}}"#),
            "http://localhost/networks/create",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn a_guest_network_made_twice_is_made_one_again_by_the_next_node() {
    require_docker();
    let name = format!("edgeless-test-{}", std::process::id());
    /// Removes every network of the name, also when the test fails.
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            for id in networks_named(&self.0) {
                let _ = Command::new("docker").args(["network", "rm", &id]).output();
            }
        }
    }
    let _cleanup = Cleanup(name.clone());
    create_unchecked(&name);
    create_unchecked(&name);
    assert_eq!(networks_named(&name).len(), 2, "Docker kept both");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let engine = edgeless_node::runtime::container::Engine::connect("/var/run/docker.sock")
            .await
            .unwrap();
        // Nodes starting at once, each making sure of the network.
        let all = futures::future::join_all((0..4).map(|_| engine.ensure_network(&name))).await;
        for result in all {
            result.unwrap();
        }
    });
    assert_eq!(networks_named(&name).len(), 1);
}
