//! The all-in-one cluster runs a workflow through its real gRPC services,
//! on ports of the system's choice, so that two run side by side.

use std::path::{Path, PathBuf};
use std::time::Duration;

use edgeless_tests::{KillOnDrop, bin, build_function, eventually, example};

/// An `edgeless_inabox` with two nodes on free ports, in `dir`.
struct InABox {
    process: KillOnDrop,
    dir: PathBuf,
    cli: PathBuf,
}

impl InABox {
    fn start(dir: &Path) -> Self {
        // Port 0 everywhere: every component takes a port the system
        // chooses, the controller's included.
        let written = std::process::Command::new(bin("edgeless_inabox"))
            .args(["-t", "-n", "2", "--initial-port", "0", "--config-path"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            written.status.success(),
            "{}",
            String::from_utf8_lossy(&written.stderr)
        );
        let listening = dir.join("listening.toml");
        let log = std::fs::File::create(dir.join("inabox.log")).unwrap();
        let process = std::process::Command::new(bin("edgeless_inabox"))
            .arg("--config-path")
            .arg(dir)
            .arg("--listening-file")
            .arg(&listening)
            .env("RUST_LOG", "info")
            .stderr(log)
            .spawn()
            .unwrap();
        let boxed = Self {
            process: KillOnDrop(process),
            dir: dir.to_path_buf(),
            cli: dir.join("cli.toml"),
        };
        let reported = eventually(Duration::from_secs(30), || listening.exists());
        let text = std::fs::read_to_string(&listening).unwrap_or_default();
        let table: toml::Table = toml::from_str(&text).unwrap_or_default();
        let controller = table
            .get("controller")
            .and_then(|c| c.get("controller_url"))
            .and_then(|u| u.as_str())
            .map(str::to_string);
        let Some(controller) = controller.filter(|_| reported) else {
            panic!("no controller URL in {text:?}:\n{}", boxed.log());
        };
        assert!(!controller.ends_with(":0"), "{controller}");
        std::fs::write(&boxed.cli, format!("controller_url = \"{controller}\"\n")).unwrap();
        let joined = eventually(Duration::from_secs(30), || {
            String::from_utf8_lossy(&boxed.run(&["domain", "list", "-o", "json"]).stdout)
                .contains("\"num_nodes\": 2")
        });
        assert!(joined, "the nodes did not join:\n{}", boxed.log());
        boxed
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("inabox.log")).unwrap_or_default()
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(&self.cli)
            .args(args)
            .output()
            .unwrap()
    }
}

#[test]
fn two_boxes_run_ping_pong_side_by_side() {
    build_function("ping");
    build_function("pong");
    let (first_dir, second_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut boxes = [
        InABox::start(first_dir.path()),
        InABox::start(second_dir.path()),
    ];
    for boxed in &boxes {
        let started = boxed.run(&["workflow", "start", &example("ping_pong")]);
        assert!(
            started.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&started.stderr),
            boxed.log()
        );
    }
    for boxed in &boxes {
        let flowing = eventually(Duration::from_secs(30), || {
            boxed.log().contains("ping: PING #2 answered PONG")
        });
        assert!(
            flowing,
            "ping-pong did not flow in the box:\n{}",
            boxed.log()
        );
    }
    // Each box runs its own workflow, and only it.
    for boxed in &boxes {
        let listed = boxed.run(&["workflow", "list", "-o", "json"]);
        let rows: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    }
    for boxed in &mut boxes {
        let _ = boxed.process.0.kill();
        let _ = boxed.process.0.wait();
    }
}
