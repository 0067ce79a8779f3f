//! Daemon processes of the tests: started with a config, logging to a file,
//! killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{bin, eventually, free_port};

/// A daemon process, killed on drop.
pub struct Daemon {
    pub(crate) name: String,
    child: Option<Child>,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
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
            _dir: None,
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

/// A `redis-server` on a free loopback port, stopped on drop. `None` (with a
/// message) when it is not installed, except under `CI=true`, where that is
/// a failure.
pub fn redis_server() -> Option<(Daemon, String)> {
    let installed = Command::new("redis-server")
        .arg("--version")
        .output()
        .is_ok();
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "redis-server is not installed, and CI=true requires it"
        );
        eprintln!("SKIPPED: redis-server is not installed (apt-get install redis-server)");
        return None;
    }
    let port = free_port();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("redis.log");
    let child = spawn_redis(
        port,
        dir.path(),
        std::fs::File::create(&log).expect("log file"),
    );
    let daemon = Daemon {
        name: "redis".into(),
        child: Some(child),
        log,
        _dir: Some(dir),
    };
    let ready = eventually(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(ready, "redis-server did not start: {}", daemon.log());
    Some((daemon, format!("redis://127.0.0.1:{port}")))
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

/// A child process killed (and reaped) on drop.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
