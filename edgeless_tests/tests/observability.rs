//! What operators see of running daemons: structured logs.

use std::process::{Command, Stdio};
use std::time::Duration;

use edgeless_tests::{bin, eventually};

/// Starts `binary` with `args` and `env` (its URLs on port 0, nothing kept)
/// until it listens; returns what it logged.
fn log_of(binary: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let listening = dir.path().join("listening.toml");
    let log = dir.path().join("log");
    let mut child = Command::new(bin(binary))
        .args(args)
        .arg("--listening-file")
        .arg(&listening)
        .envs(env.iter().copied())
        .env("RUST_LOG", "info")
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let listens = eventually(Duration::from_secs(30), || listening.exists());
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(listens, "{binary} did not start:\n{text}");
    text
}

#[test]
fn daemons_write_json_log_lines_when_asked() {
    let controller_env = [
        ("EDGELESS_CONTROLLER_URL", "http://127.0.0.1:0"),
        ("EDGELESS_DOMAIN_REGISTER_URL", "http://127.0.0.1:0"),
        ("EDGELESS_DATA_DIR", ""),
    ];
    let by_flag = log_of("edgeless_con_d", &["--log-format", "json"], &controller_env);
    let by_variable = log_of(
        "edgeless_con_d",
        &[],
        &[controller_env.as_slice(), &[("EDGELESS_LOG_FORMAT", "json")]].concat(),
    );
    for log in [by_flag, by_variable] {
        let lines: Vec<&str> = log.lines().collect();
        assert!(!lines.is_empty());
        for line in &lines {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            assert!(value["level"].is_string() && value["timestamp"].is_string(), "{line}");
        }
        assert!(
            lines.iter().any(|l| l.contains("\"message\":\"controller started\"")),
            "{log}"
        );
        // The settings taken from the environment are logged too.
        assert!(log.contains("EDGELESS_CONTROLLER_URL"), "{log}");
    }
    let text = log_of("edgeless_con_d", &[], &controller_env);
    assert!(
        text.lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()),
        "text by default:\n{text}"
    );
}
