//! The attacks of the security review, each run against a cluster whose
//! daemons check bearer tokens, each refused: callers without a token or
//! with the wrong role, a fake orchestrator taking over a domain, a fake
//! node taking a real node's id, events injected from sources not mapped
//! to their target, one tenant reading or stopping another's workflows, and
//! an open daemon listening where other hosts reach it.

use std::time::Duration;

use edgeless_api::proto::*;
use edgeless_tests::{Cluster, bin, build_function, eventually, example};

fn channel(url: &str) -> edgeless_api::client::Channel {
    edgeless_api::client::channel(url).unwrap()
}

/// `message` presented with `token`.
fn as_holder<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn token(cluster: &Cluster, name: &str) -> String {
    std::fs::read_to_string(cluster.dir().join(format!("{name}.token"))).unwrap()
}

fn secured_cluster() -> Cluster {
    build_function("ping");
    build_function("pong");
    Cluster::builder().nodes(1).tokens().start()
}

/// The answer to `call` once its new token is taken (daemons read the
/// tokens file again within a second); until then the call is
/// `UNAUTHENTICATED`.
async fn once_accepted<T, F>(mut call: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match call().await {
            Ok(response) => return response.into_inner(),
            Err(status) if std::time::Instant::now() < deadline => {
                assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("the new token was never accepted: {status:?}"),
        }
    }
}

/// Starts ping-pong, waits for its pongs and stops it.
fn ping_pong_runs(cluster: &Cluster) {
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("pong")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// Asserts that a call was refused with `code`.
fn refused<T: std::fmt::Debug>(what: &str, result: Result<T, tonic::Status>, code: tonic::Code) {
    match result {
        Err(status) if status.code() == code => {}
        other => panic!("{what}: expected {code:?}, got {other:?}"),
    }
}

#[test]
fn callers_without_a_valid_token_are_refused_and_the_cluster_works_with_them() {
    let cluster = secured_cluster();
    // The configured client token works end to end: ping-pong runs.
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("pong")
    });
    for (token, reason) in [
        ("edgeless_0000", "unknown token"),
        ("", "this cluster needs a token"),
    ] {
        let output = cli_with_token_only(&cluster, token, &["workflow", "list"]);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(reason), "{token:?}: {stderr}");
    }
    // Every server refuses a caller without a token.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        refused(
            "node registration without a token",
            registration.update_node(UpdateNodeRequest::default()).await,
            tonic::Code::Unauthenticated,
        );
        let mut management =
            node_management_client::NodeManagementClient::new(channel(&cluster.agent_urls[0]));
        refused(
            "agent without a token",
            management.reset(Empty {}).await,
            tonic::Code::Unauthenticated,
        );
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// Runs the CLI with `EDGELESS_TOKEN` set to `token` and no token file.
fn cli_with_token_only(cluster: &Cluster, token: &str, args: &[&str]) -> std::process::Output {
    let config = cluster.dir().join("cli-no-token.toml");
    let url = &cluster.controller_url;
    std::fs::write(&config, format!("controller_url = \"{url}\"\n")).unwrap();
    std::process::Command::new(bin("edgeless_cli"))
        .arg("-c")
        .arg(&config)
        .args(args)
        .env("EDGELESS_TOKEN", token)
        .output()
        .unwrap()
}

