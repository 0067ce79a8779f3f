//! The README's first command, `scripts/quickstart.sh`, as a new user runs
//! it: it builds, starts a cluster on ports of its own, shows ping-pong's
//! log lines, and leaves nothing running.

use std::process::Command;

use edgeless_tests::{bin, repo_root};

#[test]
fn quickstart_runs_ping_pong_and_cleans_up() {
    // The binaries it uses, built from the current sources.
    bin("edgeless_inabox");
    let work = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/quickstart.sh"))
        .env("DURATION", "6")
        .env("WORK", work.path())
        .env_remove("PORT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The functions' log lines (`workflow logs -f`), as the README shows
    // them, and where the dashboard is.
    let line_of = |function: &str, text: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(&format!("[{function} ")) && l.contains(text))
    };
    assert!(line_of("ponger", "] pong: PING #1 from"), "{stdout}");
    assert!(
        line_of("pinger", "] ping: PING #1 answered PONG"),
        "{stdout}"
    );
    assert!(
        stderr.contains("== dashboard at http://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("== stopping workflow"), "{stderr}");
    // Its modules were built under target/, not into the source tree.
    let workflow = std::fs::read_to_string(work.path().join("workflow.json")).unwrap();
    assert!(
        workflow.contains("/target/functions/modules/ping/ping.wasm"),
        "{workflow}"
    );
    // The cluster it started is gone: its controller's port refuses.
    let listening = std::fs::read_to_string(work.path().join("listening.toml")).unwrap();
    let controller = listening
        .lines()
        .find_map(|l| l.strip_prefix("controller.controller_url = \"http://"))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the controller's address")
        .to_string();
    assert!(
        std::net::TcpStream::connect(&controller).is_err(),
        "{controller} still answers"
    );
}
