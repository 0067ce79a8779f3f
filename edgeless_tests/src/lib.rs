//! A harness that starts a real edgeless cluster: `edgeless_con_d`,
//! `edgeless_orc_d` and N `edgeless_node_d` processes on free loopback ports,
//! each logging to a file. The processes are killed when the [`Cluster`] is
//! dropped, and a failed wait prints their logs.
//!
//! ```text
//! let cluster = Cluster::builder().nodes(2).round_robin().start();
//! let id = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
//! ```
//!
//! The daemons and the CLI must be built first; `cargo test --workspace`
//! does that, since every daemon crate has an integration test of its own.

mod cluster;
pub mod docker;
pub mod link;
mod process;

pub use cluster::{CliOutput, Cluster, ClusterBuilder, Domain, count};
pub use process::{Daemon, KillOnDrop, redis_server, spawn_redis};

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is in the repository")
        .to_path_buf()
}

/// The folder holding the built binaries (next to the test executable).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the executable has a path");
    let dir = exe.parent().expect("the executable is in a folder");
    // Tests run from target/<profile>/deps, binaries from target/<profile>.
    if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    }
    .to_path_buf()
}

/// The path of a built binary; panics with what to do when it is missing.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo build --bins`, or run `cargo test --workspace`)",
        path.display()
    );
    path
}

/// The path of an example's workflow.json.
pub fn example(name: &str) -> String {
    repo_root()
        .join("examples")
        .join(name)
        .join("workflow.json")
        .display()
        .to_string()
}

/// An example's workflow.json with code paths made absolute and each
/// `(from, to)` replacement applied, written into `dir`.
pub fn example_in(dir: &Path, name: &str, replacements: &[(&str, &str)]) -> String {
    let functions = repo_root().join("functions").display().to_string();
    let mut text = std::fs::read_to_string(example(name)).expect("the example exists");
    text = text.replace("../../functions", &functions);
    for (from, to) in replacements {
        assert!(
            text.contains(from),
            "{name}: {from:?} is not in the workflow"
        );
        text = text.replace(from, to);
    }
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).expect("workflow written");
    path.display().to_string()
}

/// Runs `edgeless_cli function ARGS` once per test process for each `key`
/// (functions build into `target/functions`); panics with cargo's output
/// on failure.
pub(crate) fn build_once(key: &str, args: &[&std::ffi::OsStr]) {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|n| n == key) {
        return;
    }
    let output = Command::new(bin("edgeless_cli"))
        .arg("function")
        .args(args)
        .env(
            "EDGELESS_FUNCTIONS_TARGET_DIR",
            bin_dir().parent().unwrap().join("functions"),
        )
        .output()
        .expect("edgeless_cli runs");
    assert!(
        output.status.success(),
        "building {key} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push(key.to_string());
}

/// Builds `functions/NAME` to WebAssembly with `edgeless_cli function build`
/// (once per test process).
pub fn build_function(name: &str) {
    let spec = repo_root()
        .join("functions")
        .join(name)
        .join("function.json");
    build_once(name, &["build".as_ref(), spec.as_os_str()]);
}

/// A port no one listens on right now.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        if given.insert(port) {
            return port;
        }
    }
}

/// Polls `check` every 100 ms until it is true or `timeout` has passed.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