#[test]
fn each_role_reaches_only_its_own_methods() {
    let cluster = secured_cluster();
    let (client, node, orchestrator, admin) = (
        token(&cluster, "cli"),
        token(&cluster, "node"),
        token(&cluster, "orchestrator"),
        token(&cluster, "admin"),
    );
    let denied = tonic::Code::PermissionDenied;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut workflows =
            workflow_instance_client::WorkflowInstanceClient::new(channel(&cluster.controller_url));
        // A node's or an orchestrator's token does not run the workflow API.
        for (who, token) in [("node", &node), ("orchestrator", &orchestrator)] {
            refused(
                &format!("{who} listing workflows"),
                workflows.list(as_holder(token, Empty {})).await,
                denied,
            );
        }
        workflows
            .list(as_holder(&client, Empty {}))
            .await
            .expect("a client lists workflows");

        // A client (or a node) cannot act as an orchestrator...
        let mut domains = domain_registration_client::DomainRegistrationClient::new(channel(
            &cluster.domain_register_url,
        ));
        for token in [&client, &node] {
            let fake = UpdateDomainRequest {
                domain_id: cluster.domain_id.clone(),
                orchestrator_url: "http://127.0.0.1:9".into(),
                ..Default::default()
            };
            refused(
                "fake orchestrator",
                domains.update_domain(as_holder(token, fake)).await,
                denied,
            );
        }
        // ...nor as a controller at the orchestrator, nor as a node.
        let mut orc = function_instance_client::FunctionInstanceClient::new(channel(
            &cluster.orchestrator_url,
        ));
        refused(
            "client starting a function at the orchestrator",
            orc.start(as_holder(&client, SpawnFunctionRequest::default()))
                .await,
            denied,
        );
        let mut registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        refused(
            "client registering a node",
            registration
                .update_node(as_holder(&client, UpdateNodeRequest::default()))
                .await,
            denied,
        );
        // An administrator may look at the domain directly.
        let mut inspection = domain_inspection_client::DomainInspectionClient::new(channel(
            &cluster.orchestrator_url,
        ));
        inspection
            .view(as_holder(&admin, Empty {}))
            .await
            .expect("an administrator views the domain");
        refused(
            "client viewing the domain at the orchestrator",
            inspection.view(as_holder(&client, Empty {})).await,
            denied,
        );

        // The agent takes orders from orchestrators only: no code, saved
        // states or peer redirections from anyone else.
        let agent = &cluster.agent_urls[0];
        let mut agent_functions =
            function_instance_client::FunctionInstanceClient::new(channel(agent));
        let mut management = node_management_client::NodeManagementClient::new(channel(agent));
        // Nor from an orchestrator identity's own token: only from the
        // orchestrator it registered with, holding its link credential.
        for (who, token) in [
            ("client", &client),
            ("node", &node),
            ("admin", &admin),
            ("orchestrator", &orchestrator),
        ] {
            let spawn = SpawnFunctionRequest {
                serialized_state: Some(b"stolen state".to_vec()),
                ..Default::default()
            };
            refused(
                &format!("{who} starting code on a node"),
                agent_functions.start(as_holder(token, spawn)).await,
                denied,
            );
            let redirect = UpdatePeersRequest {
                request_type: UpdatePeersRequestType::Add as i32,
                node_id: uuid::Uuid::new_v4().to_string(),
                invocation_url: "http://127.0.0.1:9".into(),
                link_token: String::new(),
            };
            refused(
                &format!("{who} redirecting a peer link"),
                management.update_peers(as_holder(token, redirect)).await,
                denied,
            );
        }
        // Likewise the orchestrator takes deployments only from the
        // controller it registered with, not from the controller's token.
        let controller = token(&cluster, "controller");
        refused(
            "the controller's own token starting a function at the orchestrator",
            orc.start(as_holder(&controller, SpawnFunctionRequest::default()))
                .await,
            denied,
        );
        refused(
            "the controller's own token viewing the domain",
            inspection.view(as_holder(&controller, Empty {})).await,
            denied,
        );

        // The dataplane: streams from nodes only; injection by admins only.
        let mut invocation = function_invocation_client::FunctionInvocationClient::new(channel(
            &cluster.invocation_urls[0],
        ));
        let event = Event {
            target: Some(edgeless_api::InstanceId::new(uuid::Uuid::new_v4()).into()),
            source: Some(edgeless_api::InstanceId::none().into()),
            ..Default::default()
        };
        for token in [&client, &orchestrator] {
            refused(
                "injecting an event",
                invocation.handle(as_holder(token, event.clone())).await,
                denied,
            );
            let batch = EventBatch {
                events: vec![event.clone()],
            };
            refused(
                "streaming events as a peer",
                invocation
                    .stream(as_holder(token, tokio_stream::iter([batch])))
                    .await,
                denied,
            );
        }
    });
}

