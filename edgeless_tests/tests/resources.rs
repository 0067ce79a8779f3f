//! Resource providers against their real counterparts: file-log on disk,
//! redis against a real redis-server (stopped and restarted mid-way), ollama
//! against a fake Ollama server behind http-ingress, metrics in Redis. The
//! HTTP providers have `http_resources.rs`.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use edgeless_tests::{
    Cluster, build_function, curl, eventually, example_in, read_http_request, redis_server,
};

#[test]
fn file_log_appends_payloads_and_bad_configurations_are_named() {
    build_function("message_generator");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    // Files go in the node's file_log_dir.
    let file = cluster.dir().join("file-log/logs/out.log");
    let spec = example_in(
        dir.path(),
        "file_log",
        &[("my-local-file.log", "logs/out.log")],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(15), "three lines in the file", |_| {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .lines()
            .count()
            >= 3
    });
    let text = std::fs::read_to_string(&file).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.contains("[#0]: hello file"), "{first}");
    assert!(
        first.starts_with("20") && first.contains('T') && first.contains("Z "),
        "timestamped: {first}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);

    let bad = example_in(
        dir.path(),
        "file_log",
        &[("\"filename\": \"my-local-file.log\", ", "")],
    );
    let output = cluster.cli(&["workflow", "start", &bad]);
    assert_eq!(output.code(), Some(1));
    assert!(
        output.stderr_text().contains("resource `log`: ")
            && output
                .stderr_text()
                .contains("file-log: missing configuration key `filename`"),
        "{}",
        output.stderr_text()
    );
    // A workflow cannot write outside the folder.
    let outside = dir.path().join("cron-line");
    for escape in [outside.display().to_string(), "../../cron-line".to_string()] {
        let spec = example_in(dir.path(), "file_log", &[("my-local-file.log", &escape)]);
        cluster.start_refused(&[&spec], "is not a plain relative path");
    }
    assert!(!outside.exists());
    let unknown = example_in(
        dir.path(),
        "file_log",
        &[(
            "\"class_type\": \"file-log\"",
            "\"class_type\": \"file-logger\"",
        )],
    );
    let output = cluster.cli(&["workflow", "start", &unknown]);
    assert!(
        output
            .stderr_text()
            .contains("no provider of resource class `file-logger`"),
        "{}",
        output.stderr_text()
    );
    assert!(cluster.workflow_ids().is_empty());
}

fn redis_get(url: &str, key: &str) -> Option<String> {
    let port = url.rsplit(':').next().unwrap();
    let output = Command::new("redis-cli")
        .args(["-p", port, "GET", key])
        .output()
        .ok()?;
    let value = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && !value.is_empty()).then_some(value)
}

