//! Every gRPC link over TLS with mutual authentication: the controller, the
//! orchestrator, two nodes and the CLI each present a certificate of the
//! cluster CA (from `edgeless_cli tls generate`); ping-pong runs across the
//! nodes. A client with a certificate of another CA, a node's certificate
//! used as a client, and a plain-text client, are refused.

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
    // The CLI does not trust the cluster's server certificate.
    assert_eq!(stranger.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&stranger.stderr);
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
    // The controller does not trust a client certificate of another CA,
    // even from a client that trusts the controller.
    let intruder = cli_with(
        &cluster,
        &format!(
            "{url}\n[tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            cluster.dir().join("certs/ca.pem").display(),
            certs.join("other.pem").display(),
            certs.join("other.key").display()
        ),
        &["workflow", "list"],
    );
    let stderr = String::from_utf8_lossy(&intruder.stderr);
    assert_eq!(intruder.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("is the [tls] cert signed by the cluster's CA?"),
        "{stderr}"
    );
    let plain = cli_with(
        &cluster,
        &url.replace("https://", "http://"),
        &["workflow", "list"],
    );
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert_eq!(plain.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("does the server use TLS?"), "{stderr}");
    // A node's certificate of the cluster CA is a node, not a client: the
    // workflow API refuses it.
    let node_cert = cluster.dir().join("certs");
    let as_node = cli_with(
        &cluster,
        &format!(
            "{url}\n[tls]\nca_cert = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
            node_cert.join("ca.pem").display(),
            node_cert.join("node.pem").display(),
            node_cert.join("node.key").display()
        ),
        &["workflow", "list"],
    );
    let stderr = String::from_utf8_lossy(&as_node.stderr);
    assert_eq!(as_node.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("node `node` may not call /edgeless_api.WorkflowInstance/List"),
        "{stderr}"
    );
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

/// Runs `binary -c config` (it must not start); returns its stderr.
fn refused_config(binary: &str, config: &std::path::Path) -> String {
    let output = Command::new(bin(binary))
        .arg("-c")
        .arg(config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{binary}: {stderr}");
    stderr
}

#[test]
fn bad_certificate_files_and_mixed_schemes_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    let generated = Command::new(bin("edgeless_cli"))
        .args(["tls", "generate"])
        .arg(&certs)
        .args(["--names", "node,other"])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let pem = |name: &str| certs.join(name).display().to_string();
    let written = std::cell::Cell::new(0);
    let node = |urls: &str, ca: &str, cert: &str, key: &str| {
        written.set(written.get() + 1);
        let path = dir.path().join(format!("node{}.toml", written.get()));
        std::fs::write(
            &path,
            format!(
                "[general]\n{urls}\n[tls]\nca_cert = \"{ca}\"\ncert = \"{cert}\"\nkey = \"{key}\"\n"
            ),
        )
        .unwrap();
        path
    };
    let tls_urls = "agent_url = \"https://127.0.0.1:0\"\ninvocation_url = \"https://127.0.0.1:0\"\nnode_register_url = \"https://127.0.0.1:9\"";
    let missing = dir.path().join("absent.pem").display().to_string();
    let cases = [
        (
            node(tls_urls, &missing, &pem("node.pem"), &pem("node.key")),
            format!("[tls] ca_cert = {missing:?}: No such file"),
        ),
        (
            node(tls_urls, &pem("ca.pem"), &not_pem.display().to_string(), &pem("node.key")),
            format!("[tls] cert = {:?}: is not a PEM file", not_pem.display().to_string()),
        ),
        (
            node(tls_urls, &pem("ca.pem"), &pem("node.pem"), &pem("other.key")),
            "do cert and key match?".to_string(),
        ),
        (
            node(
                "agent_url = \"https://127.0.0.1:0\"\ninvocation_url = \"https://127.0.0.1:0\"\nnode_register_url = \"http://127.0.0.1:9\"",
                &pem("ca.pem"),
                &pem("node.pem"),
                &pem("node.key"),
            ),
            "node_register_url = \"http://127.0.0.1:9\": [tls] is configured, so every gRPC URL must be https://".to_string(),
        ),
    ];
    for (config, expected) in cases {
        let stderr = refused_config("edgeless_node_d", &config);
        assert!(
            stderr.contains(&expected),
            "expected {expected:?}:\n{stderr}"
        );
    }
    // Without [tls], an https URL is refused too.
    let plain = dir.path().join("plain.toml");
    std::fs::write(
        &plain,
        "controller_url = \"https://127.0.0.1:0\"\ndomain_register_url = \"http://127.0.0.1:0\"\ndashboard_url = \"\"\n",
    )
    .unwrap();
    let stderr = refused_config("edgeless_con_d", &plain);
    assert!(
        stderr.contains(
            "controller_url = \"https://127.0.0.1:0\": an https:// URL needs the [tls] section"
        ),
        "{stderr}"
    );
}