#[test]
fn a_fake_orchestrator_cannot_take_over_a_domain() {
    let cluster = secured_cluster();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    let evil = cluster.create_token("orchestrator-evil", "default");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime.block_on(async {
        let domains = domain_registration_client::DomainRegistrationClient::new(channel(
            &cluster.domain_register_url,
        ));
        let takeover = || UpdateDomainRequest {
            domain_id: cluster.domain_id.clone(),
            orchestrator_url: "http://127.0.0.1:9".into(),
            refresh_deadline: u64::MAX,
            nonce: 7,
            ..Default::default()
        };
        once_accepted(|| {
            let (mut domains, request) = (domains.clone(), as_holder(&evil, takeover()));
            async move { domains.update_domain(request).await }
        })
        .await
        .error
    });
    assert!(
        error.contains("is registered by orchestrator `orchestrator`"),
        "{error}"
    );
    // The workflow still runs on the real domain.
    let view = cluster.cli_ok(&["-o", "json", "workflow", "list"]);
    assert!(
        view.contains(&workflow) && view.contains("running"),
        "{view}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn a_fake_node_cannot_take_a_real_nodes_id() {
    let cluster = secured_cluster();
    let evil = cluster.create_token("node-evil", "default");
    let real_id = cluster.node_ids[0].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime.block_on(async {
        let registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        let takeover = || UpdateNodeRequest {
            node_id: real_id.clone(),
            agent_url: "http://127.0.0.1:9".into(),
            invocation_url: "http://127.0.0.1:9".into(),
            refresh_deadline: u64::MAX,
            nonce: 7,
            ..Default::default()
        };
        once_accepted(|| {
            let (mut registration, request) = (registration.clone(), as_holder(&evil, takeover()));
            async move { registration.update_node(request).await }
        })
        .await
        .error
    });
    assert!(
        error.contains("is registered by node identity `node`"),
        "{error}"
    );
    // The real node still serves the domain.
    ping_pong_runs(&cluster);
}

#[test]
fn events_from_sources_not_mapped_to_the_target_are_refused() {
    let cluster = secured_cluster();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    let pong = cluster
        .instances(&workflow)
        .into_iter()
        .find(|(name, _)| name == "ponger")
        .and_then(|(_, instances)| instances.into_iter().next())
        .expect("a pong instance");
    let target = edgeless_api::InstanceId {
        node_id: pong.0.parse().unwrap(),
        function_id: pong.1.parse().unwrap(),
    };
    // A node's credentials, a source that is in no mapping to pong.
    let node = token(&cluster, "node");
    let stranger = edgeless_api::InstanceId::new(uuid::Uuid::new_v4());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut invocation = function_invocation_client::FunctionInvocationClient::new(channel(
            &cluster.invocation_urls[0],
        ));
        let batch = EventBatch {
            // The binary ids nodes send each other.
            events: vec![Event {
                target_bin: Some(target.into()),
                source_bin: Some(stranger.into()),
                stream_id: 0,
                event_type: EventType::Cast as i32,
                payload: b"injected".to_vec().into(),
                ..Default::default()
            }],
        };
        invocation
            .stream(as_holder(&node, tokio_stream::iter([batch])))
            .await
            .expect("a node may stream");
    });
    let expected = format!("{stranger} is not mapped to {target}");
    assert!(
        eventually(Duration::from_secs(10), || cluster
            .node_logs()
            .contains(&expected)),
        "no refusal logged:\n{}",
        cluster.node_logs()
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn tenants_see_and_stop_only_their_own_workflows() {
    let cluster = secured_cluster();
    let alice = cluster.create_token("alice", "acme");
    let bob = cluster.create_token("bob", "globex");
    let admin = token(&cluster, "admin");
    // New tokens are taken within a second.
    assert!(eventually(Duration::from_secs(5), || {
        cluster.cli_as(&alice, &["workflow", "list"]).code() == Some(0)
            && cluster.cli_as(&bob, &["workflow", "list"]).code() == Some(0)
    }));
    let start = |token: &str| {
        let output = cluster.cli_as(
            token,
            &[
                "workflow",
                "start",
                "--name",
                "shared",
                &example("ping_pong"),
            ],
        );
        assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
        output.stdout_text().trim().to_string()
    };
    let alices = start(&alice);
    // Names are per tenant: bob may use the same one.
    let bobs = start(&bob);
    let list = |token: &str| {
        let output = cluster.cli_as(token, &["-o", "json", "workflow", "list"]);
        assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
        output.stdout_text()
    };
    let bob_sees = list(&bob);
    assert!(
        bob_sees.contains(&bobs) && !bob_sees.contains(&alices),
        "{bob_sees}"
    );
    for args in [["workflow", "inspect"], ["workflow", "stop"]] {
        let output = cluster.cli_as(&bob, &[args[0], args[1], &alices]);
        assert_ne!(output.code(), Some(0), "bob could {}", args[1]);
        assert!(
            output.stderr_text().contains("no running workflow"),
            "{}",
            output.stderr_text()
        );
    }
    // The controller itself refuses, not only the CLI's lookup.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut workflows =
            workflow_instance_client::WorkflowInstanceClient::new(channel(&cluster.controller_url));
        let id = || WorkflowId {
            workflow_id: alices.clone(),
        };
        refused(
            "bob inspecting alice's workflow",
            workflows.inspect(as_holder(&bob, id())).await,
            tonic::Code::NotFound,
        );
        refused(
            "bob stopping alice's workflow",
            workflows.stop(as_holder(&bob, id())).await,
            tonic::Code::NotFound,
        );
        // A valid change of it, refused only because it is not bob's.
        let request = workflows
            .inspect(as_holder(&alice, id()))
            .await
            .expect("alice inspects her workflow")
            .into_inner()
            .request;
        let update = UpdateWorkflowRequest {
            workflow_id: alices.clone(),
            request,
        };
        refused(
            "bob changing alice's workflow",
            workflows.update(as_holder(&bob, update)).await,
            tonic::Code::NotFound,
        );
    });
    let admin_sees = list(&admin);
    assert!(
        admin_sees.contains(&alices) && admin_sees.contains(&bobs),
        "{admin_sees}"
    );
    assert!(admin_sees.contains("\"acme\""), "{admin_sees}");
    // Alice's workflow survived bob's attempt; alice stops it.
    let output = cluster.cli_as(&alice, &["workflow", "stop", &alices]);
    assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
    let output = cluster.cli_as(&admin, &["workflow", "stop", &bobs]);
    assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
}

