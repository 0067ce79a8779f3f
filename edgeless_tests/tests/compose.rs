//! The compose deployment (`deployment/compose.yaml`) with the daemon images
//! of `scripts/build-images.sh`, against a real dockerd and docker-compose:
//! the CLI on the host starts a workflow through the published port, its
//! events flow between the node containers, the function lines appear in
//! `docker-compose logs`, and `docker-compose down` leaves nothing behind.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use edgeless_tests::docker::{docker, require_docker};
use edgeless_tests::{bin, build_function, eventually, example, free_port, repo_root};

/// A compose project of its own (name and published port), taken down on
/// drop.
struct Project {
    name: String,
    port: u16,
    dashboard_port: u16,
    cli_config: tempfile::NamedTempFile,
}

impl Project {
    fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .arg("-f")
            .arg(repo_root().join("deployment/compose.yaml"))
            .args(["-p", &self.name])
            .args(args)
            .env("EDGELESS_PORT", self.port.to_string())
            .env("EDGELESS_DASHBOARD_PORT", self.dashboard_port.to_string())
            .output()
            .expect("docker-compose runs")
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(self.cli_config.path())
            .args(args)
            .output()
            .expect("edgeless_cli runs")
    }

    fn logs(&self) -> String {
        let output = self.compose(&["logs", "--no-color"]);
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Containers, networks and volumes of the project that remain.
    fn leftovers(&self) -> String {
        let label = format!("label=com.docker.compose.project={}", self.name);
        [
            docker(&["ps", "-a", "-q", "--filter", &label]),
            docker(&["network", "ls", "-q", "--filter", &label]),
            docker(&["volume", "ls", "-q", "--filter", &label]),
        ]
        .concat()
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--timeout", "5"]);
    }
}

fn require_compose() {
    require_docker();
    let found = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "docker-compose is not installed (apt-get install docker-compose); or set EDGELESS_TEST_SKIP=docker to skip the tests that need it"
    );
}

fn succeeded(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
#[cfg_attr(skip_docker, ignore = "EDGELESS_TEST_SKIP=docker")]
fn the_compose_cluster_runs_a_workflow_started_from_the_host_and_leaves_nothing() {
    require_compose();
    build_function("ping");
    build_function("pong");
    let built = Instant::now();
    let images = Command::new(repo_root().join("scripts/build-images.sh"))
        .output()
        .expect("build-images.sh runs");
    succeeded("scripts/build-images.sh", &images);
    let sizes = String::from_utf8_lossy(&images.stdout).into_owned();
    eprintln!("images built in {:?}:\n{sizes}", built.elapsed());
    for role in ["con", "orc", "node", "bal", "cli"] {
        assert!(
            sizes.contains(&format!("edgeless-{role}:latest ")),
            "{sizes}"
        );
    }

    let port = free_port();
    let cli_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cli_config.path(),
        format!("controller_url = \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let project = Project {
        name: format!("edgelesstest{}", std::process::id()),
        port,
        dashboard_port: free_port(),
        cli_config,
    };
    let up = Instant::now();
    succeeded("docker-compose up", &project.compose(&["up", "-d"]));
    let ready = eventually(Duration::from_secs(60), || {
        let listing = project.cli(&["domain", "list", "-o", "json"]);
        let domains: serde_json::Value =
            serde_json::from_slice(&listing.stdout).unwrap_or_default();
        domains.as_array().is_some_and(|all| {
            all.iter()
                .any(|d| d["domain_id"] == "compose" && d["num_nodes"].as_u64() == Some(2))
        })
    });
    assert!(ready, "the cluster did not come up:\n{}", project.logs());
    eprintln!(
        "docker-compose up → two nodes registered: {:?}",
        up.elapsed()
    );

    let started = project.cli(&["workflow", "start", &example("ping_pong")]);
    succeeded("workflow start", &started);
    let flowing = eventually(Duration::from_secs(30), || {
        project.logs().contains("answered PONG")
    });
    assert!(flowing, "no pong in the logs:\n{}", project.logs());
    // The dashboard is published on the host's loopback too.
    let overview = format!("http://127.0.0.1:{}/api/overview", project.dashboard_port);
    let (body, _) = edgeless_tests::curl(&[&overview]);
    assert!(
        body.contains("\"name\":\"ping_pong\"") && body.contains("\"id\":\"compose\""),
        "{body}"
    );
    // The state is on the controller's volume: a restarted controller
    // still lists the workflow.
    succeeded("restart", &project.compose(&["restart", "controller"]));
    let listed = eventually(Duration::from_secs(30), || {
        String::from_utf8_lossy(&project.cli(&["workflow", "list"]).stdout).contains("ping_pong")
    });
    assert!(
        listed,
        "the workflow is gone after a restart:\n{}",
        project.logs()
    );

    succeeded(
        "docker-compose down",
        &project.compose(&["down", "-v", "--timeout", "5"]),
    );
    assert_eq!(project.leftovers(), "", "left behind after down");
}
