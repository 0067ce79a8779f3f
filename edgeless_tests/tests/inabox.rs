//! The all-in-one cluster runs a workflow through its real gRPC services.

use std::time::Duration;

use edgeless_tests::{bin, build_function, eventually, example};

#[test]
fn inabox_runs_the_ping_pong_example() {
    build_function("ping");
    build_function("pong");
    let dir = tempfile::tempdir().unwrap();
    // Port 0 everywhere: every component takes a port the system chooses,
    // the controller's included.
    let layout = edgeless_inabox::Layout::new(2, 0);
    layout.write(dir.path()).unwrap();
    let listening = dir.path().join("listening.toml");
    let log = std::fs::File::create(dir.path().join("inabox.log")).unwrap();
    let inabox = std::process::Command::new(bin("edgeless_inabox"))
        .arg("--config-path")
        .arg(dir.path())
        .arg("--listening-file")
        .arg(&listening)
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .unwrap();
    let mut inabox = edgeless_tests::KillOnDrop(inabox);
    let read_log = || std::fs::read_to_string(dir.path().join("inabox.log")).unwrap_or_default();
    let reported = eventually(Duration::from_secs(30), || listening.exists());
    let text = std::fs::read_to_string(&listening).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let controller = table
        .get("controller")
        .and_then(|c| c.get("controller_url"))
        .and_then(|u| u.as_str())
        .map(str::to_string);
    let Some(controller) = controller.filter(|_| reported) else {
        panic!("no controller URL in {text:?}:\n{}", read_log());
    };
    assert!(!controller.ends_with(":0"), "{controller}");
    let cli = dir.path().join("cli.toml");
    std::fs::write(&cli, format!("controller_url = \"{controller}\"\n")).unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(&cli)
            .args(args)
            .output()
            .unwrap()
    };
    let joined = eventually(Duration::from_secs(30), || {
        String::from_utf8_lossy(&run(&["domain", "list", "-o", "json"]).stdout)
            .contains("\"num_nodes\": 2")
    });
    let started = joined.then(|| run(&["workflow", "start", &example("ping_pong")]));
    let flowing = started.as_ref().is_some_and(|o| o.status.success())
        && eventually(Duration::from_secs(20), || {
            read_log().contains("ping: PING #2 answered PONG")
        });
    let _ = inabox.0.kill();
    let _ = inabox.0.wait();
    assert!(
        flowing,
        "ping-pong did not flow in the box:\n{}",
        read_log()
    );
}