#[test]
fn an_open_daemon_refuses_to_listen_where_other_hosts_reach_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("controller.toml");
    std::fs::write(
        &config,
        "controller_url = \"http://0.0.0.0:0\"\ndomain_register_url = \"http://127.0.0.1:0\"\ndashboard_url = \"\"\n",
    )
    .unwrap();
    let log = dir.path().join("refused.log");
    let mut refused_daemon = std::process::Command::new(bin("edgeless_con_d"))
        .arg("-c")
        .arg(&config)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut status = None;
    eventually(Duration::from_secs(10), || {
        status = refused_daemon.try_wait().unwrap();
        status.is_some()
    });
    if status.is_none() {
        let _ = refused_daemon.kill();
        let _ = refused_daemon.wait();
        panic!("the open controller started on 0.0.0.0");
    }
    assert_eq!(status.unwrap().code(), Some(1));
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("controller_url = \"http://0.0.0.0:0\" is reachable from other hosts"),
        "{stderr}"
    );
    // With --insecure it starts (and says where it listens).
    let listening = dir.path().join("listening.toml");
    let mut daemon = std::process::Command::new(bin("edgeless_con_d"))
        .arg("-c")
        .arg(&config)
        .arg("--insecure")
        .arg("--listening-file")
        .arg(&listening)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = eventually(Duration::from_secs(10), || listening.exists());
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(started, "the daemon did not start with --insecure");
}

