//! The all-in-one cluster runs a workflow through its real gRPC services.

use std::time::Duration;

use edgeless_tests::{bin, build_function, eventually, example, free_port};

fn url() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[test]
fn inabox_runs_the_ping_pong_example() {
    build_function("ping");
    build_function("pong");
    let dir = tempfile::tempdir().unwrap();
    let mut layout = edgeless_inabox::Layout::new(2, 7000);
    layout.controller.controller_url = url();
    layout.controller.domain_register_url = url();
    layout.balancer.invocation_url = url();
    layout.orchestrator.general.domain_register_url = layout.controller.domain_register_url.clone();
    layout.orchestrator.general.orchestrator_url = url();
    layout.orchestrator.general.node_register_url = url();
    for node in &mut layout.nodes {
        node.general.agent_url = url();
        node.general.invocation_url = url();
        node.general.node_register_url = layout.orchestrator.general.node_register_url.clone();
    }
    let cli = dir.path().join("cli.toml");
    std::fs::write(
        &cli,
        format!(
            "controller_url = \"{}\"\n",
            layout.controller.controller_url
        ),
    )
    .unwrap();
    layout.write(dir.path()).unwrap();

    let log = std::fs::File::create(dir.path().join("inabox.log")).unwrap();
    let mut inabox = std::process::Command::new(bin("edgeless_inabox"))
        .arg("--config-path")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(dir.path().join("inabox.log")).unwrap_or_default();
    let run = |args: &[&str]| {
        std::process::Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(&cli)
            .args(args)
            .output()
            .unwrap()
    };
    let joined = eventually(Duration::from_secs(30), || {
        String::from_utf8_lossy(&run(&["domain", "list"]).stdout).contains("(2 nodes)")
    });
    let started = joined.then(|| run(&["workflow", "start", &example("ping_pong")]));
    let flowing = started.as_ref().is_some_and(|o| o.status.success())
        && eventually(Duration::from_secs(20), || {
            read_log().contains("ping: PING #2 answered PONG")
        });
    let _ = inabox.kill();
    let _ = inabox.wait();
    assert!(
        flowing,
        "ping-pong did not flow in the box:\n{}",
        read_log()
    );
}
