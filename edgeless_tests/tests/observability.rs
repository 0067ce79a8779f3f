//! What operators see of running daemons: structured logs.

use std::process::{Command, Stdio};
use std::time::Duration;

use edgeless_tests::{bin, eventually};

/// Starts `binary` with `args` and `env` (its URLs on port 0, nothing kept)
/// until it listens; returns what it logged.
fn log_of(binary: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let listening = dir.path().join("listening.toml");
    let log = dir.path().join("log");
    let mut child = Command::new(bin(binary))
        .args(args)
        .arg("--listening-file")
        .arg(&listening)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let listens = eventually(Duration::from_secs(30), || listening.exists());
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(listens, "{binary} did not start:\n{text}");
    text
}

#[test]
fn daemons_write_json_log_lines_when_asked() {
    let controller_env = [
        ("EDGELESS_CONTROLLER_URL", "http://127.0.0.1:0"),
        ("EDGELESS_DOMAIN_REGISTER_URL", "http://127.0.0.1:0"),
        ("EDGELESS_DATA_DIR", ""),
        ("EDGELESS_DASHBOARD_URL", ""),
    ];
    let by_flag = log_of("edgeless_con_d", &["--log-format", "json"], &controller_env);
    let by_variable = log_of(
        "edgeless_con_d",
        &[],
        &[
            controller_env.as_slice(),
            &[("EDGELESS_LOG_FORMAT", "json")],
        ]
        .concat(),
    );
    for log in [by_flag, by_variable] {
        let lines: Vec<&str> = log.lines().collect();
        assert!(!lines.is_empty());
        for line in &lines {
            let value: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(
                value["level"].is_string() && value["timestamp"].is_string(),
                "{line}"
            );
        }
        assert!(
            lines
                .iter()
                .any(|l| l.contains("\"message\":\"controller started\"")),
            "{log}"
        );
        // The settings taken from the environment are logged too.
        assert!(log.contains("EDGELESS_CONTROLLER_URL"), "{log}");
    }
    let text = log_of("edgeless_con_d", &[], &controller_env);
    assert!(
        text.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "text by default:\n{text}"
    );
}

