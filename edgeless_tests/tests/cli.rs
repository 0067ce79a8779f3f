//! The command line against a real cluster, as operators use it: names,
//! prefixes and tables, global flags anywhere, where the controller comes
//! from (flag, environment, files, contexts, default), a server that never
//! answers, and shell completions.

use std::path::Path;
use std::process::{Command, Output};

use edgeless_tests::{Cluster, bin, build_function, example};

/// The CLI run in `cwd` with `HOME` and `XDG_CONFIG_HOME` in `home` (so
/// that no file of the machine's user is read), without the CLI's
/// environment variables unless `env` sets them.
fn cli_in(cwd: &Path, home: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(bin("edgeless_cli"));
    command
        .current_dir(cwd)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("EDGELESS_CONTROLLER_URL")
        .env_remove("EDGELESS_CONFIG")
        .args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn workflows_have_names_and_are_found_by_name_or_prefix() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let spec = example("ping_pong");
    let first = cluster.cli_ok(&["workflow", "start", &spec]);
    // The same file again: the name is taken.
    let again = cluster.cli(&["workflow", "start", &spec]);
    assert_eq!(again.code(), Some(1), "{}", again.stderr_text());
    assert!(
        again.stderr_text().contains(&format!(
            "a workflow named `ping_pong` runs already ({first})"
        )),
        "{}",
        again.stderr_text()
    );
    let twin = cluster.cli_ok(&["workflow", "start", &spec, "--allow-duplicate"]);
    let other = cluster.cli_ok(&["workflow", "start", "--name", "other", &spec]);
    let bad = cluster.cli(&["workflow", "start", &spec, "--name", "no spaces"]);
    assert_eq!(bad.code(), Some(2), "{}", bad.stderr_text());
    assert!(
        bad.stderr_text().contains("is not a name"),
        "{}",
        bad.stderr_text()
    );

    // The table: a header, short ids, names.
    let table = cluster.cli_ok(&["workflow", "list"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for column in ["NAME", "ID", "STATE", "DOMAIN", "FUNCTIONS", "AGE"] {
        assert!(lines[0].contains(column), "{table}");
    }
    let row = lines
        .iter()
        .find(|l| l.starts_with("other"))
        .expect("a row for other");
    assert!(row.contains(&other[..8]) && !row.contains(&other), "{row}");
    assert!(
        row.contains("running") && row.contains("domain-test"),
        "{row}"
    );
    // JSON and YAML carry the same fields, with full ids.
    let json: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["workflow", "list", "-o", "json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 3);
    let named = rows.iter().find(|r| r["name"] == "other").unwrap();
    assert_eq!(named["workflow_id"], other.as_str());
    assert_eq!(named["functions"], 2);
    assert_eq!(named["domain"], "domain-test");
    let yaml = cluster.cli_ok(&["workflow", "list", "-o", "yaml"]);
    assert!(yaml.contains(&format!("workflow_id: {other}")), "{yaml}");

    // Name, unique prefix or id; an ambiguous name needs an id.
    let by_name: serde_json::Value =
        serde_json::from_str(&cluster.cli_ok(&["workflow", "inspect", "other", "-o", "json"]))
            .unwrap();
    assert_eq!(by_name["workflow_id"], other.as_str());
    assert_eq!(by_name["name"], "other");
    let functions: Vec<&str> = by_name["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(
        functions.contains(&"pinger") && functions.contains(&"ponger"),
        "{by_name}"
    );
    let prefix = cluster.cli_ok(&["workflow", "inspect", &other[..8]]);
    assert!(
        prefix.contains(&format!("* workflow {other} other")),
        "{prefix}"
    );
    let ambiguous = cluster.cli(&["workflow", "inspect", "ping_pong"]);
    assert_eq!(ambiguous.code(), Some(2), "{}", ambiguous.stderr_text());
    assert!(
        ambiguous
            .stderr_text()
            .contains("2 workflows are named ping_pong")
    );

    // Stop by name, then everything.
    cluster.cli_ok(&["workflow", "stop", "other"]);
    let ids = cluster.workflow_ids();
    assert!(ids.contains(&first) && ids.contains(&twin) && !ids.contains(&other));
    cluster.cli_ok(&["workflow", "stop", "--all"]);
    assert!(cluster.workflow_ids().is_empty());
    cluster.wait_until_idle();
}

#[test]
fn the_controller_comes_from_flag_environment_file_context_or_default() {
    let cluster = Cluster::builder().nodes(1).start();
    let url = cluster.controller_url.clone();
    let work = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let listed =
        |output: &Output| output.status.success() && text(&output.stdout).contains("domain-test");
    // Global flags before or after the subcommand.
    for args in [
        vec![
            "--controller-url",
            url.as_str(),
            "domain",
            "list",
            "-o",
            "json",
        ],
        vec![
            "domain",
            "list",
            "--controller-url",
            url.as_str(),
            "-o",
            "json",
        ],
        vec![
            "-o",
            "json",
            "domain",
            "--controller-url",
            url.as_str(),
            "list",
        ],
    ] {
        let output = cli_in(work.path(), home.path(), &[], &args);
        assert!(listed(&output), "{args:?}: {}", text(&output.stderr));
        assert!(
            text(&output.stdout).trim_start().starts_with('['),
            "{args:?}"
        );
    }
    // The environment.
    let output = cli_in(
        work.path(),
        home.path(),
        &[("EDGELESS_CONTROLLER_URL", &url)],
        &["domain", "list"],
    );
    assert!(listed(&output), "{}", text(&output.stderr));
    let config = cluster.dir().join("cli.toml").display().to_string();
    let output = cli_in(
        work.path(),
        home.path(),
        &[("EDGELESS_CONFIG", &config)],
        &["domain", "list"],
    );
    assert!(listed(&output), "{}", text(&output.stderr));
    // ./cli.toml in the working folder.
    std::fs::copy(cluster.dir().join("cli.toml"), work.path().join("cli.toml")).unwrap();
    let output = cli_in(work.path(), home.path(), &[], &["domain", "list"]);
    assert!(listed(&output), "{}", text(&output.stderr));
    std::fs::remove_file(work.path().join("cli.toml")).unwrap();

    // Nothing at all: the default, said on stderr.
    let output = cli_in(
        work.path(),
        home.path(),
        &[],
        &["domain", "list", "--timeout", "1"],
    );
    assert!(
        text(&output.stderr).contains("using the default controller http://127.0.0.1:7001"),
        "{}",
        text(&output.stderr)
    );

    // Both versions; the only domain needs no name.
    let versions = cli_in(
        work.path(),
        home.path(),
        &[],
        &["version", "-o", "json", "--controller-url", &url],
    );
    let versions: serde_json::Value = serde_json::from_slice(&versions.stdout).unwrap();
    assert_eq!(versions["client"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(versions["controller"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        versions["controller"]["api_version"],
        edgeless_api::API_VERSION
    );
    assert_eq!(versions["controller"]["url"], url.as_str());
    let view = cli_in(
        work.path(),
        home.path(),
        &[],
        &["domain", "view", "--controller-url", &url],
    );
    assert!(
        text(&view.stdout).starts_with("domain domain-test"),
        "{}",
        text(&view.stderr)
    );
    let nodes = cli_in(
        work.path(),
        home.path(),
        &[],
        &["node", "list", "--controller-url", &url],
    );
    let nodes = text(&nodes.stdout);
    assert!(
        nodes.lines().next().unwrap_or("").starts_with("NODE"),
        "{nodes}"
    );
    assert!(
        nodes.contains(&cluster.node_ids[0]) && nodes.contains("domain-test"),
        "{nodes}"
    );
    // A URL without its scheme is an input error that shows the fix.
    let bare = url.trim_start_matches("http://").to_string();
    let output = cli_in(
        work.path(),
        home.path(),
        &[],
        &["domain", "list", "--controller-url", &bare],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains(&format!("e.g. http://{bare}")),
        "{}",
        text(&output.stderr)
    );
    let (_held, port) = edgeless_tests::refused_port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let unreachable = cli_in(
        work.path(),
        home.path(),
        &[],
        &["version", "--controller-url", &nowhere, "--timeout", "1"],
    );
    assert_eq!(unreachable.status.code(), Some(4));
    assert!(
        text(&unreachable.stdout).contains(&format!("client      {}", env!("CARGO_PKG_VERSION")))
    );

    // Another service's port: said so, exit 4.
    let orchestrator = cluster.orchestrator_url.clone();
    let wrong = cli_in(
        work.path(),
        home.path(),
        &[],
        &["workflow", "list", "--controller-url", &orchestrator],
    );
    assert_eq!(wrong.status.code(), Some(4), "{}", text(&wrong.stderr));
    assert!(
        text(&wrong.stderr).contains(&format!(
            "cannot reach {orchestrator}: it does not serve this API"
        )),
        "{}",
        text(&wrong.stderr)
    );

    // Contexts in the user's file.
    let none = cli_in(work.path(), home.path(), &[], &["context", "use", "lab"]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none.stderr));
    for args in [
        vec!["context", "set", "lab", "--url", url.as_str()],
        vec!["context", "set", "elsewhere", "--url", "http://127.0.0.1:9"],
        vec!["context", "use", "lab"],
    ] {
        let output = cli_in(work.path(), home.path(), &[], &args);
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
    }
    let contexts = cli_in(work.path(), home.path(), &[], &["context", "list"]);
    let contexts = text(&contexts.stdout);
    let current = contexts
        .lines()
        .find(|l| l.starts_with('*'))
        .expect("a current context");
    assert!(
        current.contains("lab") && current.contains(&url),
        "{contexts}"
    );
    let output = cli_in(work.path(), home.path(), &[], &["domain", "list"]);
    assert!(listed(&output), "{}", text(&output.stderr));
    assert!(
        !text(&output.stderr).contains("default"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_server_that_never_answers_fails_within_the_timeout_naming_its_url() {
    // Accepts connections, never says a word.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming().take(4) {
            open.push(stream);
        }
        std::thread::sleep(std::time::Duration::from_secs(5));
    });
    let work = tempfile::tempdir().unwrap();
    let output = cli_in(
        work.path(),
        work.path(),
        &[],
        &[
            "workflow",
            "list",
            "--controller-url",
            &url,
            "--timeout",
            "1",
        ],
    );
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot reach {url}: no answer in time")),
        "{stderr}"
    );
    assert!(stderr.contains("hint: is the controller"), "{stderr}");
    drop(held);
}

#[test]
fn shell_completions_are_printed() {
    let work = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output = cli_in(work.path(), work.path(), &[], &["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", text(&output.stderr));
        let script = text(&output.stdout);
        assert!(
            script.contains("edgeless_cli") && script.contains("workflow"),
            "{shell}"
        );
    }
    let bad = cli_in(work.path(), work.path(), &[], &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn the_original_cli_file_is_read_and_repository_commands_say_what_to_use() {
    let work = tempfile::tempdir().unwrap();
    std::fs::write(
        work.path().join("cli.toml"),
        "controller_url = \"http://127.0.0.1:7001\"\n\n[function_repository]\nurl = \"http://repo\"\nbasic_auth_user = \"u\"\nbasic_auth_pass = \"p\"\n",
    )
    .unwrap();
    for args in [
        &["function", "get", "noop"][..],
        &["function", "download", "42"],
        &["function", "push", "noop", "RUST_WASM"],
    ] {
        let output = cli_in(work.path(), work.path(), &[], args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("no function repository") && stderr.contains("docker push"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_new_function_builds_and_runs_outside_the_repository() {
    let cluster = Cluster::builder().nodes(1).start();
    let work = tempfile::tempdir().unwrap();
    let shared = edgeless_tests::bin_dir()
        .parent()
        .unwrap()
        .join("functions");
    let run = |args: &[&str]| {
        let output = Command::new(bin("edgeless_cli"))
            .current_dir(work.path())
            .env("EDGELESS_FUNCTIONS_TARGET_DIR", &shared)
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            text(&output.stderr)
        );
        output
    };
    let created = run(&["function", "new", "hello", "--dir", "fns"]);
    assert!(text(&created.stderr).contains("using the edgeless_function SDK in"));
    let built = run(&["function", "build", "fns/hello/function.json"]);
    // Progress while it compiles, then the module's path.
    assert!(
        text(&built.stderr).contains("building "),
        "{}",
        text(&built.stderr)
    );
    let wasm = work.path().join("fns/hello/hello.wasm");
    assert_eq!(text(&built.stdout).trim(), "fns/hello/hello.wasm");
    assert!(wasm.exists());
    let workflow = work.path().join("hello.json");
    std::fs::write(
        &workflow,
        r#"{"functions": [{"name": "greeter",
            "class_specification": {"id": "hello", "function_type": "RUST_WASM", "version": "0.1",
                                    "code": "fns/hello/hello.wasm", "outputs": ["out"]},
            "output_mapping": {}, "annotations": {"init-payload": "hi"}}],
          "resources": [], "annotations": {}}"#,
    )
    .unwrap();
    let id = cluster.cli_ok(&["workflow", "start", &workflow.display().to_string()]);
    cluster.wait_for(
        std::time::Duration::from_secs(20),
        "the new function to start",
        |c| {
            c.nodes[0]
                .log()
                .contains("hello: started (payload Some(\"hi\")")
        },
    );
    cluster.cli_ok(&["workflow", "stop", &id]);
    cluster.wait_for(
        std::time::Duration::from_secs(10),
        "the new function to stop",
        |c| c.nodes[0].log().contains("hello: stopped"),
    );
}

#[test]
fn apply_starts_then_changes_a_workflow_in_place() {
    build_function("ping");
    build_function("pong");
    let cluster = Cluster::builder().nodes(1).start();
    let dir = tempfile::tempdir().unwrap();
    let spec = edgeless_tests::example_in(dir.path(), "ping_pong", &[]);
    let apply = |spec: &str| {
        let output = cluster.cli(&["workflow", "apply", spec, "--name", "pp"]);
        assert_eq!(output.code(), Some(0), "{}", output.stderr_text());
        (
            output.stdout_text().trim().to_string(),
            output.stderr_text(),
        )
    };
    // Nothing of that name runs: apply starts it.
    let (id, said) = apply(&spec);
    assert!(said.contains("workflow pp started"), "{said}");
    cluster.wait_for(std::time::Duration::from_secs(20), "pongs", |c| {
        c.nodes[0].log().contains("ping: PING #1 answered PONG")
    });
    let before = cluster.instances(&id);
    // The same file again: nothing changes, same instances.
    let (same_id, said) = apply(&spec);
    assert_eq!(same_id, id);
    assert!(said.contains("unchanged: pinger, ponger"), "{said}");
    assert_eq!(cluster.instances(&id), before);
    // Ping's period changes: ping is re-created, pong keeps its instance,
    // and the new ping's calls reach it (the mapping was patched).
    let changed =
        edgeless_tests::example_in(dir.path(), "ping_pong", &[("period=1000", "period=300")]);
    let (same_id, said) = apply(&changed);
    assert_eq!(same_id, id);
    assert!(said.contains("changed (re-created): pinger"), "{said}");
    assert!(said.contains("unchanged: ponger"), "{said}");
    let after = cluster.instances(&id);
    let of = |list: &[(String, Vec<(String, String)>)], name: &str| {
        list.iter().find(|(n, _)| n == name).unwrap().1.clone()
    };
    assert_eq!(
        of(&after, "ponger"),
        of(&before, "ponger"),
        "pong kept its instance"
    );
    assert_ne!(
        of(&after, "pinger"),
        of(&before, "pinger"),
        "ping was re-created"
    );
    let ping_function = of(&after, "pinger")[0].1.clone();
    cluster.wait_for(
        std::time::Duration::from_secs(20),
        "the new ping answered",
        |c| {
            c.nodes[0]
                .log()
                .lines()
                .any(|l| l.contains("answered PONG") && l.contains(&ping_function))
        },
    );
    // Only one workflow of that name runs throughout.
    assert_eq!(cluster.workflow_ids(), vec![id.clone()]);
    cluster.cli_ok(&["workflow", "stop", "pp"]);
    cluster.wait_until_idle();
}
