//! The HTTP resource providers against real clients and servers: curl
//! through http-ingress, http-egress against a local HTTP server, and the
//! bounds and policies of both.

use std::io::{Read, Write};
use std::time::Duration;

use edgeless_tests::{Cluster, build_function, curl, eventually, example_in, http_server};

const INGRESS_HOST: &str = "Host: demo.edgeless.com";

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
    // A binary body of the largest size accepted comes back unchanged.
    let files = tempfile::tempdir().unwrap();
    let (sent, echoed) = (files.path().join("sent"), files.path().join("echoed"));
    let body: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    std::fs::write(&sent, &body).unwrap();
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-f",
            "-H",
            host,
            "-H",
            "content-type: application/octet-stream",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", sent.display()))
        .arg("-o")
        .arg(&echoed)
        .arg(format!("{url}/echo"))
        .status()
        .unwrap();
    assert!(status.success(), "curl: {status}");
    assert!(
        std::fs::read(&echoed).unwrap() == body,
        "the echoed body differs from the 1 MiB sent"
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
        cluster.start_refused(&["--allow-duplicate", &spec], refusal);
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