/// The value of the sample `name{labels…}` (labels given as `key="value"`
/// pieces that must all appear) in a Prometheus text page.
fn sample(page: &str, name: &str, labels: &[&str]) -> Option<f64> {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn get(url: &str) -> (String, String) {
    edgeless_tests::curl(&[url])
}

#[test]
fn daemons_serve_metrics_health_and_readiness() {
    edgeless_tests::build_function("ping");
    edgeless_tests::build_function("pong");
    let mut cluster = edgeless_tests::Cluster::builder()
        .nodes(1)
        .metrics()
        .start();
    let node = cluster.nodes[0].listening()["metrics_url"].clone();
    let orchestrator = cluster.orchestrator.listening()["metrics_url"].clone();
    let controller = cluster.controller.listening()["metrics_url"].clone();
    for url in [&node, &orchestrator, &controller] {
        assert_eq!(
            get(&format!("{url}/healthz")),
            ("ok\n".into(), "200".into())
        );
        assert_eq!(
            get(&format!("{url}/readyz")),
            ("ready\n".into(), "200".into())
        );
    }
    let workflow = cluster.cli_ok(&["workflow", "start", &edgeless_tests::example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "three pongs", |c| {
        edgeless_tests::count(&c.nodes[0].log(), "answered PONG") >= 3
    });
    // Counted after the log: at least what the log shows.
    let answered = edgeless_tests::count(&cluster.nodes[0].log(), "answered PONG") as f64;
    let page = get(&format!("{node}/metrics")).0;
    let workflow_label = format!("workflow=\"{workflow}\"");
    let handled = sample(
        &page,
        "edgeless_function_events_handled_total",
        &[&workflow_label, "function=\"ponger\"", "class=\"pong\""],
    );
    assert!(
        handled.is_some_and(|n| n >= answered),
        "pong handled {handled:?} < {answered}:\n{page}"
    );
    let sent = sample(
        &page,
        "edgeless_function_events_sent_total",
        &[&workflow_label, "class=\"ping\""],
    );
    assert!(
        sent.is_some_and(|n| n >= answered),
        "ping sent {sent:?} < {answered}:\n{page}"
    );
    let timed = sample(
        &page,
        "edgeless_function_handling_seconds_count",
        &[&workflow_label, "class=\"pong\""],
    );
    assert_eq!(timed, handled, "{page}");
    assert!(page.contains("edgeless_instances 2"), "{page}");

    let page = get(&format!("{orchestrator}/metrics")).0;
    assert_eq!(sample(&page, "edgeless_nodes", &[]), Some(1.0), "{page}");
    assert_eq!(
        sample(&page, "edgeless_components", &["state=\"running\""]),
        Some(2.0),
        "{page}"
    );

    let page = get(&format!("{controller}/metrics")).0;
    assert_eq!(
        sample(&page, "edgeless_workflows", &["state=\"running\""]),
        Some(1.0),
        "{page}"
    );
    assert_eq!(sample(&page, "edgeless_domains", &[]), Some(1.0), "{page}");
    let starts = sample(
        &page,
        "edgeless_grpc_request_seconds_count",
        &["method=\"/edgeless_api.WorkflowInstance/Start\""],
    );
    assert_eq!(starts, Some(1.0), "{page}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    // A stopped workflow's series leave the node's page with its instances.
    cluster.wait_for(
        Duration::from_secs(10),
        "the workflow's series gone",
        |_| !get(&format!("{node}/metrics")).0.contains(&workflow_label),
    );
}

#[test]
fn a_node_without_its_orchestrator_is_alive_but_not_ready() {
    let (_held, refused) = edgeless_tests::refused_port();
    let dir = tempfile::tempdir().unwrap();
    let listening = dir.path().join("listening.toml");
    let mut child = Command::new(bin("edgeless_node_d"))
        .arg("--listening-file")
        .arg(&listening)
        .env("EDGELESS_GENERAL_AGENT_URL", "http://127.0.0.1:0")
        .env("EDGELESS_GENERAL_INVOCATION_URL", "http://127.0.0.1:0")
        .env(
            "EDGELESS_GENERAL_NODE_REGISTER_URL",
            format!("http://127.0.0.1:{refused}"),
        )
        .env("EDGELESS_TELEMETRY_METRICS_URL", "http://127.0.0.1:0")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let listens = eventually(Duration::from_secs(30), || listening.exists());
    let text = std::fs::read_to_string(&listening).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap_or_default();
    let url = table
        .get("metrics_url")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    let health = get(&format!("{url}/healthz"));
    let ready = get(&format!("{url}/readyz"));
    let _ = child.kill();
    let _ = child.wait();
    assert!(listens, "the node did not start");
    assert_eq!(health.1, "200");
    assert_eq!(ready.1, "503", "{ready:?}");
    assert!(
        ready.0.contains("registered") || ready.0.contains("does not answer"),
        "{ready:?}"
    );
}

#[test]
fn a_metrics_port_in_use_stops_the_daemon_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = Command::new(bin("edgeless_con_d"))
        .env("EDGELESS_CONTROLLER_URL", "http://127.0.0.1:0")
        .env("EDGELESS_DOMAIN_REGISTER_URL", "http://127.0.0.1:0")
        .env("EDGELESS_DATA_DIR", "")
        .env("EDGELESS_DASHBOARD_URL", "")
        .env(
            "EDGELESS_TELEMETRY_METRICS_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "[telemetry] metrics_url = \"http://127.0.0.1:{port}\""
        )),
        "{stderr}"
    );
}

/// The services a server lists through gRPC reflection.
async fn list_services(url: &str) -> Vec<String> {
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .into_inner();
    let response = responses.message().await.unwrap().expect("an answer");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("{url}: {other:?}"),
    }
}

#[test]
fn every_grpc_server_answers_the_standard_health_check_without_credentials() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    // Tokens required everywhere: the check needs none.
    let cluster = edgeless_tests::Cluster::builder().nodes(1).tokens().start();
    let urls = [
        cluster.controller_url.clone(),
        cluster.domain_register_url.clone(),
        cluster.orchestrator_url.clone(),
        cluster.node_register_url.clone(),
        cluster.agent_urls[0].clone(),
        cluster.invocation_urls[0].clone(),
    ];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for url in urls {
        let status = runtime.block_on(async {
            let channel = tonic::transport::Endpoint::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap();
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
        });
        let status = status
            .unwrap_or_else(|e| panic!("{url}: {e}"))
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{url}");
    }
    // Reflection lists the services without credentials too (grpcurl).
    for (url, service) in [
        (&cluster.controller_url, "edgeless_api.WorkflowInstance"),
        (&cluster.agent_urls[0], "edgeless_api.FunctionLogs"),
    ] {
        let services = runtime.block_on(list_services(url));
        assert!(services.iter().any(|s| s == service), "{url}: {services:?}");
        assert!(
            services.iter().any(|s| s == "grpc.health.v1.Health"),
            "{url}: {services:?}"
        );
    }
    // Anything else still needs a token.
    let output = std::process::Command::new(bin("edgeless_cli"))
        .args([
            "--controller-url",
            &cluster.controller_url,
            "workflow",
            "list",
        ])
        .env_remove("EDGELESS_TOKEN")
        .current_dir(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "listed without a token");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("token"),
        "{output:?}"
    );
}