#[test]
fn redis_reaches_only_what_the_node_allows() {
    build_function("counter");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    // A local socket: refused at start.
    let spec = example_in(
        dir.path(),
        "redis",
        &[("redis://127.0.0.1:6379", "redis+unix:///var/run/redis.sock")],
    );
    cluster.start_refused(&[&spec], "no local sockets");
    // An address the node does not allow (only 127.0.0.1 here): each SET
    // fails with the reason, nothing is sent there.
    let spec = example_in(
        dir.path(),
        "redis",
        &[("redis://127.0.0.1:6379", "redis://169.254.169.254:6379")],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(15), "the refusal", |c| {
        let log = c.nodes[0].log();
        log.contains("redis: SET failed") && log.contains("169.254.169.254 is not reachable")
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
#[cfg_attr(skip_redis, ignore = "EDGELESS_TEST_SKIP=redis")]
fn redis_sets_keys_and_recovers_when_the_server_returns() {
    let (redis, redis_url) = redis_server();
    build_function("counter");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    let spec = example_in(
        dir.path(),
        "redis",
        &[("redis://127.0.0.1:6379", &redis_url)],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(15), "the counter in Redis", |_| {
        redis_get(&redis_url, "example-redis")
            .and_then(|v| v.parse::<i64>().ok())
            .is_some_and(|v| v >= 43)
    });

    // Stop Redis: SETs fail and are logged, the node keeps running.
    let port: u16 = redis_url.rsplit(':').next().unwrap().parse().unwrap();
    drop(redis);
    cluster.wait_for(Duration::from_secs(15), "the failure to be logged", |c| {
        c.nodes[0].log().contains("redis: SET failed")
    });
    // Bring it back on the same port: values flow again.
    let dir_again = tempfile::tempdir().unwrap();
    let mut again = edgeless_tests::Daemon::redis_on(port, dir_again);
    assert!(
        again.wait_for_redis(),
        "the port was taken: {}",
        again.log()
    );
    cluster.wait_for(
        Duration::from_secs(20),
        "values in the restarted Redis",
        |_| redis_get(&redis_url, "example-redis").is_some(),
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// A loopback server speaking Ollama's `POST /api/chat` (not streamed): it
/// answers `echo: <last message> (<n> messages)`.
fn fake_ollama() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let request = read_http_request(&mut stream);
            let (_, body) = request.split_once("\r\n\r\n").unwrap_or_default();
            // Whatever arrives goes to the test, which checks it.
            let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
            let _ = seen.send(request.clone());
            let last = parsed.as_ref().and_then(|r| {
                let messages = r["messages"].as_array()?;
                Some((
                    messages.last()?["content"].as_str()?.to_string(),
                    messages.len(),
                ))
            });
            let response = match (parsed, last) {
                (Some(request), Some((last, count))) => {
                    let answer = serde_json::json!({
                        "model": request["model"],
                        "message": {"role": "assistant", "content": format!("echo: {last} ({count} messages)")},
                        "done": true,
                    })
                    .to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    )
                }
                _ => "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, requests)
}

#[test]
fn ollama_chats_and_keeps_the_conversation() {
    build_function("http_extractor");
    let (port, requests) = fake_ollama();
    let cluster = Cluster::builder().nodes(1).resources().ollama(port).start();
    let dir = tempfile::tempdir().unwrap();
    // file-log writes in the node's file_log_dir.
    let answers = cluster.dir().join("file-log/ollama-answers.log");
    let spec = example_in(dir.path(), "ollama", &[]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    let url = cluster.http_ingress_url.clone().unwrap();
    let post = |text: &str| {
        curl(&[
            "-H",
            "Host: ollama.edgeless.com",
            "-d",
            text,
            &format!("{url}/"),
        ])
    };
    assert!(eventually(Duration::from_secs(10), || post("hello").1 == "200"));
    cluster.wait_for(Duration::from_secs(10), "the first answer", |_| {
        std::fs::read_to_string(&answers)
            .unwrap_or_default()
            .contains("echo: hello (1 messages)")
    });
    post("and again");
    cluster.wait_for(
        Duration::from_secs(10),
        "an answer that saw the conversation",
        |_| {
            std::fs::read_to_string(&answers)
                .unwrap_or_default()
                .contains("echo: and again (3 messages)")
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    // The provider spoke the chat API: the model configured, and the whole
    // conversation so far with each question.
    let chats: Vec<serde_json::Value> = requests
        .try_iter()
        .map(|request| {
            let (head, body) = request.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("POST /api/chat HTTP/1.1"), "{head}");
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
        })
        .collect();
    assert_eq!(chats.len(), 2, "{chats:?}");
    assert_eq!(chats[0]["model"], "llama3");
    assert_eq!(chats[0]["stream"], false);
    let roles = |chat: &serde_json::Value| -> Vec<(String, String)> {
        chat["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().into(),
                    m["content"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(roles(&chats[0]), [("user".into(), "hello".into())]);
    assert_eq!(
        roles(&chats[1]),
        [
            ("user".to_string(), "hello".to_string()),
            ("assistant".into(), "echo: hello (1 messages)".into()),
            ("user".into(), "and again".into()),
        ]
    );

    let no_model = example_in(dir.path(), "ollama", &[("{ \"model\": \"llama3\" }", "{}")]);
    let output = cluster.cli(&["workflow", "start", &no_model]);
    assert!(
        output
            .stderr_text()
            .contains("ollama: missing configuration key `model`"),
        "{}",
        output.stderr_text()
    );
}

#[test]
#[cfg_attr(skip_redis, ignore = "EDGELESS_TEST_SKIP=redis")]
fn metrics_collector_records_latencies_in_redis() {
    let (_redis, redis_url) = redis_server();
    let cluster = Cluster::builder()
        .nodes(1)
        .resources()
        .metrics_collector(&redis_url)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let workflow = cluster.cli_ok(&[
        "workflow",
        "start",
        &example_in(dir.path(), "metrics_collector", &[]),
    ]);
    let since_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    cluster.cast_to_first_instance(
        &workflow,
        [
            "workflow:begin:7",
            "workflow:end:7",
            "workflow:begin:8",
            "workflow:end:8",
        ],
    );
    let port = redis_url.rsplit(':').next().unwrap().to_string();
    let lrange = || {
        let out = Command::new("redis-cli")
            .args(["-p", &port, "LRANGE", "workflow:example:samples", "0", "-1"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    cluster.wait_for(Duration::from_secs(10), "two latency samples", |_| {
        lrange().lines().count() >= 2
    });
    // Each sample is `latency_ms,unix_ms`, recorded after this test began.
    let samples: Vec<(f64, u128)> = lrange()
        .lines()
        .map(|line| {
            let (latency, at) = line.trim().split_once(',').expect("latency,unix_ms");
            (latency.parse().unwrap(), at.parse().unwrap())
        })
        .collect();
    for (latency, at) in &samples {
        assert!(*latency >= 0.0 && *at >= since_ms, "{samples:?}");
    }
    // The average is the documented moving average of the samples
    // (alpha 0.9 in the example; the first sample starts it).
    let expected = 0.9 * samples[0].0 + 0.1 * samples[1].0;
    let average: f64 = redis_get(&redis_url, "workflow:example:average")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (average - expected).abs() < 0.002,
        "average {average}, expected {expected} from {samples:?}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn available_resources_are_listed() {
    let output = Command::new(edgeless_tests::bin("edgeless_node_d"))
        .arg("--available-resources")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for class in [
        "http-ingress",
        "http-egress",
        "file-log",
        "redis",
        "ollama",
        "metrics-collector",
    ] {
        assert!(
            text.contains(&format!("{class} (version ")),
            "{class} missing:\n{text}"
        );
    }
    assert!(
        text.contains("configuration `filename`") && text.contains("outputs: [new_request]"),
        "{text}"
    );
}

#[test]
fn secrets_in_resource_settings_stay_out_of_inspect_and_logs() {
    build_function("counter");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    // A Redis that is not there, behind a password: every SET fails and is
    // logged.
    let (_held, port) = edgeless_tests::refused_port();
    let url = format!("redis://:hunter2@127.0.0.1:{port}");
    let spec = example_in(dir.path(), "redis", &[("redis://127.0.0.1:6379", &url)]);
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(15), "a failed SET in the log", |c| {
        c.nodes[0].log().contains("redis: SET failed")
    });
    let text = cluster.cli_ok(&["workflow", "inspect", &workflow]);
    let json = cluster.cli_ok(&["workflow", "inspect", &workflow, "-o", "json"]);
    let logs = cluster.logs();
    for (what, shown) in [
        ("inspect", &text),
        ("inspect -o json", &json),
        ("logs", &logs),
    ] {
        assert!(
            !shown.contains("hunter2"),
            "{what} shows the password:\n{shown}"
        );
    }
    assert!(
        text.contains(&format!("CONF url -> redis://:****@127.0.0.1:{port}")),
        "{text}"
    );
    assert!(
        logs.contains(&format!("redis://:****@127.0.0.1:{port}")),
        "{logs}"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}
