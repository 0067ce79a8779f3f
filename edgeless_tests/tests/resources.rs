//! Resource providers against their real counterparts: curl through
//! http-ingress, http-egress against a local HTTP server, file-log on disk,
//! redis against a real redis-server (stopped and restarted mid-way).

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use edgeless_tests::{Cluster, build_function, eventually, example_in, redis_server};

fn curl(args: &[&str]) -> (String, String) {
    let output = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", ""));
    (body.to_string(), code.to_string())
}

const INGRESS_HOST: &str = "Host: demo.edgeless.com";

/// `workflow start ARGS` must be refused by the cluster (exit 1) with
/// `reason` on stderr.
fn start_refused(cluster: &Cluster, args: &[&str], reason: &str) {
    let output = cluster.cli(&[&["workflow", "start"], args].concat());
    assert_eq!(output.code(), Some(1), "{args:?} was accepted");
    assert!(
        output.stderr_text().contains(reason),
        "{}",
        output.stderr_text()
    );
}

/// A cluster running the http_ingress example, answering already: the
/// cluster, a scratch folder, the workflow and the ingress URL.
fn ingress_cluster() -> (Cluster, tempfile::TempDir, String, String) {
    build_function("http_processor");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    let workflow = cluster.cli_ok(&[
        "workflow",
        "start",
        &example_in(dir.path(), "http_ingress", &[]),
    ]);
    let url = cluster.http_ingress_url.clone().unwrap();
    assert!(eventually(Duration::from_secs(10), || curl(&[
        "-H",
        INGRESS_HOST,
        &format!("{url}/hello")
    ])
    .1 == "200"));
    (cluster, dir, workflow, url)
}

#[test]
fn http_ingress_turns_requests_into_calls_and_replies_into_responses() {
    let (cluster, _dir, workflow, url) = ingress_cluster();
    let host = INGRESS_HOST;
    assert_eq!(
        curl(&["-H", host, &format!("{url}/hello")]),
        ("World".into(), "200".into())
    );
    assert_eq!(
        curl(&["-H", host, "-d", "ping", &format!("{url}/echo")]),
        ("ping".into(), "200".into())
    );
    assert_eq!(curl(&["-H", host, &format!("{url}/nope")]).1, "404");
    // No reply from the function: 204 without a body.
    assert_eq!(
        curl(&["-H", host, &format!("{url}/nothing")]),
        (String::new(), "204".into())
    );
    // The function fails: 502, and the reason.
    let (body, code) = curl(&["-H", host, &format!("{url}/fail")]);
    assert_eq!(code, "502");
    assert!(!body.trim().is_empty(), "a 502 says why");
    let (body, code) = curl(&["-H", "Host: other.example.com", &format!("{url}/hello")]);
    assert_eq!(code, "404");
    assert!(
        body.contains("no resource serves GET for host \"other.example.com\""),
        "{body}"
    );
    assert_eq!(
        curl(&["-X", "DELETE", "-H", host, &format!("{url}/hello")]).1,
        "404",
        "method not configured"
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    assert!(eventually(Duration::from_secs(5), || curl(&[
        "-H",
        host,
        &format!("{url}/hello")
    ])
    .1 == "404"));
}

#[test]
fn http_ingress_is_bounded_and_hosts_are_claimed_once() {
    let (cluster, dir, workflow, url) = ingress_cluster();
    let host = INGRESS_HOST;
    // Another workflow cannot take the host, nor every host.
    for (from, to, refusal) in [
        ("GET,POST", "GET,POST", "is served by another resource"),
        (
            "\"demo.edgeless.com\"",
            "\"*\"",
            "`*` (every host) is not allowed on this node",
        ),
    ] {
        let spec = example_in(dir.path(), "http_ingress", &[(from, to)]);
        start_refused(&cluster, &["--allow-duplicate", &spec], refusal);
    }
    // A body over the limit: 413, nothing reaches the function.
    let body = dir.path().join("body");
    std::fs::write(&body, vec![b'a'; (1 << 20) + 1]).unwrap();
    let (text, code) = curl(&[
        "-H",
        host,
        "--data-binary",
        &format!("@{}", body.display()),
        &format!("{url}/echo"),
    ]);
    assert_eq!(code, "413", "{text}");
    // Clients that never finish their headers are cut off.
    let address = url.trim_start_matches("http://").to_string();
    let mut slow: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            stream
                .write_all(b"GET /hello HTTP/1.1\r\nHost: demo.edg")
                .unwrap();
            stream
        })
        .collect();
    // Meanwhile others are served.
    assert_eq!(curl(&["-H", host, &format!("{url}/hello")]).1, "200");
    std::thread::sleep(Duration::from_secs(12));
    for stream in &mut slow {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 1024];
        let read = stream.read(&mut buffer);
        // Closed (maybe with a 408 first, maybe reset), not still waiting.
        let closed = match &read {
            Ok(0) => true,
            Ok(n) => buffer[..*n].starts_with(b"HTTP/1.1 408"),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        };
        assert!(closed, "a slow client's connection is still open: {read:?}");
    }
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

