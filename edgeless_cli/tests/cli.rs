//! The CLI's own behaviour without a cluster: templates, usage errors and
//! local validation.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_edgeless_cli");

#[test]
fn the_template_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cli.toml");
    assert!(
        Command::new(BIN)
            .arg("-t")
            .arg(&path)
            .status()
            .unwrap()
            .success()
    );
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("controller_url")
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let output = Command::new(BIN)
        .args(["workflow", "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let output = Command::new(BIN).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no command given"));
}

#[test]
fn a_workflow_is_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("workflow.json");
    std::fs::write(&spec, r#"{"functions": [], "resources": []}"#).unwrap();
    // The controller URL is never contacted: the error is local.
    let cli = dir.path().join("cli.toml");
    std::fs::write(&cli, "controller_url = \"http://127.0.0.1:9\"\n").unwrap();
    let output = Command::new(BIN)
        .arg("-c")
        .arg(&cli)
        .arg("workflow")
        .arg("start")
        .arg(&spec)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the workflow has no functions and no resources"),
        "{stderr}"
    );
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_141() {
    let dir = tempfile::tempdir().unwrap();
    // The reader is gone before the CLI prints its first line (the files
    // it wrote), as with `| head -0`: its end of the pipe is closed before
    // the CLI starts.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(BIN)
        .args(["tls", "generate"])
        .arg(dir.path().join("certs"))
        .args(["--names", "a,b,c"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn every_command_has_a_description_and_an_example() {
    let commands: &[&[&str]] = &[
        &["workflow", "start"],
        &["workflow", "apply"],
        &["workflow", "stop"],
        &["workflow", "list"],
        &["workflow", "inspect"],
        &["domain", "list"],
        &["domain", "view"],
        &["domain", "inspect"],
        &["node", "list"],
        &["function", "new"],
        &["function", "build"],
        &["function", "build-container"],
        &["function", "invoke"],
        &["context", "set"],
        &["context", "use"],
        &["context", "list"],
        &["context", "delete"],
        &["tls", "generate"],
        &["version"],
        &["completions"],
    ];
    for command in commands {
        let output = Command::new(BIN)
            .args(*command)
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{command:?}");
        let description = help.lines().next().unwrap_or("");
        assert!(
            !description.trim().is_empty() && !description.starts_with("Usage"),
            "{command:?}:\n{help}"
        );
        assert!(
            help.contains("Example: edgeless_cli "),
            "{command:?}:\n{help}"
        );
    }
}
