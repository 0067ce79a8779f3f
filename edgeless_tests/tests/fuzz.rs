//! Robustness against malformed input, with deterministic random inputs (so
//! a failure can be replayed): mutated configuration files through every
//! daemon's parser, and random requests to every gRPC handler of a running
//! controller, orchestrator and node — varying sizes and counts too (code
//! beyond the message limit, maps of hundreds of entries, workflows of a
//! thousand functions). Nothing may panic or hang; afterwards the cluster
//! still runs a workflow.

use std::collections::HashMap;
use std::time::Duration;

use edgeless_api::proto::{self, *};
use edgeless_tests::{Cluster, build_function, example};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random string: often a valid UUID or URL, often garbage.
fn text(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => String::new(),
        1 => uuid::Uuid::new_v4().to_string(),
        2 => format!("http://127.0.0.1:{}", rng.random_range(1..65535u32)),
        3 => "http://[::1".into(),
        4 => "\u{0}\u{ffff}é☃".repeat(rng.random_range(1..50)),
        5 => "x".repeat(rng.random_range(0..100_000)),
        6 => "RUST_WASM".into(),
        _ => (0..rng.random_range(0..40))
            .map(|_| rng.random_range(0x20u8..0x7f) as char)
            .collect(),
    }
}

fn bytes(rng: &mut StdRng) -> Vec<u8> {
    // Now and then far more than any limit allows.
    let size = match rng.random_range(0..200) {
        0 => edgeless_api::limits::MAX_CONTROL_MESSAGE + rng.random_range(1..4096),
        1 => rng.random_range(1 << 20..8 << 20),
        _ => rng.random_range(0..2048),
    };
    let mut data = vec![0u8; size];
    rng.fill(data.as_mut_slice());
    if rng.random_bool(0.3) {
        data.splice(0..0, *b"\0asm\x01\0\0\0");
    }
    data
}

fn map(rng: &mut StdRng) -> HashMap<String, String> {
    let entries = if rng.random_ratio(1, 25) {
        rng.random_range(60..400)
    } else {
        rng.random_range(0..4)
    };
    (0..entries)
        .map(|_| {
            let key = match rng.random_range(0..4) {
                0 => "max_instances".to_string(),
                1 => "max_memory_mb".to_string(),
                2 => "node_id_match_any".to_string(),
                _ => text(rng),
            };
            (key, text(rng))
        })
        .collect()
}

fn instance(rng: &mut StdRng) -> proto::InstanceId {
    proto::InstanceId {
        node_id: text(rng),
        function_id: text(rng),
    }
}

fn class(rng: &mut StdRng) -> FunctionClassSpecification {
    FunctionClassSpecification {
        function_class_id: text(rng),
        function_class_type: text(rng),
        function_class_version: text(rng),
        function_class_code: bytes(rng).into(),
        function_class_outputs: vec![text(rng)],
        function_class_code_key: text(rng),
    }
}

fn spawn_function(rng: &mut StdRng) -> SpawnFunctionRequest {
    SpawnFunctionRequest {
        component_id: text(rng),
        code: rng.random_bool(0.8).then(|| class(rng)),
        annotations: map(rng),
        workflow_id: text(rng),
        state_id: text(rng),
        serialized_state: rng.random_bool(0.5).then(|| bytes(rng)),
        function_name: text(rng),
    }
}

fn patch(rng: &mut StdRng) -> PatchRequest {
    PatchRequest {
        component_id: text(rng),
        output_mapping: (0..rng.random_range(0..3))
            .map(|_| {
                let list = InstanceIdList {
                    instances: (0..rng.random_range(0..3)).map(|_| instance(rng)).collect(),
                };
                (text(rng), list)
            })
            .collect(),
        inputs: (0..rng.random_range(0..3)).map(|_| instance(rng)).collect(),
        inputs_only: rng.random_bool(0.5),
        generation: rng.random(),
    }
}

fn resource(rng: &mut StdRng) -> ResourceInstanceSpecification {
    ResourceInstanceSpecification {
        component_id: text(rng),
        class_type: ["file-log", "redis", "http-egress", "nonsense"][rng.random_range(0..4)].into(),
        configuration: map(rng),
        workflow_id: text(rng),
    }
}

