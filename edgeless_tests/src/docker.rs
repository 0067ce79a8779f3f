//! Docker for the container tests: whether a daemon answers, building the
//! function images, and what containers a node has.

use std::process::Command;

use crate::repo_root;

/// Panics, naming what to install, unless container functions can be built
/// and run here: a Docker daemon answers on the default socket and
/// `musl-gcc` is installed. Tests that call it carry
/// `#[cfg_attr(skip_docker, ignore = ...)]`, so that `EDGELESS_TEST_SKIP=docker`
/// reports them as ignored instead.
pub fn require_docker() {
    let answers = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let musl = Command::new("musl-gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let missing = match (answers, musl) {
        (true, true) => return,
        (false, _) => "Docker does not answer (apt-get install docker.io; start dockerd)",
        (true, false) => "musl-gcc is not installed (apt-get install musl-tools)",
    };
    panic!("{missing}; or set EDGELESS_TEST_SKIP=docker to skip the tests that need it");
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
    let tag = format!("edgeless-{name}");
    let dir = repo_root().join("functions").join(name);
    crate::build_once(
        &tag,
        &[
            "build-container".as_ref(),
            dir.as_os_str(),
            "--tag".as_ref(),
            tag.as_ref(),
        ],
    );
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
