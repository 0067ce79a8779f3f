//! Bad workflows are rejected with a message that names the problem, and the
//! cluster keeps running good ones; an unreachable controller is reported.

use std::time::Duration;

use edgeless_tests::{Cluster, build_function, example};

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn workflow(code: &str, function_type: &str, target: &str) -> String {
    format!(
        r#"{{"functions": [{{"name": "pinger",
            "class_specification": {{"id": "ping", "function_type": "{function_type}", "version": "0.1",
                                     "code": "{code}", "outputs": ["ponger"]}},
            "output_mapping": {{"ponger": "{target}"}}, "annotations": {{}}}}],
           "resources": [], "annotations": {{}}}}"#
    )
}

#[test]
fn bad_workflows_are_rejected_and_a_good_one_still_runs() {
    let ping = build_function("ping").display().to_string();
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"\0asm\x01\0\0\0garbage").unwrap();

    let cases = [
        (
            write(
                dir.path(),
                "unknown_target.json",
                &workflow(&ping, "RUST_WASM", "pongr"),
            ),
            2,
            "function `pinger` maps output `ponger` to `pongr`, which is not a function or resource of this workflow",
        ),
        (
            write(dir.path(), "bad.json", "{\"functions\": [ }"),
            2,
            "is not a valid workflow",
        ),
        (
            write(
                dir.path(),
                "missing_code.json",
                &workflow("nope.wasm", "RUST_WASM", "pinger"),
            ),
            2,
            "function `pinger`: cannot read code file",
        ),
        (
            write(
                dir.path(),
                "bad_type.json",
                &workflow(&ping, "PYTHON", "pinger"),
            ),
            2,
            "function `pinger` has function_type `PYTHON`",
        ),
        (
            write(
                dir.path(),
                "garbage.json",
                &workflow("garbage.wasm", "RUST_WASM", "pinger"),
            ),
            1,
            "function `pinger`: ",
        ),
        (
            dir.path().join("absent.json").display().to_string(),
            2,
            "cannot read",
        ),
        (
            write(
                dir.path(),
                "unknown_annotation.json",
                &workflow(&ping, "RUST_WASM", "pinger").replace(
                    r#""resources": [], "annotations": {}"#,
                    r#""resources": [], "annotations": {"domain_matchany": "x"}"#,
                ),
            ),
            2,
            "workflow annotation `domain_matchany`: not a workflow annotation (known: domain_match_any",
        ),
        (
            write(
                dir.path(),
                "unplaceable.json",
                &workflow(&ping, "RUST_WASM", "pinger").replace(
                    r#""resources": [], "annotations": {}"#,
                    r#""resources": [], "annotations": {"domain_match_any": "elsewhere"}"#,
                ),
            ),
            1,
            "domain `domain-test` is not in domain_match_any (elsewhere)",
        ),
    ];
    for (file, code, message) in &cases {
        let output = cluster.cli(&["workflow", "start", file]);
        assert_eq!(
            output.code(),
            Some(*code),
            "{file}: {}",
            output.stderr_text()
        );
        assert!(
            output.stderr_text().contains(message),
            "{file}: {}",
            output.stderr_text()
        );
        assert!(
            output.stdout_text().is_empty(),
            "nothing on stdout for a failure"
        );
    }
    let garbage = cluster
        .cli(&["workflow", "start", &cases[4].0])
        .stderr_text();
    assert!(garbage.contains("invalid function code"), "{garbage}");
    assert_eq!(
        cluster.workflow_ids(),
        Vec::<String>::new(),
        "rejected workflows leave nothing behind"
    );

    let workflow = cluster.cli_ok(&["workflow", "start", &example("ping_pong")]);
    cluster.wait_for(Duration::from_secs(20), "the good workflow to run", |c| {
        c.nodes[0].log().contains("ping: PING #2 answered PONG")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);

    let inspect = cluster.cli(&["workflow", "inspect", "not-a-uuid"]);
    assert_eq!(inspect.code(), Some(3), "{}", inspect.stderr_text());
    assert!(
        inspect
            .stderr_text()
            .contains("no running workflow is named not-a-uuid"),
        "{}",
        inspect.stderr_text()
    );
}

#[test]
fn an_unreachable_controller_is_reported_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let (_held, port) = edgeless_tests::refused_port();
    let config = write(
        dir.path(),
        "cli.toml",
        &format!("controller_url = \"http://127.0.0.1:{port}\"\n"),
    );
    let output = std::process::Command::new(edgeless_tests::bin("edgeless_cli"))
        .args(["-c", &config, "workflow", "list"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach http://127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// `node.toml` in `dir`: ports of the system's choice, then `extra`.
fn node_config(dir: &std::path::Path, extra: &str) -> String {
    write(
        dir,
        "node.toml",
        &format!(
            "[general]\nagent_url = \"http://127.0.0.1:0\"\ninvocation_url = \"http://127.0.0.1:0\"\n{extra}"
        ),
    )
}

#[test]
fn a_node_refuses_an_unusable_module_cache_folder() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be.
    let blocker = write(dir.path(), "not-a-folder", "x");
    let config = node_config(
        dir.path(),
        &format!("[wasm_runtime]\nmodule_cache_dir = \"{blocker}/cache\"\n"),
    );
    let output = std::process::Command::new(edgeless_tests::bin("edgeless_node_d"))
        .args(["-c", &config])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("[wasm_runtime] module_cache_dir")
            && stderr.contains(&format!("{blocker}/cache")),
        "{stderr}"
    );
}

#[test]
fn a_node_without_a_usable_default_module_cache_keeps_modules_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = write(dir.path(), "not-a-folder", "x");
    let config = node_config(dir.path(), "");
    let log = dir.path().join("node.log");
    let child = std::process::Command::new(edgeless_tests::bin("edgeless_node_d"))
        .args(["-c", &config])
        .env("XDG_CACHE_HOME", &blocker)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut child = edgeless_tests::KillOnDrop(child);
    let warned = edgeless_tests::eventually(Duration::from_secs(20), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("compiled WASM modules are kept in memory only")
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(warned, "{text}");
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the node runs on:\n{text}"
    );
}
