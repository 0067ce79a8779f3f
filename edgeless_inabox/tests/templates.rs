//! `edgeless_inabox -t` writes the documented files.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_edgeless_inabox");

#[test]
fn templates_name_one_node_node_toml_and_several_node_k() {
    let one = tempfile::tempdir().unwrap();
    let status = Command::new(BIN)
        .args(["-t", "--config-path"])
        .arg(one.path())
        .status()
        .unwrap();
    assert!(status.success());
    for file in [
        "controller.toml",
        "orchestrator.toml",
        "balancer.toml",
        "node.toml",
    ] {
        assert!(one.path().join(file).exists(), "{file}");
    }
    let two = tempfile::tempdir().unwrap();
    let status = Command::new(BIN)
        .args(["-t", "-n", "2", "--config-path"])
        .arg(two.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(two.path().join("node0.toml").exists() && two.path().join("node1.toml").exists());
    let again = Command::new(BIN)
        .args(["-t", "--config-path"])
        .arg(one.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(64), "never overwrites");
}
