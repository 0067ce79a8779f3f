//! Every gRPC link over TLS with mutual authentication: the controller, the
//! orchestrator, two nodes and the CLI each present a certificate of the
//! cluster CA (from `edgeless_cli tls generate`); ping-pong runs across the
//! nodes. A client with a certificate of another CA, and a plain-text
//! client, are refused.

use std::process::Command;
use std::time::Duration;

use edgeless_tests::{Cluster, bin, build_function, count, example};

/// Runs the CLI with a configuration of its own.
fn cli_with(cluster: &Cluster, config: &str, args: &[&str]) -> std::process::Output {
    let path = cluster.dir().join("other-cli.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(bin("edgeless_cli"))
        .arg("-c")
        .arg(&path)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn every_link_runs_over_mutual_tls_and_strangers_are_refused() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(2).round_robin().tls().start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs across TLS links", |c| {
        c.nodes
            .iter()
            .map(|n| count(&n.log(), "answered PONG"))
            .sum::<usize>()
            >= 2
    });
    let nodes = cluster.nodes_of(&workflow, "pinger");
    assert_ne!(nodes, cluster.nodes_of(&workflow, "ponger"), "across nodes");

    let url = std::fs::read_to_string(cluster.dir().join("cli.toml"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("controller_url"))
        .unwrap()
        .to_string();
    assert!(url.contains("https://"), "{url}");
    let certs = cluster.dir().join("certs-other");
    let stranger = cli_with(
        &cluster,
        &format!(
            "{url}\n[tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            certs.join("ca.pem").display(),
            certs.join("other.pem").display(),
            certs.join("other.key").display()
        ),
        &["workflow", "list"],
    );
    assert!(
        !stranger.status.success(),
        "a certificate of another CA is refused"
    );
    let plain = cli_with(
        &cluster,
        &url.replace("https://", "http://"),
        &["workflow", "list"],
    );
    assert!(!plain.status.success(), "plain text is refused");
    let no_tls = cli_with(&cluster, &url, &["workflow", "list"]);
    assert!(!no_tls.status.success());
    let stderr = String::from_utf8_lossy(&no_tls.stderr);
    assert!(stderr.contains("an https URL needs TLS"), "{stderr}");

    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn container_functions_talk_to_a_tls_node_over_an_encrypted_link() {
    edgeless_tests::docker::require_docker();
    for function in ["ping", "counter", "double", "noop"] {
        build_function(function);
    }
    for image in ["pong", "incr"] {
        edgeless_tests::docker::build_container_image(image);
    }
    let cluster = Cluster::builder().nodes(1).tls().containers().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = edgeless_tests::example_in(dir.path(), "container", &[]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(30), "events both ways over TLS", |c| {
        let log = c.nodes[0].log();
        log.contains("ping: PING #2 answered PONG") && log.contains("incr: 2 -> 3")
    });
    let containers = edgeless_tests::docker::containers_of(&cluster.node_ids[0]);
    assert_eq!(containers.len(), 2);
    let node_key = std::fs::read_to_string(cluster.dir().join("certs/node.key")).unwrap();
    let node_key_body = node_key.lines().nth(1).unwrap();
    for container in &containers {
        let env = edgeless_tests::docker::docker(&[
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            container,
        ]);
        assert!(env.contains("EDGELESS_HOST_URL=https://"), "{env}");
        assert!(
            env.contains("EDGELESS_TLS_CERT=-----BEGIN CERTIFICATE"),
            "{env}"
        );
        assert!(
            !env.contains(node_key_body),
            "the node's own key never enters a container"
        );
    }
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
