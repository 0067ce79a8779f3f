//! A daemon of this build (`edgeless_con_d`, `edgeless_orc_d`, …) run as a
//! process of its own, so that its CPU time and memory are its own: started
//! with a configuration file on free ports, its URLs read from its
//! `--listening-file`, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running daemon.
pub struct Daemon {
    child: Child,
    name: String,
    listening: String,
    _dir: tempfile::TempDir,
}

/// The binary `name` beside this executable (cargo puts every binary of
/// the workspace in the same folder).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow::anyhow!("{} has no folder", exe.display()))?;
    // Test binaries live one folder down, in deps/.
    [dir, dir.parent().unwrap_or(dir)]
        .iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{name} is not beside {}; build it (cargo build --release -p edgeless_con -p edgeless_orc -p edgeless_cli)",
                exe.display()
            )
        })
}

impl Daemon {
    /// Starts binary `name` with `config` (TOML) and waits until it
    /// reports where it listens.
    pub fn start(name: &str, config: &str) -> anyhow::Result<Self> {
        let binary = sibling(name)?;
        let dir = tempfile::tempdir()?;
        let config_file = dir.path().join("config.toml");
        let listening_file = dir.path().join("listening.toml");
        std::fs::write(&config_file, config)?;
        let log = std::fs::File::create(dir.path().join("log"))?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&config_file)
            .arg("--listening-file")
            .arg(&listening_file)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", binary.display()))?;
        let mut daemon = Self {
            child,
            name: name.to_string(),
            listening: String::new(),
            _dir: dir,
        };
        daemon.listening = daemon.wait_listening(&listening_file)?;
        Ok(daemon)
    }

    fn wait_listening(&mut self, file: &Path) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(file) {
                return Ok(text);
            }
            if let Some(status) = self.child.try_wait()? {
                let log = std::fs::read_to_string(self._dir.path().join("log")).unwrap_or_default();
                anyhow::bail!("{} ended ({status}) before listening:\n{log}", self.name);
            }
            if Instant::now() > deadline {
                anyhow::bail!("{} did not listen within 30 s", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL it reported for `key` (e.g. `orchestrator_url`).
    pub fn url(&self, key: &str) -> anyhow::Result<String> {
        self.listening
            .lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim().ends_with(key))
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .ok_or_else(|| anyhow::anyhow!("{} did not report {key}", self.name))
    }

    /// CPU time it has used so far (user + system).
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name (which may hold spaces): state is
        // the 3rd field, utime the 14th, stime the 15th.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat: {stat:?}"))?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> anyhow::Result<u64> {
            fields
                .get(i)
                .and_then(|f| f.parse().ok())
                .ok_or_else(|| anyhow::anyhow!("unexpected /proc stat: {stat:?}"))
        };
        // utime and stime are fields 14 and 15, i.e. 11 and 12 after ")".
        let total = ticks(11)? + ticks(12)?;
        Ok(Duration::from_secs_f64(total as f64 / USER_HZ))
    }

    /// Its resident memory, in bytes.
    pub fn resident_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| anyhow::anyhow!("no VmRSS for {}", self.name))
    }
}

/// Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
