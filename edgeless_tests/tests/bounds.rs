//! Requests that try to exhaust a daemon by their size: messages beyond the
//! limits of `edgeless_api::limits` and a `max_instances` beyond its cap are
//! refused with the reason, and the cluster keeps running workflows.

use std::time::Duration;

use edgeless_api::limits::{MAX_CONTROL_MESSAGE, MAX_DATAPLANE_MESSAGE};
use edgeless_api::proto::*;
use edgeless_tests::{Cluster, build_function, example, example_in};

fn channel(url: &str) -> edgeless_api::client::Channel {
    edgeless_api::client::channel(url).unwrap()
}

fn too_large<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>) {
    match result {
        Err(status)
            if status.code() == tonic::Code::OutOfRange
                && status.message().contains("too large") => {}
        other => panic!("{what}: expected OUT_OF_RANGE (too large), got {other:?}"),
    }
}

#[test]
fn oversized_messages_are_refused_and_the_daemons_keep_serving() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let huge_code = vec![0u8; MAX_CONTROL_MESSAGE + 1];
        let mut workflows =
            workflow_instance_client::WorkflowInstanceClient::new(channel(&cluster.controller_url))
                .max_encoding_message_size(usize::MAX);
        let workflow = SpawnWorkflowRequest {
            workflow_functions: vec![WorkflowFunction {
                name: "f".into(),
                class_spec: Some(FunctionClassSpecification {
                    function_class_id: "f".into(),
                    function_class_type: "RUST_WASM".into(),
                    function_class_version: "0.1".into(),
                    function_class_code: huge_code,
                    function_class_outputs: Vec::new(),
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        too_large(
            "a workflow beyond the message limit",
            workflows.start(workflow).await,
        );
        let mut registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ))
        .max_encoding_message_size(usize::MAX);
        let bloated = UpdateNodeRequest {
            node_id: uuid::Uuid::new_v4().to_string(),
            synced_states: vec![SyncedState {
                state_id: "x".into(),
                state: vec![0u8; MAX_CONTROL_MESSAGE + 1],
            }],
            ..Default::default()
        };
        too_large(
            "a registration beyond the message limit",
            registration.update_node(bloated).await,
        );
        let mut invocation = function_invocation_client::FunctionInvocationClient::new(channel(
            &cluster.invocation_urls[0],
        ))
        .max_encoding_message_size(usize::MAX);
        let event = Event {
            target: Some(edgeless_api::InstanceId::new(uuid::Uuid::new_v4()).into()),
            source: Some(edgeless_api::InstanceId::none().into()),
            payload: vec![0u8; MAX_DATAPLANE_MESSAGE + 1].into(),
            ..Default::default()
        };
        too_large(
            "an event beyond the message limit",
            invocation.handle(event).await,
        );
    });
    // Everything still works.
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn max_instances_beyond_the_cap_is_refused_with_the_value() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    for value in ["257", "18446744073709551615"] {
        let spec = example_in(
            dir.path(),
            "ping_pong",
            &[(
                "\"annotations\": {}",
                &format!("\"annotations\": {{ \"max_instances\": \"{value}\" }}"),
            )],
        );
        let output = cluster.cli(&["workflow", "start", &spec]);
        assert_ne!(output.code(), Some(0), "{value} was accepted");
        let stderr = output.stderr_text();
        assert!(
            stderr.contains(&format!(
                "max_instances = \"{value}\": at most 256 instances"
            )),
            "{stderr}"
        );
    }
    // The orchestrator is unharmed.
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn a_silent_node_is_turned_away_without_holding_up_the_orchestrator() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    // Accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime.block_on(async {
        let mut registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        let fake = UpdateNodeRequest {
            node_id: uuid::Uuid::new_v4().to_string(),
            agent_url: format!("http://127.0.0.1:{port}"),
            invocation_url: format!("http://127.0.0.1:{port}"),
            refresh_deadline: edgeless_api::now_secs() + 10,
            nonce: 1,
            ..Default::default()
        };
        registration
            .update_node(fake)
            .await
            .unwrap()
            .into_inner()
            .error
    });
    assert!(error.contains("no answer to reset"), "{error}");
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