/// N1: a node identity registers a node whose agent is a listener of its
/// own; the orchestrator calls it back (a reset) presenting only the
/// credential that node handed out, never the orchestrator's token. And an
/// `agent_url` pointing at a real node does not let the orchestrator reset
/// that node: the real node does not know the credential.
#[test]
fn addresses_peers_choose_never_receive_a_daemons_token() {
    let cluster = secured_cluster();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "pongs", |c| {
        c.node_logs().contains("pong")
    });
    let evil = cluster.create_token("node-evil", "default");
    let orchestrator_token = token(&cluster, "orchestrator");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let calls = runtime.block_on(async {
        let recorder = edgeless_tests::recorder::Recorder::start().await;
        let registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        let register = |agent_url: &str, link: &str| UpdateNodeRequest {
            node_id: uuid::Uuid::new_v4().to_string(),
            agent_url: agent_url.into(),
            invocation_url: "http://127.0.0.1:9".into(),
            refresh_deadline: edgeless_api::now_secs() + 30,
            nonce: 7,
            link_token: link.into(),
            ..Default::default()
        };
        // Its reset fails at the listener: the registration is answered
        // with that error, which does not matter here.
        once_accepted(|| {
            let (mut registration, request) = (
                registration.clone(),
                as_holder(&evil, register(&recorder.url, "edgeless_evil_link")),
            );
            async move { registration.update_node(request).await }
        })
        .await;
        // The same with the real node's agent as the address: the real
        // node does not know the credential and refuses the reset.
        let mut registration = registration.clone();
        let answer = registration
            .update_node(as_holder(
                &evil,
                register(&cluster.agent_urls[0], "edgeless_evil_link"),
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(
            answer
                .error
                .contains("the link credential presented is not this server's"),
            "{answer:?}"
        );
        recorder.wait_for_call(Duration::from_secs(10)).await
    });
    assert!(
        !calls.is_empty(),
        "the orchestrator never called the listener"
    );
    for call in &calls {
        assert_eq!(call.authorization, None, "{call:?}");
        assert_eq!(call.link.as_deref(), Some("edgeless_evil_link"), "{call:?}");
        assert!(
            !format!("{call:?}").contains(orchestrator_token.trim()),
            "{call:?}"
        );
    }
    // The real node logged the refusal and still runs the workflow.
    cluster.wait_for(Duration::from_secs(10), "the refused reset logged", |c| {
        c.node_logs()
            .contains("refused a link credential that is not this server's")
    });
    let before = cluster.node_logs().matches("pong").count();
    cluster.wait_for(Duration::from_secs(10), "more pongs", |c| {
        c.node_logs().matches("pong").count() > before
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// N5: every node joins with the same token; a second node process with
/// that token and a real node's id is refused while the real node runs.
#[test]
fn a_shared_join_token_does_not_let_one_node_take_anothers_id() {
    let cluster = secured_cluster();
    let shared = token(&cluster, "node");
    let real_id = cluster.node_ids[0].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let mut registration = node_registration_client::NodeRegistrationClient::new(channel(
            &cluster.node_register_url,
        ));
        let impostor = UpdateNodeRequest {
            node_id: real_id.clone(),
            agent_url: "http://127.0.0.1:9".into(),
            invocation_url: "http://127.0.0.1:9".into(),
            refresh_deadline: edgeless_api::now_secs() + 30,
            nonce: 7,
            link_token: "edgeless_impostor".into(),
            ..Default::default()
        };
        registration
            .update_node(as_holder(&shared, impostor))
            .await
            .unwrap()
            .into_inner()
    });
    assert!(
        answer
            .error
            .contains("held by another running node process"),
        "{answer:?}"
    );
    // The real node still serves the domain.
    ping_pong_runs(&cluster);
}

/// N6: the real orchestrator's identity cannot add a domain of its own
/// making beside its real one.
#[test]
fn an_orchestrator_identity_cannot_register_a_second_domain() {
    let cluster = secured_cluster();
    let orchestrator = token(&cluster, "orchestrator");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        let mut domains = domain_registration_client::DomainRegistrationClient::new(channel(
            &cluster.domain_register_url,
        ));
        let fake = UpdateDomainRequest {
            domain_id: "aaaa-fake".into(),
            orchestrator_url: "http://127.0.0.1:9".into(),
            refresh_deadline: edgeless_api::now_secs() + 30,
            nonce: 7,
            ..Default::default()
        };
        domains
            .update_domain(as_holder(&orchestrator, fake))
            .await
            .unwrap()
            .into_inner()
    });
    assert!(answer.error.contains("already holds domain"), "{answer:?}");
    let domains = cluster.cli_ok(&["domain", "list"]);
    assert!(!domains.contains("aaaa-fake"), "{domains}");
}