/// A one-route HTTP server on a free port answering every request with
/// `body`; the receiver gets each request as it arrived (head and body).
fn http_server(body: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen, requests) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = seen.send(read_request(&mut stream));
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (port, requests)
}

/// One HTTP/1.1 request: the head, then as many body bytes as its
/// Content-Length says.
fn read_request(stream: &mut std::net::TcpStream) -> String {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&data).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_string())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&data).into_owned(),
            Ok(n) => data.extend_from_slice(&buffer[..n]),
        }
    }
}

#[test]
fn http_egress_performs_requests_for_functions() {
    build_function("http_requestor");
    let (port, requests) = http_server("hello from the outside");
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    let target = format!("http://127.0.0.1:{port}/");
    let spec = example_in(
        dir.path(),
        "http_egress",
        &[
            ("http://127.0.0.1:10000/", &format!("{target}submit")),
            ("period=2000", "period=300,body=reading 42"),
        ],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(
        Duration::from_secs(15),
        "the egress answer in the log",
        |c| {
            c.nodes[0].log().contains(&format!(
                "http_requestor: {target}submit answered 200: hello from the outside"
            ))
        },
    );
    cluster.cli_ok(&["workflow", "stop", &workflow]);
    // What the server saw is what the function asked for.
    let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    let (head, body) = request.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    assert_eq!(lines.next(), Some("POST /submit HTTP/1.1"), "{request}");
    let headers: Vec<String> = lines.map(str::to_ascii_lowercase).collect();
    for expected in [
        format!("host: 127.0.0.1:{port}"),
        "x-edgeless-function: http_requestor".to_string(),
        "x-request-number: 1".to_string(),
        "content-length: 10".to_string(),
    ] {
        assert!(headers.contains(&expected), "{expected} not in {headers:?}");
    }
    assert_eq!(body, "reading 42");

    // A server that is not there (a port held but not listening refuses
    // connections): the function sees an error, the node keeps running.
    let (_held, port) = edgeless_tests::refused_port();
    let dead = format!("http://127.0.0.1:{port}/");
    let spec = example_in(
        dir.path(),
        "http_egress",
        &[("http://127.0.0.1:10000/", &dead)],
    );
    let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
    cluster.wait_for(Duration::from_secs(15), "the failure to be reported", |c| {
        c.nodes[0]
            .log()
            .contains(&format!("http_requestor: GET {dead} failed"))
    });
    cluster.cli_ok(&["workflow", "stop", &workflow]);
}

#[test]
fn http_egress_stays_within_the_node_policy_and_bounds() {
    build_function("http_requestor");
    // 5 MiB: over the 4 MiB response bound.
    let huge: &'static str = Box::leak("x".repeat(5 << 20).into_boxed_str());
    let (big_port, _requests) = http_server(huge);
    let cluster = Cluster::builder().nodes(1).resources().start();
    let dir = tempfile::tempdir().unwrap();
    let agent_port = cluster.agent_urls[0]
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    // The harness allows 127.0.0.1 only: a cloud metadata address, another
    // loopback address and the node's own agent are out of reach.
    for (target, refusal) in [
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "169.254.169.254 is not reachable from this node's resources".to_string(),
        ),
        (
            "http://127.0.0.2:80/".to_string(),
            "127.0.0.2 is not reachable from this node's resources".to_string(),
        ),
        (
            format!("http://127.0.0.1:{agent_port}/"),
            format!("127.0.0.1:{agent_port} is this node's own service"),
        ),
        (
            format!("http://127.0.0.1:{big_port}/"),
            "length limit exceeded".to_string(),
        ),
    ] {
        let spec = example_in(
            dir.path(),
            "http_egress",
            &[
                ("http://127.0.0.1:10000/", &target),
                ("period=2000", "period=300"),
            ],
        );
        let workflow = cluster.cli_ok(&["workflow", "start", &spec]);
        cluster.wait_for(Duration::from_secs(15), &format!("{target} refused"), |c| {
            let log = c.nodes[0].log();
            log.contains("http-egress request failed") && log.contains(&refusal)
        });
        cluster.cli_ok(&["workflow", "stop", &workflow]);
    }
    assert!(
        !cluster.nodes[0].log().contains("answered 200"),
        "a refused request got through"
    );
}

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
        start_refused(&cluster, &[&spec], "is not a plain relative path");
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
    start_refused(&cluster, &[&spec], "no local sockets");
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
            let request = read_request(&mut stream);
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
    let value = cluster.inspect(&workflow);
    let instance = value["components"][0]["instances"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (node, function) = instance.split_once('/').unwrap();
    let invoke = |payload: &str| {
        cluster.cli_ok(&[
            "function",
            "invoke",
            "cast",
            &cluster.invocation_urls[0],
            node,
            function,
            payload,
        ]);
    };
    let since_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    invoke("workflow:begin:7");
    invoke("workflow:end:7");
    invoke("workflow:begin:8");
    invoke("workflow:end:8");
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