fn workflow(rng: &mut StdRng) -> SpawnWorkflowRequest {
    let functions = if rng.random_ratio(1, 40) {
        rng.random_range(900..1200)
    } else {
        rng.random_range(0..4)
    };
    SpawnWorkflowRequest {
        workflow_functions: (0..functions)
            .map(|_| WorkflowFunction {
                name: text(rng),
                class_spec: rng.random_bool(0.9).then(|| {
                    if functions > 100 {
                        // Many functions, each small: counts, not bytes.
                        FunctionClassSpecification {
                            function_class_id: text(rng),
                            function_class_type: "RUST_WASM".into(),
                            function_class_code: b"\0asm\x01\0\0\0".to_vec().into(),
                            ..Default::default()
                        }
                    } else {
                        class(rng)
                    }
                }),
                output_mapping: map(rng),
                annotations: map(rng),
            })
            .collect(),
        workflow_resources: (0..rng.random_range(0..2))
            .map(|_| WorkflowResource {
                name: text(rng),
                class_type: text(rng),
                output_mapping: map(rng),
                configurations: map(rng),
            })
            .collect(),
        annotations: map(rng),
        name: text(rng),
        allow_duplicate: rng.random_bool(0.5),
        // A code table whose keys rarely match their code.
        codes: (0..rng.random_range(0..3))
            .map(|_| Code {
                key: text(rng),
                code: bytes(rng).into(),
            })
            .collect(),
    }
}