/// N3: a tenant owns the ingress hosts (and file-log files, Redis keys) of
/// its running workflows: another tenant's workflow that names one is
/// refused, so it cannot receive the owner's requests.
#[test]
fn a_tenant_cannot_take_another_tenants_ingress_host() {
    build_function("http_processor");
    build_function("message_generator");
    let cluster = Cluster::builder().nodes(1).tokens().resources().start();
    let alice = cluster.create_token("alice", "acme");
    let bob = cluster.create_token("bob", "globex");
    assert!(eventually(Duration::from_secs(5), || {
        cluster.cli_as(&alice, &["workflow", "list"]).code() == Some(0)
            && cluster.cli_as(&bob, &["workflow", "list"]).code() == Some(0)
    }));
    let start = |token: &str, example_name: &str| {
        let name = format!("{example_name}-{}", rand::random::<u32>());
        cluster.cli_as(
            token,
            &["workflow", "start", "--name", &name, &example(example_name)],
        )
    };
    for shape in ["http_ingress", "file_log"] {
        let alices = start(&alice, shape);
        assert_eq!(alices.code(), Some(0), "{}", alices.stderr_text());
        let bobs = start(&bob, shape);
        assert_ne!(bobs.code(), Some(0), "bob took alice's {shape} names");
        assert!(
            bobs.stderr_text()
                .contains("is used by a running workflow of another tenant"),
            "{}",
            bobs.stderr_text()
        );
        // Alice's own second workflow may share a file (a node serves an
        // ingress host to one resource at a time).
        if shape == "file_log" {
            let again = start(&alice, shape);
            assert_eq!(again.code(), Some(0), "{}", again.stderr_text());
        }
    }
}

/// N9: one client holding idle connections to a node's HTTP ingress (more
/// than the ingress serves in all) does not shut out another client.
#[test]
fn one_client_cannot_take_every_ingress_connection() {
    use std::io::{Read, Write};
    let cluster = Cluster::builder().nodes(1).resources().start();
    let url = cluster.http_ingress_url.clone().unwrap();
    let address: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    // 300 idle sockets from 127.0.0.1: more than the 256 served in all.
    let hogged: Vec<std::net::TcpStream> = (0..300)
        .filter_map(|_| std::net::TcpStream::connect(address).ok())
        .collect();
    assert!(hogged.len() >= 256, "{} connections", hogged.len());
    std::thread::sleep(Duration::from_millis(500));
    // Another client (127.0.0.2 is loopback too) is served.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&address.into()).unwrap();
    let mut other: std::net::TcpStream = socket.into();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other
        .write_all(b"GET / HTTP/1.1\r\nHost: nobody.example\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = other.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer:?}");
    drop(hogged);
}

/// N8: one identity cannot open follow streams without bound, and its
/// streams end when its token is revoked.
#[test]
fn follow_streams_are_bounded_per_identity_and_end_on_revocation() {
    let cluster = secured_cluster();
    let alice = cluster.create_token("alice", "acme");
    let bob = cluster.create_token("bob", "acme");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let workflows =
            workflow_instance_client::WorkflowInstanceClient::new(channel(&cluster.controller_url));
        let follow = |token: &str| {
            let mut client = workflows.clone();
            let request = as_holder(
                token,
                EventsRequest {
                    follow: true,
                    ..Default::default()
                },
            );
            async move { client.events(request).await }
        };
        let mut open = Vec::new();
        open.push(once_accepted(|| follow(&alice)).await);
        for _ in 1..edgeless_api::auth::streams::MAX_STREAMS_PER_IDENTITY {
            open.push(
                follow(&alice)
                    .await
                    .expect("a stream within the bound")
                    .into_inner(),
            );
        }
        refused(
            "a stream beyond the bound",
            follow(&alice).await.map(|_| ()),
            tonic::Code::ResourceExhausted,
        );
        // Another identity is not held up.
        let _bobs = once_accepted(|| follow(&bob)).await;
        // Revoked: alice's streams end.
        let output = std::process::Command::new(bin("edgeless_cli"))
            .args(["token", "revoke", "--file"])
            .arg(cluster.dir().join("tokens.toml"))
            .arg("alice")
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let mut stream = open.pop().unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.message().await {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("the stream of a revoked token ends");
        match ended {
            Err(status) => assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}"),
            Ok(None) => panic!("the stream ended without saying why"),
            Ok(Some(_)) => unreachable!(),
        }
    });
}

