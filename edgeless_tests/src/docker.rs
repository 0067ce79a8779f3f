//! Docker for the container tests: whether a daemon answers, building the
//! function images, and what containers a node has.

use std::process::Command;
use std::sync::Mutex;

use crate::{bin, bin_dir, repo_root};

/// Whether a Docker daemon answers on the default socket. When it does not,
/// the test is skipped with a message, except under `CI=true`, where that is
/// a failure.
pub fn docker_available() -> bool {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !answers {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Docker does not answer (is dockerd running?), and CI=true requires it"
        );
        eprintln!("SKIPPED: Docker does not answer (apt-get install docker.io; start dockerd)");
    }
    answers
}

/// Runs the docker CLI; returns its output, panicking with stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let output = Command::new("docker")
        .args(args)
        .output()
        .expect("docker runs");
    assert!(
        output.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds `functions/<name>` into image `edgeless-<name>` with
/// `edgeless_cli function build-container` (once per test process); returns
/// the image name.
pub fn build_container_image(name: &str) -> String {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let tag = format!("edgeless-{name}");
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.contains(&tag) {
        return tag;
    }
    let output = Command::new(bin("edgeless_cli"))
        .args(["function", "build-container"])
        .arg(repo_root().join("functions").join(name))
        .args(["--tag", &tag])
        .env(
            "EDGELESS_FUNCTIONS_TARGET_DIR",
            bin_dir().parent().unwrap().join("functions"),
        )
        .output()
        .expect("edgeless_cli runs");
    assert!(
        output.status.success(),
        "building the image of {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push(tag.clone());
    tag
}

/// The ids of the containers (running or not) of node `node_id`.
pub fn containers_of(node_id: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=edgeless.node={node_id}"),
        "--format",
        "{{.ID}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}