#[test]
fn nodes_count_traffic_per_peer_and_the_orchestrator_counts_restarts() {
    for function in ["ping", "pong", "misbehave"] {
        edgeless_tests::build_function(function);
    }
    let mut cluster = edgeless_tests::Cluster::builder()
        .nodes(2)
        .round_robin()
        .max_restarts(1)
        .metrics()
        .start();
    let dir = tempfile::tempdir().unwrap();
    let spec =
        edgeless_tests::example_in(dir.path(), "ping_pong", &[("period=1000", "period=100")]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let ping_node = cluster.nodes_of(&workflow, "pinger")[0].clone();
    let pong_node = cluster.nodes_of(&workflow, "ponger")[0].clone();
    assert_ne!(ping_node, pong_node);
    let metrics_urls: Vec<String> = (0..2)
        .map(|i| cluster.nodes[i].listening()["metrics_url"].clone())
        .collect();
    let orchestrator = cluster.orchestrator.listening()["metrics_url"].clone();
    let metrics_of = |node: &str| {
        let url = &metrics_urls[cluster.node_index(node)];
        get(&format!("{url}/metrics")).0
    };
    let ping = cluster.node_index(&ping_node);
    cluster.wait_for(Duration::from_secs(20), "five pongs", |c| {
        edgeless_tests::count(&c.nodes[ping].log(), "answered PONG") >= 5
    });
    let answered = edgeless_tests::count(&cluster.nodes[ping].log(), "answered PONG") as f64;
    // Every call went to the pong node, and every reply came back from it.
    let to_pong = format!("peer=\"{pong_node}\"");
    let page = metrics_of(&ping_node);
    let sent = sample(
        &page,
        "edgeless_dataplane_peer_events_sent_total",
        &[&to_pong],
    );
    assert!(
        sent.is_some_and(|n| n >= answered),
        "{sent:?} < {answered}:\n{page}"
    );
    let bytes = sample(
        &page,
        "edgeless_dataplane_peer_bytes_sent_total",
        &[&to_pong],
    );
    assert!(
        bytes.is_some_and(|b| b >= answered * 6.0),
        "{bytes:?}:\n{page}"
    );
    let received = sample(
        &page,
        "edgeless_dataplane_peer_events_received_total",
        &[&to_pong],
    );
    assert!(
        received.is_some_and(|n| n >= answered),
        "{received:?}:\n{page}"
    );
    assert_eq!(
        sample(
            &page,
            "edgeless_dataplane_peer_events_refused_total",
            &[&to_pong]
        ),
        Some(0.0),
        "{page}"
    );
    assert!(
        sample(&page, "edgeless_dataplane_peer_queue_depth", &[&to_pong]).is_some(),
        "{page}"
    );
    let from_ping = format!("peer=\"{ping_node}\"");
    let page = metrics_of(&pong_node);
    let received = sample(
        &page,
        "edgeless_dataplane_peer_events_received_total",
        &[&from_ping],
    );
    assert!(
        received.is_some_and(|n| n >= answered),
        "{received:?}:\n{page}"
    );
    let memory = sample(&page, "edgeless_node_memory_bytes", &[]);
    assert!(memory.is_some_and(|m| m > 1e6), "{memory:?}:\n{page}");

    // A function that panics at once is restarted once, then given up on.
    let spec = edgeless_tests::example_in(dir.path(), "misbehave", &[("mode=loop", "mode=panic")]);
    let failing = cluster.cli_ok(&["workflow", "start", &spec, "--name", "panics"]);
    let restarts = || {
        let page = get(&format!("{orchestrator}/metrics")).0;
        sample(
            &page,
            "edgeless_function_restarts_total",
            &[&format!("workflow=\"{failing}\""), "function=\"spinner\""],
        )
    };
    cluster.wait_for(Duration::from_secs(30), "the given up event", |c| {
        c.cli_ok(&["events", "--workflow", &failing])
            .contains("instance-gave-up")
    });
    assert_eq!(restarts(), Some(1.0));
}
