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

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
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

static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Builds `functions/NAME` to WebAssembly with `edgeless_cli function build`
/// (once per test process).
pub fn build_function(name: &str) {
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|n| n == name) {
        return;
    }
    let spec = repo_root()
        .join("functions")
        .join(name)
        .join("function.json");
    let output = Command::new(bin("edgeless_cli"))
        .args(["function", "build"])
        .arg(&spec)
        .env(
            "EDGELESS_FUNCTIONS_TARGET_DIR",
            bin_dir().parent().unwrap().join("functions"),
        )
        .output()
        .expect("edgeless_cli runs");
    assert!(
        output.status.success(),
        "building {name} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.push(name.to_string());
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

/// A daemon process, killed on drop.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    /// Starts `binary -c config`, logging to `log`.
    pub fn start(name: &str, binary: &str, config: &Path, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(bin(binary))
            .arg("-c")
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log,
        }
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process (as a crash would).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Options of a cluster.
#[derive(Default)]
pub struct ClusterBuilder {
    nodes: usize,
    round_robin: bool,
}

impl ClusterBuilder {
    /// The number of nodes (default 1).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes;
        self
    }

    /// Place instances round-robin (so two functions land on two nodes).
    pub fn round_robin(mut self) -> Self {
        self.round_robin = true;
        self
    }

    /// Starts the processes and waits until every node has joined.
    pub fn start(self) -> Cluster {
        Cluster::start(self.nodes.max(1), self.round_robin)
    }
}

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// The controller.
    pub controller: Daemon,
    /// The orchestrator.
    pub orchestrator: Daemon,
    /// The nodes.
    pub nodes: Vec<Daemon>,
    /// The nodes' ids, in the order of `nodes`.
    pub node_ids: Vec<String>,
    /// The nodes' invocation URLs.
    pub invocation_urls: Vec<String>,
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

impl Cluster {
    /// A builder.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::default()
    }

    fn start(nodes: usize, round_robin: bool) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: String| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("config written");
            path
        };
        let (workflow_port, domain_port) = (free_port(), free_port());
        let (orc_port, register_port) = (free_port(), free_port());
        let controller_config = write(
            "controller.toml",
            format!(
                "controller_url = \"{}\"\ndomain_register_url = \"{}\"\n",
                url(workflow_port),
                url(domain_port)
            ),
        );
        write(
            "cli.toml",
            format!("controller_url = \"{}\"\n", url(workflow_port)),
        );
        let strategy = if round_robin { "RoundRobin" } else { "Random" };
        let orc_config = write(
            "orchestrator.toml",
            format!(
                "[general]\ndomain_register_url = \"{}\"\nsubscription_refresh_interval_sec = 1\n\
                 domain_id = \"domain-test\"\norchestrator_url = \"{}\"\nnode_register_url = \"{}\"\n\
                 [baseline]\norchestration_strategy = \"{strategy}\"\n",
                url(domain_port),
                url(orc_port),
                url(register_port)
            ),
        );
        let controller = Daemon::start(
            "controller",
            "edgeless_con_d",
            &controller_config,
            dir.path().join("controller.log"),
        );
        let orchestrator = Daemon::start(
            "orchestrator",
            "edgeless_orc_d",
            &orc_config,
            dir.path().join("orchestrator.log"),
        );
        let mut cluster = Self {
            controller,
            orchestrator,
            nodes: Vec::new(),
            node_ids: Vec::new(),
            invocation_urls: Vec::new(),
            dir,
        };
        for i in 0..nodes {
            let node_id = format!("00000000-0000-4000-8000-{:012x}", i + 1);
            let invocation = url(free_port());
            let config = cluster.write_node_config(i, &node_id, &invocation, register_port);
            let log = cluster.dir.path().join(format!("node{i}.log"));
            cluster.nodes.push(Daemon::start(
                &format!("node{i}"),
                "edgeless_node_d",
                &config,
                log,
            ));
            cluster.node_ids.push(node_id);
            cluster.invocation_urls.push(invocation);
        }
        let expected = format!("({nodes} nodes)");
        cluster.wait_for(
            Duration::from_secs(30),
            "every node to join the domain",
            |c| c.cli(&["domain", "list"]).stdout_text().contains(&expected),
        );
        cluster
    }

    fn write_node_config(
        &self,
        i: usize,
        node_id: &str,
        invocation: &str,
        register_port: u16,
    ) -> PathBuf {
        let path = self.dir.path().join(format!("node{i}.toml"));
        let text = format!(
            "[general]\nnode_id = \"{node_id}\"\nagent_url = \"{}\"\ninvocation_url = \"{invocation}\"\n\
             node_register_url = \"{}\"\nsubscription_refresh_interval_sec = 1\n",
            url(free_port()),
            url(register_port)
        );
        std::fs::write(&path, text).expect("node config written");
        path
    }

    /// Runs `edgeless_cli -c cli.toml ARGS`.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        let output = Command::new(bin("edgeless_cli"))
            .arg("-c")
            .arg(self.dir.path().join("cli.toml"))
            .args(args)
            .output()
            .expect("edgeless_cli runs");
        CliOutput(output)
    }

    /// Runs the CLI and returns its trimmed stdout; panics (with logs) on failure.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let output = self.cli(args);
        if !output.0.status.success() {
            panic!(
                "edgeless_cli {args:?} failed: {}\n{}",
                output.stderr_text(),
                self.logs()
            );
        }
        output.stdout_text().trim().to_string()
    }

    /// Waits for `check`; panics with every log when it does not happen.
    pub fn wait_for(&self, timeout: Duration, what: &str, mut check: impl FnMut(&Self) -> bool) {
        if !eventually(timeout, || check(self)) {
            panic!(
                "timed out after {timeout:?} waiting for {what}\n{}",
                self.logs()
            );
        }
    }

    /// The index of the node with id `node_id`.
    pub fn node_index(&self, node_id: &str) -> usize {
        self.node_ids
            .iter()
            .position(|n| n == node_id)
            .expect("a node of this cluster")
    }

    /// Every daemon's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut text = String::new();
        for daemon in [&self.controller, &self.orchestrator]
            .into_iter()
            .chain(&self.nodes)
        {
            text.push_str(&format!("----- {} -----\n{}\n", daemon.name, daemon.log()));
        }
        text
    }

    /// The instances of each component of a workflow: name → [(node id, function id)].
    pub fn instances(&self, workflow_id: &str) -> Vec<(String, Vec<(String, String)>)> {
        let json = self.cli_ok(&["workflow", "inspect", workflow_id, "-o", "json"]);
        let value: serde_json::Value = serde_json::from_str(&json).expect("inspect prints JSON");
        value["components"]
            .as_array()
            .expect("a list of components")
            .iter()
            .map(|c| {
                let instances = c["instances"]
                    .as_array()
                    .expect("instances")
                    .iter()
                    .map(|i| {
                        let (node, function) = i.as_str().unwrap().split_once('/').unwrap();
                        (node.to_string(), function.to_string())
                    })
                    .collect();
                (c["name"].as_str().unwrap().to_string(), instances)
            })
            .collect()
    }
}

/// What the CLI printed and how it exited.
pub struct CliOutput(pub Output);

impl CliOutput {
    /// The exit code.
    pub fn code(&self) -> Option<i32> {
        self.0.status.code()
    }
    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }
    /// Stderr as text.
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }
}

/// How many times `needle` occurs in `haystack`.
pub fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}