/// N4: a node identity cannot speak for an instance on another node (the
/// stream of a node of the domain carries only that node's events, and a
/// stream without a peer credential none of the domain's), and nodes do
/// not relay.
#[test]
fn a_node_cannot_speak_for_another_nodes_instance() {
    build_function("message_generator");
    let cluster = Cluster::builder().nodes(2).tokens().resources().start();
    let workflow = cluster.cli_ok(&["workflow", "start", &example("file_log")]);
    let file = cluster.dir().join("file-log/my-local-file.log");
    let written = || std::fs::read_to_string(&file).unwrap_or_default();
    cluster.wait_for(Duration::from_secs(30), "the generator's lines", |_| {
        written().contains("hello file")
    });
    let instance = |name: &str| {
        let (node, function) = cluster
            .instances(&workflow)
            .into_iter()
            .find(|(component, _)| component == name)
            .and_then(|(_, instances)| instances.into_iter().next())
            .unwrap();
        edgeless_api::InstanceId {
            node_id: node.parse().unwrap(),
            function_id: function.parse().unwrap(),
        }
    };
    let (generator, log) = (instance("generator"), instance("log"));
    let url_of = |node: uuid::Uuid| {
        let i = cluster
            .node_ids
            .iter()
            .position(|id| *id == node.to_string())
            .unwrap();
        cluster.invocation_urls[i].clone()
    };
    let other_node = cluster
        .node_ids
        .iter()
        .map(|id| id.parse::<uuid::Uuid>().unwrap())
        .find(|id| *id != log.node_id)
        .unwrap();
    let node = token(&cluster, "node");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let send = |url: String, target: edgeless_api::InstanceId, payload: &'static [u8]| {
            let node = node.clone();
            async move {
                let mut invocation =
                    function_invocation_client::FunctionInvocationClient::new(channel(&url));
                let batch = EventBatch {
                    events: vec![Event {
                        target_bin: Some(target.into()),
                        source_bin: Some(generator.into()),
                        stream_id: 0,
                        event_type: EventType::Cast as i32,
                        payload: payload.to_vec().into(),
                        ..Default::default()
                    }],
                };
                invocation
                    .stream(as_holder(&node, tokio_stream::iter([batch])))
                    .await
                    .expect("a node may stream");
            }
        };
        // The generator's event, forged, straight to the file-log's node...
        send(url_of(log.node_id), log, b"FORGED-DIRECT").await;
        // ...and through the other node, as a relay.
        send(url_of(other_node), log, b"FORGED-RELAYED").await;
    });
    cluster.wait_for(Duration::from_secs(10), "the refusals", |c| {
        c.node_logs().matches("event from a peer refused").count() >= 2
    });
    std::thread::sleep(Duration::from_secs(2));
    let text = written();
    assert!(!text.contains("FORGED"), "{text}");
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// N11: on a controller with tokens, the dashboard asks for one and shows a
/// client only its own tenant's workflows and events; a page of another
/// host name (DNS rebinding) is refused.
#[test]
fn the_dashboard_shows_each_tenant_its_own_workflows() {
    let mut cluster = secured_cluster();
    let dashboard = cluster.controller.listening()["dashboard_url"].clone();
    let alice = cluster.create_token("alice", "acme");
    let bob = cluster.create_token("bob", "globex");
    let admin = token(&cluster, "admin");
    assert!(eventually(Duration::from_secs(5), || {
        cluster.cli_as(&alice, &["workflow", "list"]).code() == Some(0)
            && cluster.cli_as(&bob, &["workflow", "list"]).code() == Some(0)
    }));
    let start = |token: &str, name: &str| {
        let output = cluster.cli_as(
            token,
            &["workflow", "start", "--name", name, &example("ping_pong")],
        );
        assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
        output.stdout_text().trim().to_string()
    };
    let (alices, bobs) = (start(&alice, "alice-wf"), start(&bob, "bob-wf"));
    let get = |token: Option<&str>, path: &str| {
        let url = format!("{dashboard}{path}");
        let user = token.map(|t| format!("viewer:{}", t.trim()));
        let mut args = vec![url.as_str()];
        if let Some(user) = &user {
            args.extend(["-u", user.as_str()]);
        }
        edgeless_tests::curl(&args)
    };
    let (_, code) = get(None, "/api/overview");
    assert_eq!(code, "401");
    let (_, code) = get(Some(&token(&cluster, "node")), "/api/overview");
    assert_eq!(code, "403");
    let (everything, code) = get(Some(&admin), "/api/overview");
    assert_eq!(code, "200");
    assert!(
        everything.contains(&alices) && everything.contains(&bobs),
        "{everything}"
    );
    let (own, code) = get(Some(&alice), "/api/overview");
    assert_eq!(code, "200");
    assert!(own.contains(&alices) && !own.contains(&bobs), "{own}");
    cluster.wait_for(Duration::from_secs(10), "bob's events", |_| {
        get(Some(&admin), "/api/events").0.contains(&bobs)
    });
    let (events, code) = get(Some(&alice), "/api/events");
    assert_eq!(code, "200");
    assert!(!events.contains(&bobs), "{events}");
    let rebound = format!("{dashboard}/api/overview");
    let admin_user = format!("viewer:{}", admin.trim());
    let (_, code) =
        edgeless_tests::curl(&["-u", &admin_user, "-H", "Host: evil.example", &rebound]);
    assert_eq!(code, "421");
}