/// How each handler answered: accepted, refused (by status code).
#[derive(Default)]
struct Outcomes(std::collections::BTreeMap<&'static str, (usize, HashMap<tonic::Code, usize>)>);

impl Outcomes {
    /// Calls `request` with a deadline (a hang fails the test) and counts
    /// the answer; a refusal must say why.
    async fn answered<T>(
        &mut self,
        what: &'static str,
        request: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) {
        let answer = tokio::time::timeout(Duration::from_secs(20), request)
            .await
            .unwrap_or_else(|_| panic!("{what} did not answer"));
        let entry = self.0.entry(what).or_default();
        match answer {
            Ok(_) => entry.0 += 1,
            Err(status) => {
                assert!(
                    !status.message().trim().is_empty(),
                    "{what} refused without a reason: {status:?}"
                );
                *entry.1.entry(status.code()).or_default() += 1;
            }
        }
    }
}

fn channel(url: &str) -> edgeless_api::client::Channel {
    edgeless_api::client::channel(url).unwrap()
}

#[test]
fn random_requests_to_every_handler_are_answered_and_break_nothing() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let workflow_url = cluster.controller_url.clone();
    let domain_url = cluster.domain_register_url.clone();
    let orchestrator_url = cluster.orchestrator_url.clone();
    let register_url = cluster.node_register_url.clone();
    let agent_url = cluster.agent_urls[0].clone();
    let invocation_url = cluster.invocation_urls[0].clone();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let requests = runtime.block_on(async {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let mut workflows =
            workflow_instance_client::WorkflowInstanceClient::new(channel(&workflow_url));
        let mut domains =
            domain_registration_client::DomainRegistrationClient::new(channel(&domain_url));
        let mut orc_functions =
            function_instance_client::FunctionInstanceClient::new(channel(&orchestrator_url));
        let mut orc_resources = resource_configuration_client::ResourceConfigurationClient::new(
            channel(&orchestrator_url),
        );
        let mut inspection =
            domain_inspection_client::DomainInspectionClient::new(channel(&orchestrator_url));
        let mut registration =
            node_registration_client::NodeRegistrationClient::new(channel(&register_url));
        let mut node_functions =
            function_instance_client::FunctionInstanceClient::new(channel(&agent_url));
        let mut node_resources =
            resource_configuration_client::ResourceConfigurationClient::new(channel(&agent_url));
        let mut management = node_management_client::NodeManagementClient::new(channel(&agent_url));
        let mut invocation =
            function_invocation_client::FunctionInvocationClient::new(channel(&invocation_url));
        let mut outcomes = Outcomes::default();
        for round in 0..150 {
            let id = ComponentId {
                component_id: text(&mut rng),
            };
            outcomes
                .answered("controller Start", workflows.start(workflow(&mut rng)))
                .await;
            outcomes
                .answered(
                    "controller Stop",
                    workflows.stop(WorkflowId {
                        workflow_id: text(&mut rng),
                    }),
                )
                .await;
            outcomes
                .answered(
                    "controller Inspect",
                    workflows.inspect(WorkflowId {
                        workflow_id: text(&mut rng),
                    }),
                )
                .await;
            outcomes
                .answered(
                    "controller DomainView",
                    workflows.domain_view(DomainId {
                        domain_id: text(&mut rng),
                    }),
                )
                .await;
            outcomes
                .answered(
                    "controller UpdateDomain",
                    domains.update_domain(UpdateDomainRequest {
                        // Never the real domain's id: that would replace it.
                        domain_id: format!("fuzz-{}", text(&mut rng)),
                        orchestrator_url: text(&mut rng),
                        capabilities: None,
                        refresh_deadline: rng.random(),
                        counter: rng.random(),
                        nonce: rng.random(),
                        link_token: text(&mut rng),
                        balancer_url: text(&mut rng),
                        balancer_healthy: rng.random(),
                    }),
                )
                .await;
            outcomes
                .answered(
                    "orchestrator Start",
                    orc_functions.start(spawn_function(&mut rng)),
                )
                .await;
            outcomes
                .answered("orchestrator Stop", orc_functions.stop(id.clone()))
                .await;
            outcomes
                .answered("orchestrator Patch", orc_functions.patch(patch(&mut rng)))
                .await;
            outcomes
                .answered(
                    "orchestrator resource Start",
                    orc_resources.start(resource(&mut rng)),
                )
                .await;
            outcomes
                .answered(
                    "orchestrator Migrate",
                    inspection.migrate(MigrateRequest {
                        logical_id: text(&mut rng),
                        node_ids: vec![text(&mut rng)],
                    }),
                )
                .await;
            if round % 10 == 0 {
                // A node that cannot be reached; the orchestrator refuses it.
                outcomes
                    .answered(
                        "orchestrator UpdateNode",
                        registration.update_node(UpdateNodeRequest {
                            node_id: text(&mut rng),
                            agent_url: format!("http://127.0.0.1:{}", rng.random_range(1..1024u32)),
                            invocation_url: text(&mut rng),
                            refresh_deadline: rng.random(),
                            nonce: rng.random(),
                            ..Default::default()
                        }),
                    )
                    .await;
            }
            outcomes
                .answered("node Start", node_functions.start(spawn_function(&mut rng)))
                .await;
            outcomes
                .answered("node Stop", node_functions.stop(id.clone()))
                .await;
            outcomes
                .answered("node Patch", node_functions.patch(patch(&mut rng)))
                .await;
            outcomes
                .answered(
                    "node resource Start",
                    node_resources.start(resource(&mut rng)),
                )
                .await;
            outcomes
                .answered(
                    "node UpdatePeers",
                    management.update_peers(UpdatePeersRequest {
                        request_type: rng.random_range(-1..3),
                        node_id: text(&mut rng),
                        invocation_url: text(&mut rng),
                        link_token: text(&mut rng),
                    }),
                )
                .await;
            outcomes
                .answered(
                    "node Handle",
                    invocation.handle(Event {
                        target: rng.random_bool(0.9).then(|| instance(&mut rng)),
                        source: rng.random_bool(0.9).then(|| instance(&mut rng)),
                        stream_id: rng.random(),
                        event_type: rng.random_range(-1..6),
                        payload: bytes(&mut rng).into(),
                        target_bin: rng.random_bool(0.3).then(|| proto::BinaryInstanceId {
                            node_hi: rng.random(),
                            node_lo: rng.random(),
                            function_hi: rng.random(),
                            function_lo: rng.random(),
                        }),
                        source_bin: None,
                    }),
                )
                .await;
        }
        outcomes
    });
    // Every handler was reached and judged what it got: it refused garbage
    // with a reason, and something got through somewhere.
    let mut accepted = 0;
    for (handler, (ok, refused)) in &requests.0 {
        eprintln!("{handler}: {ok} accepted, refused {refused:?}");
        accepted += ok;
    }
    assert_eq!(requests.0.len(), 17, "every handler was called");
    assert!(accepted > 0, "nothing was ever accepted");
    // Everyone is alive, nothing panicked, and a real workflow runs.
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(
        Duration::from_secs(20),
        "ping-pong after the fuzzing",
        |c| c.nodes[0].log().contains("answered PONG"),
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    let logs = cluster.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

/// Deterministic mutations of a text: byte flips, cuts, duplicated and
/// swapped lines, junk inserted.
fn mutate(rng: &mut StdRng, text: &str) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..6) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.random_range(0..bytes.len());
        match rng.random_range(0..5) {
            0 => bytes[at] = rng.random(),
            1 => bytes.truncate(at),
            2 => {
                let junk: Vec<u8> = [
                    "[",
                    "]",
                    "=",
                    "\"",
                    "\n[general]\n",
                    "99999999999999999999",
                    "-1",
                    "{}",
                    "'''",
                ][rng.random_range(0..9)]
                .bytes()
                .collect();
                bytes.splice(at..at, junk);
            }
            3 => {
                let copy = bytes[at..].to_vec();
                bytes.extend(copy);
            }
            _ => {
                bytes.remove(at);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One leaf value of `table` replaced by another, mostly of the same type.
fn mutate_value(rng: &mut StdRng, table: &mut toml::Table) {
    let keys: Vec<String> = table.keys().cloned().collect();
    if keys.is_empty() {
        return;
    }
    let key = &keys[rng.random_range(0..keys.len())];
    let value = table.get_mut(key).expect("a key of the table");
    match value {
        toml::Value::Table(inner) if rng.random_bool(0.9) => mutate_value(rng, inner),
        toml::Value::String(_) => {
            *value = toml::Value::String(
                [
                    "",
                    "http://127.0.0.1:0",
                    "http://[::1",
                    "not-a-uuid",
                    "Random",
                    "x",
                ][rng.random_range(0..6)]
                .to_string(),
            )
        }
        toml::Value::Integer(_) => {
            *value = toml::Value::Integer([-1, 0, 1, i64::MAX][rng.random_range(0..4)])
        }
        toml::Value::Boolean(b) => *b = !*b,
        _ => *value = toml::Value::String("?".into()),
    }
}

#[test]
fn mutated_configuration_files_never_panic_a_parser() {
    let mut rng = StdRng::seed_from_u64(0xc0f1);
    let templates = [
        edgeless_con::config::template(),
        edgeless_orc::config::template(),
        edgeless_node::Config::template(),
    ];
    let parse = |i: usize, text: &str| -> Result<(), String> {
        match i {
            0 => toml::from_str::<edgeless_con::Config>(text).map(drop),
            1 => toml::from_str::<edgeless_orc::Config>(text).map(drop),
            _ => edgeless_node::Config::parse(text).map(drop),
        }
        .map_err(|e| e.to_string())
    };
    let rounds = 3_000;
    let (mut typed_ok, mut typed_refused, mut text_refused) = (0, 0, 0);
    for round in 0..rounds {
        for (i, template) in templates.iter().enumerate() {
            // Half the rounds mangle the text; half change values in a
            // document that stays TOML, for the typed layer to judge.
            let text = if round % 2 == 0 {
                mutate(&mut rng, template)
            } else {
                let mut table: toml::Table = toml::from_str(template).unwrap();
                mutate_value(&mut rng, &mut table);
                toml::to_string(&table).unwrap()
            };
            match parse(i, &text) {
                Ok(()) => typed_ok += 1,
                Err(error) => {
                    assert!(!error.trim().is_empty(), "a refusal without a reason");
                    if round % 2 == 0 {
                        text_refused += 1;
                    } else {
                        typed_refused += 1;
                    }
                }
            }
        }
    }
    eprintln!(
        "{} files: {typed_ok} accepted, {text_refused} mangled refused, {typed_refused} wrong values refused",
        rounds * 3
    );
    // Each layer judged a good share: mangled text refused, well-formed
    // files with wrong values refused, others accepted.
    assert!(typed_ok > rounds / 10, "{typed_ok} accepted");
    assert!(text_refused > rounds / 2, "{text_refused} mangled refused");
    assert!(
        typed_refused > rounds / 10,
        "{typed_refused} wrong values refused"
    );
}
