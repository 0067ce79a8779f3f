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
                    function_class_code: huge_code.into(),
                    function_class_outputs: Vec::new(),
                    function_class_code_key: String::new(),
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
            // Pong's annotations (the workflow's own stay empty).
            &[(
                "\"output_mapping\": {},\n      \"annotations\": {}",
                &format!(
                    "\"output_mapping\": {{}},\n      \"annotations\": {{ \"max_instances\": \"{value}\" }}"
                ),
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
    assert!(error.contains("no answer to a reset"), "{error}");
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn a_node_that_stops_answering_holds_up_only_the_requests_sent_to_it() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder()
        .nodes(2)
        .labels(1, &["frozen"])
        .node_lease_sec(120)
        .start();
    let (frozen_dir, live_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // Both functions of a ping-pong workflow with `annotation`, in `dir`.
    let pinned = |dir: &std::path::Path, annotation: &str| {
        let pong = format!("\"output_mapping\": {{}},\n      \"annotations\": {{{annotation}}}");
        let ping =
            format!("\"annotations\": {{ \"init-payload\": \"period=1000\", {annotation} }}");
        example_in(
            dir,
            "ping_pong",
            &[
                ("\"output_mapping\": {},\n      \"annotations\": {}", &pong),
                (
                    "\"annotations\": { \"init-payload\": \"period=1000\" }",
                    &ping,
                ),
            ],
        )
    };
    let to_frozen = pinned(frozen_dir.path(), r#""label_match_all": "frozen""#);
    let to_live = pinned(
        live_dir.path(),
        &format!(r#""node_id_match_any": "{}""#, cluster.node_ids[0]),
    );
    // The node keeps its lease and its port, and answers nothing.
    cluster.nodes[1].signal("STOP");
    std::thread::scope(|scope| {
        let frozen_start =
            scope.spawn(|| cluster.cli(&["workflow", "start", &to_frozen, "--name", "frozen"]));
        // The start waiting for the frozen node does not hold up another
        // workflow's start, nor the domain view.
        std::thread::sleep(Duration::from_millis(500));
        let live = cluster.cli_ok(&["workflow", "start", &to_live, "--name", "live"]);
        cluster.cli_ok(&["domain", "view"]);
        cluster.wait_for(Duration::from_secs(10), "pongs of the live workflow", |c| {
            c.node_logs().contains("answered PONG")
        });
        assert!(
            !frozen_start.is_finished(),
            "the start sent to the frozen node should still be waiting for it"
        );
        cluster.cli_ok(&["workflow", "stop", &live]);
        cluster.nodes[1].signal("CONT");
        let output = frozen_start.join().unwrap();
        if output.code() == Some(0) {
            cluster.cli_ok(&["workflow", "stop", output.stdout_text().trim()]);
        }
    });
}

/// `code` with a custom section of `padding` bytes appended (a valid module
/// that runs as before, only larger).
fn padded(mut code: Vec<u8>, padding: usize) -> Vec<u8> {
    fn leb128(mut value: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let name = b"padding";
    let mut payload = Vec::new();
    leb128(name.len(), &mut payload);
    payload.extend_from_slice(name);
    payload.resize(payload.len() + padding, 0);
    code.push(0);
    leb128(payload.len(), &mut code);
    code.extend_from_slice(&payload);
    code
}

#[test]
fn many_functions_sharing_one_large_module_fit_in_one_request() {
    // 700 functions of a 100 KiB module: 70 MB if each carried its code,
    // beyond the 64 MiB a control message may have; the module travels
    // once.
    let code = padded(std::fs::read(build_function("noop")).unwrap(), 100 << 10);
    let functions = 700;
    assert!(functions * code.len() > MAX_CONTROL_MESSAGE);
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("noop_padded.wasm");
    std::fs::write(&module, &code).unwrap();
    let function = |i: usize| {
        format!(
            r#"{{ "name": "f{i}", "class_specification": {{ "id": "noop", "function_type": "RUST_WASM",
                "version": "0.1", "code": "{}", "outputs": [] }}, "output_mapping": {{}}, "annotations": {{}} }}"#,
            module.display()
        )
    };
    let all: Vec<String> = (0..functions).map(function).collect();
    let spec = dir.path().join("many.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{}], "resources": [], "annotations": {{}} }}"#,
            all.join(",")
        ),
    )
    .unwrap();
    let workflow = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    let list = cluster.cli_ok(&["workflow", "list", "-o", "json"]);
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["functions"], functions, "{list}");
    assert_eq!(list[0]["state"], "running", "{list}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn the_cli_refuses_a_workflow_beyond_the_message_limit_and_says_why() {
    let noop = std::fs::read(build_function("noop")).unwrap();
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    // Two modules of 33 MiB: each file fits in a request, both do not.
    let half = MAX_CONTROL_MESSAGE / 2 + (1 << 20);
    let function = |name: &str, padding: usize| {
        let module = dir.path().join(format!("{name}.wasm"));
        std::fs::write(&module, padded(noop.clone(), padding)).unwrap();
        format!(
            r#"{{ "name": "{name}", "class_specification": {{ "id": "noop",
                "function_type": "RUST_WASM", "version": "0.1", "code": "{}", "outputs": [] }},
                "output_mapping": {{}}, "annotations": {{}} }}"#,
            module.display()
        )
    };
    let spec = dir.path().join("huge.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{}, {}], "resources": [], "annotations": {{}} }}"#,
            function("a", half),
            function("b", half + 1)
        ),
    )
    .unwrap();
    // One file larger than any request is not even read whole.
    let single = dir.path().join("single.json");
    std::fs::write(
        &single,
        format!(
            r#"{{ "functions": [{}], "resources": [], "annotations": {{}} }}"#,
            function("huge", MAX_CONTROL_MESSAGE)
        ),
    )
    .unwrap();
    let refused = |spec: &std::path::Path, reason: &str| {
        let output = cluster.cli(&["workflow", "start", spec.to_str().unwrap()]);
        assert_ne!(output.code(), Some(0));
        let stderr = output.stderr_text();
        assert!(stderr.contains(reason), "{stderr}");
    };
    refused(
        &single,
        "huge.wasm: is larger than 64 MiB, the most a request carries",
    );
    refused(&spec, "a request may have at most 64 MiB");
    // Nothing was started.
    let list = cluster.cli_ok(&["workflow", "list", "-o", "json"]);
    assert_eq!(list.trim(), "[]", "{list}");
}