/// N2: an ε-BAL takes peers and HTTP routes from its own domain's
/// orchestrator only, not from another orchestrator identity.
#[test]
fn another_orchestrator_cannot_drive_the_balancer() {
    build_function("ping");
    build_function("pong");
    let mut cluster = Cluster::builder().nodes(1).tokens().balancer().start();
    let agent = cluster.balancer.as_mut().unwrap().listening()["agent_url"].clone();
    // The cluster's token of another domain's orchestrator.
    let other = token(&cluster, "orchestrator-3");
    let own = token(&cluster, "orchestrator");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Its own orchestrator has called it by now (it resyncs every 5 s).
        tokio::time::sleep(Duration::from_secs(6)).await;
        let mut routes = balancer_routes_client::BalancerRoutesClient::new(channel(&agent));
        let hijack = HttpRoutes {
            routes: vec![HttpRoute {
                host: "shop.alice.example".into(),
                urls: vec!["http://127.0.0.1:9".into()],
            }],
        };
        let status = routes
            .set_http_routes(as_holder(&other, hijack.clone()))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
        assert!(
            status
                .message()
                .contains("bound to orchestrator `orchestrator`"),
            "{status:?}"
        );
        let mut peers = node_management_client::NodeManagementClient::new(channel(&agent));
        let redirect = UpdatePeersRequest {
            request_type: UpdatePeersRequestType::Add as i32,
            node_id: cluster.node_ids[0].clone(),
            invocation_url: "http://127.0.0.1:9".into(),
            link_token: String::new(),
        };
        refused(
            "another orchestrator redirecting the balancer's peers",
            peers.update_peers(as_holder(&other, redirect)).await,
            tonic::Code::PermissionDenied,
        );
        // Its own orchestrator still may.
        routes
            .set_http_routes(as_holder(&own, HttpRoutes::default()))
            .await
            .expect("the balancer's own orchestrator sets its routes");
    });
}
