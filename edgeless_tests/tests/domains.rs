//! Workflows across orchestration domains, with real processes: a
//! controller, two or three domains (each an orchestrator and its nodes,
//! some with an ε-BAL). Components pinned to different domains by labels
//! exchange casts and calls both ways, directly or through the ε-BALs; a
//! component and a whole workflow move between domains with their state;
//! a lost domain's components are placed again while the others keep
//! running.

use std::path::Path;
use std::time::Duration;

use edgeless_tests::{Cluster, build_function, count};

/// ping_pong with the pinger and the ponger each asking for a node label
/// (empty: none), pinging every 200 ms, and the workflow's `annotations`.
fn ping_pong(dir: &Path, pinger: &str, ponger: &str, annotations: &str) -> String {
    let (ping, pong) = (build_function("ping"), build_function("pong"));
    let label = |l: &str| {
        if l.is_empty() {
            String::new()
        } else {
            format!(r#", "label_match_all": "{l}""#)
        }
    };
    let spec = format!(
        r#"{{ "functions": [
  {{ "name": "pinger",
    "class_specification": {{ "id": "ping", "function_type": "RUST_WASM", "version": "0.1",
      "code": "{}", "outputs": ["ponger"] }},
    "output_mapping": {{ "ponger": "ponger" }},
    "annotations": {{ "init-payload": "period=200"{} }} }},
  {{ "name": "ponger",
    "class_specification": {{ "id": "pong", "function_type": "RUST_WASM", "version": "0.1",
      "code": "{}", "outputs": [] }},
    "output_mapping": {{}},
    "annotations": {{ {} }} }}
  ],
  "resources": [],
  "annotations": {{ {annotations} }} }}"#,
        ping.display(),
        label(pinger),
        pong.display(),
        label(ponger).trim_start_matches(", "),
    );
    let path = dir.join("ping_pong.json");
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

/// Each component's domain, as `workflow inspect` shows it.
fn domains_of(cluster: &Cluster, workflow: &str) -> Vec<(String, String)> {
    cluster.inspect(workflow)["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["domain"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

/// How many of the pinger's calls were answered, per its logs.
fn answered(cluster: &Cluster, workflow: &str) -> usize {
    count(
        &cluster.cli_ok(&["workflow", "logs", workflow, "--function", "pinger"]),
        "answered PONG",
    )
}

/// Waits until `more` further pings were answered.
fn answers_keep_coming(cluster: &Cluster, workflow: &str, more: usize, what: &str) {
    let before = answered(cluster, workflow);
    cluster.wait_for(Duration::from_secs(30), what, |c| {
        answered(c, workflow) >= before + more
    });
}

/// `domain list -o json`, parsed.
fn domain_list(cluster: &Cluster) -> Vec<serde_json::Value> {
    let listed = cluster.cli_ok(&["domain", "list", "-o", "json"]);
    serde_json::from_str::<serde_json::Value>(&listed)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn two_sites(
    first: edgeless_tests::ClusterBuilder,
    second: edgeless_tests::ClusterBuilder,
) -> Cluster {
    let mut cluster = first.domain_id("site-a").labels(0, &["site-a"]).start();
    cluster.add_domain(second.domain_id("site-b").labels(0, &["site-b"]));
    cluster
}

#[test]
fn components_pinned_to_two_domains_cast_and_call_both_ways() {
    let wasm = build_function("compat_probe");
    let cluster = two_sites(Cluster::builder(), Cluster::builder());
    let dir = tempfile::tempdir().unwrap();
    // compat_probe: the starter calls and casts the responder, which calls
    // and casts back; each is pinned to one site.
    let function = |name: &str, peer: &str, payload: &str, site: &str| {
        format!(
            r#"{{ "name": "{name}",
  "class_specification": {{ "id": "compat_probe", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": ["peer"] }},
  "output_mapping": {{ "peer": "{peer}" }},
  "annotations": {{ "init-payload": "{payload}", "label_match_all": "{site}" }} }}"#,
            wasm.display()
        )
    };
    let spec = dir.path().join("compat.json");
    std::fs::write(
        &spec,
        format!(
            r#"{{ "functions": [{}, {}], "resources": [], "annotations": {{}} }}"#,
            function(
                "starter",
                "responder",
                "role=starter,sizes=1:2,verbose=true",
                "site-a"
            ),
            function("responder", "starter", "role=responder", "site-b"),
        ),
    )
    .unwrap();
    let id = cluster.cli_ok(&["workflow", "start", spec.to_str().unwrap()]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("starter", "site-a"), pair("responder", "site-b")]
    );
    let mut logs = String::new();
    cluster.wait_for(
        Duration::from_secs(30),
        "the exchange across domains",
        |c| {
            logs = c.cli_ok(&["workflow", "logs", &id]);
            logs.contains("compat: raw reply")
        },
    );
    for line in [
        // The responder's call to the starter, answered across domains.
        "compat: reply answer to question",
        "compat: raw reply answer to direct question",
        // Casts from the starter reached the responder.
        "compat: parsed 2 pairs",
    ] {
        assert!(logs.contains(line), "{line} in\n{logs}");
    }
    assert!(!logs.contains("WARN") && !logs.contains("ERROR"), "{logs}");
    // The list names both domains; each domain lists its link to the other.
    let list = cluster.cli_ok(&["workflow", "list", "-o", "json"]);
    assert!(list.contains("\"site-a,site-b\""), "{list}");
    for domain in domain_list(&cluster) {
        let other = if domain["domain_id"] == "site-a" {
            "site-b"
        } else {
            "site-a"
        };
        assert_eq!(
            domain["links"],
            serde_json::json!([format!("{other} (direct, 1 workflows)")]),
            "{domain}"
        );
    }
    // Stopped, nothing of it runs anywhere, and the links are gone.
    cluster.cli_ok(&["workflow", "stop", &id]);
    for domain in ["site-a", "site-b"] {
        let view = cluster.cli_ok(&["domain", "view", domain, "-o", "json"]);
        let view: serde_json::Value = serde_json::from_str(&view).unwrap();
        assert_eq!(view["components"], serde_json::json!([]), "{domain}");
    }
    assert!(
        domain_list(&cluster)
            .iter()
            .all(|d| d["links"] == serde_json::json!([]))
    );
}

#[test]
fn through_the_balancers_when_the_domains_have_them() {
    let mut cluster = two_sites(Cluster::builder().balancer(), Cluster::builder().balancer());
    let dir = tempfile::tempdir().unwrap();
    let spec = ping_pong(dir.path(), "site-a", "site-b", "");
    let id = cluster.cli_ok(&["workflow", "start", &spec]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("pinger", "site-a"), pair("ponger", "site-b")]
    );
    answers_keep_coming(&cluster, &id, 5, "pings answered across the balancers");
    // Each domain's ε-BAL answers its orchestrator, and the link says how
    // events cross.
    cluster.wait_for(Duration::from_secs(10), "both balancers healthy", |c| {
        domain_list(c).iter().all(|d| {
            d["balancer_healthy"] == true && !d["balancer_url"].as_str().unwrap().is_empty()
        })
    });
    let links: Vec<serde_json::Value> = domain_list(&cluster)
        .iter()
        .map(|d| d["links"].clone())
        .collect();
    assert_eq!(
        links,
        vec![
            serde_json::json!(["site-b (balancer, 1 workflows)"]),
            serde_json::json!(["site-a (balancer, 1 workflows)"]),
        ]
    );
    // The pinger's node sends to the ponger's node through its balancer.
    let site_a_balancer = cluster_balancer_url(&cluster);
    let ponger_node = cluster.nodes_of(&id, "ponger")[0].clone();
    let node_log = cluster.nodes[0].log();
    assert!(
        node_log.lines().any(|l| l.contains("peer added")
            && l.contains(&ponger_node)
            && l.contains(&site_a_balancer)),
        "no link to {ponger_node} through {site_a_balancer}:\n{node_log}"
    );
    // Without site-a's balancer, calls across fail (and say so); back, they
    // are answered again: the events took that path.
    cluster.balancer.as_mut().unwrap().kill();
    cluster.wait_for(
        Duration::from_secs(20),
        "calls failing without the balancer",
        |c| {
            let logs = c.cli_ok(&[
                "workflow",
                "logs",
                &id,
                "--function",
                "pinger",
                "--tail",
                "3",
            ]);
            logs.contains("failed") || logs.contains("got no reply")
        },
    );
    restart_first_balancer(&mut cluster);
    answers_keep_coming(
        &cluster,
        &id,
        5,
        "pings answered again with the balancer back",
    );
    cluster.cli_ok(&["workflow", "stop", &id]);
}

#[test]
fn through_the_balancers_with_tls() {
    let cluster = two_sites(
        Cluster::builder().tls().balancer(),
        Cluster::builder().tls().balancer(),
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = ping_pong(dir.path(), "site-a", "site-b", "");
    let id = cluster.cli_ok(&["workflow", "start", &spec]);
    answers_keep_coming(&cluster, &id, 5, "pings answered across TLS balancers");
    assert!(cluster_balancer_url(&cluster).starts_with("https://"));
    cluster.cli_ok(&["workflow", "stop", &id]);
}

/// The first domain's balancer URL, from `domain list`.
fn cluster_balancer_url(cluster: &Cluster) -> String {
    domain_list(cluster)
        .iter()
        .find(|d| d["domain_id"] == "site-a")
        .and_then(|d| d["balancer_url"].as_str().map(str::to_string))
        .unwrap()
}

fn restart_first_balancer(cluster: &mut Cluster) {
    let config = cluster.dir().join("balancer0.toml");
    let mut balancer = edgeless_tests::Daemon::start(
        "balancer (restarted)",
        "edgeless_bal_d",
        &config,
        cluster.dir().join("balancer0-restarted.log"),
    );
    balancer.listening();
    cluster.balancer = Some(balancer);
}

#[test]
fn a_component_and_then_the_workflow_move_to_another_domain_with_their_state() {
    let cluster = two_sites(Cluster::builder(), Cluster::builder());
    let dir = tempfile::tempdir().unwrap();
    // No labels: the whole workflow fits site-a, the first domain.
    let spec = ping_pong(dir.path(), "", "", "");
    let id = cluster.cli_ok(&["workflow", "start", &spec]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("pinger", "site-a"), pair("ponger", "site-a")]
    );
    answers_keep_coming(&cluster, &id, 5, "pings answered in site-a");

    cluster.cli_ok(&["workflow", "migrate-component", &id, "site-b", "ponger"]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("pinger", "site-a"), pair("ponger", "site-b")]
    );
    answers_keep_coming(&cluster, &id, 5, "pings answered by the moved ponger");

    let before = answered(&cluster, &id);
    cluster.cli_ok(&["workflow", "migrate", &id, "site-b"]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("pinger", "site-b"), pair("ponger", "site-b")]
    );
    answers_keep_coming(&cluster, &id, 5, "pings answered after the move");
    // The moved pinger went on from its synced count: it started from a
    // count the old one had reached, and counted on.
    let logs = cluster.cli_ok(&["workflow", "logs", &id, "--function", "pinger"]);
    let restored: Vec<u64> = logs
        .lines()
        .filter_map(|l| l.split("ping: started at count ").nth(1))
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    assert!(
        restored.iter().any(|n| *n as usize + 3 >= before && *n > 0),
        "no instance restored the count ({before} answered before the move): {restored:?}\n{logs}"
    );
    // Nothing of it is left in site-a: it never runs twice.
    let view = cluster.cli_ok(&["domain", "view", "site-a", "-o", "json"]);
    let view: serde_json::Value = serde_json::from_str(&view).unwrap();
    assert_eq!(view["components"], serde_json::json!([]));
    // The move is refused where the component cannot run, naming why.
    let refused = cluster.cli(&["workflow", "migrate-component", &id, "nowhere", "ponger"]);
    assert_ne!(refused.code(), Some(0));
    assert!(
        refused.stderr_text().contains("nowhere"),
        "{}",
        refused.stderr_text()
    );
    cluster.cli_ok(&["workflow", "stop", &id]);
}

#[test]
fn a_lost_domain_s_components_go_to_another_while_the_rest_keeps_running() {
    let mut cluster = two_sites(Cluster::builder(), Cluster::builder());
    // A third domain that can take the ponger too.
    cluster.add_domain(
        Cluster::builder()
            .domain_id("site-c")
            .labels(0, &["site-b"]),
    );
    let dir = tempfile::tempdir().unwrap();
    let spec = ping_pong(dir.path(), "site-a", "site-b", "");
    let id = cluster.cli_ok(&["workflow", "start", &spec]);
    assert_eq!(
        domains_of(&cluster, &id),
        vec![pair("pinger", "site-a"), pair("ponger", "site-b")]
    );
    answers_keep_coming(&cluster, &id, 3, "pings answered across domains");
    let pinger = cluster.instances(&id)[0].1.clone();

    // site-b loses power: the ponger moves to site-c; the pinger keeps its
    // instance and is wired to the new ponger.
    cluster.domains[0].kill();
    cluster.wait_for(
        Duration::from_secs(30),
        "the ponger placed in site-c",
        |c| domains_of(c, &id) == vec![pair("pinger", "site-a"), pair("ponger", "site-c")],
    );
    answers_keep_coming(&cluster, &id, 5, "pings answered by the ponger in site-c");
    assert_eq!(
        cluster.instances(&id)[0].1,
        pinger,
        "the pinger was re-created"
    );

    // site-c goes too: nowhere can take the ponger; the workflow says so.
    cluster.domains[1].kill();
    cluster.wait_for(Duration::from_secs(30), "the workflow degraded", |c| {
        let list = c.cli_ok(&["workflow", "list", "-o", "json"]);
        list.contains("degraded: no domain can host the workflow") && list.contains("ponger")
    });
}

#[test]
fn placement_annotations_nobody_can_satisfy_are_refused_naming_them() {
    let cluster = two_sites(Cluster::builder(), Cluster::builder());
    let dir = tempfile::tempdir().unwrap();
    // Pinned apart, but not allowed to split.
    let spec = ping_pong(dir.path(), "site-a", "site-b", r#""max_domains": "1""#);
    cluster.start_refused(&[&spec], "max_domains");
    // Colocated, but pinned apart.
    let spec = ping_pong(
        dir.path(),
        "site-a",
        "site-b",
        r#""colocate": "pinger,ponger""#,
    );
    cluster.start_refused(&[&spec], "colocate");
    // Limited to a domain that cannot host the ponger.
    let spec = ping_pong(
        dir.path(),
        "site-a",
        "site-b",
        r#""domain_match_any": "site-a""#,
    );
    cluster.start_refused(&[&spec], "domain_match_any");
    assert!(cluster.workflow_ids().is_empty());
}

/// An HTTP service (http-ingress → http_processor) kept to `domain`.
fn web_service(dir: &Path, domain: &str) -> String {
    let code = build_function("http_processor");
    let spec = format!(
        r#"{{ "functions": [
  {{ "name": "processor",
    "class_specification": {{ "id": "http_processor", "function_type": "RUST_WASM", "version": "0.1",
      "code": "{}", "outputs": [] }},
    "output_mapping": {{}}, "annotations": {{}} }} ],
  "resources": [
  {{ "name": "ingress", "class_type": "http-ingress",
    "output_mapping": {{ "new_request": "processor" }},
    "configurations": {{ "host": "demo.edgeless.com", "methods": "GET" }} }} ],
  "annotations": {{ "domain_match_any": "{domain}" }} }}"#,
        code.display()
    );
    let path = dir.join(format!("web-{domain}.json"));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

/// `GET /hello` through the balancer's HTTP front for `host`: the status,
/// the body, and the backend that served it.
fn get_hello(front: &str, host: &str) -> (String, String, String) {
    let (text, code) = edgeless_tests::curl(&[
        "-i",
        "-H",
        &format!("Host: {host}"),
        &format!("{front}/hello"),
    ]);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or(("", &text));
    let backend = head
        .lines()
        .find_map(|l| l.strip_prefix("x-edgeless-backend: "))
        .unwrap_or_default()
        .trim()
        .to_string();
    (code, body.trim().to_string(), backend)
}

#[test]
fn the_balancer_spreads_http_ingress_traffic_across_domains() {
    let mut cluster = Cluster::builder().domain_id("site-a").resources().start();
    cluster.add_domain(
        Cluster::builder()
            .domain_id("site-b")
            .resources()
            .balancer(),
    );
    let front = cluster.domains[0].balancer_http_url.clone().unwrap();
    // The balancer names a backend by a label, never by its internal URL.
    let label = |url: Option<String>| edgeless_api::secrets::opaque_label(&url.unwrap());
    let ingress_a = label(cluster.http_ingress_url.clone());
    let ingress_b = label(cluster.domains[0].http_ingress_url.clone());
    let dir = tempfile::tempdir().unwrap();
    for (name, domain) in [("web-a", "site-a"), ("web-b", "site-b")] {
        let spec = web_service(dir.path(), domain);
        cluster.cli_ok(&["workflow", "start", &spec, "--name", name]);
    }
    // Once the routes reached the balancer, requests go to both domains'
    // ingress in turn.
    cluster.wait_for(Duration::from_secs(20), "routes to both domains", |_| {
        let served: Vec<String> = (0..2)
            .map(|_| get_hello(&front, "demo.edgeless.com").2)
            .collect();
        served.contains(&ingress_a) && served.contains(&ingress_b)
    });
    let answers: Vec<(String, String, String)> = (0..10)
        .map(|_| get_hello(&front, "demo.edgeless.com"))
        .collect();
    for (code, body, _) in &answers {
        assert_eq!((code.as_str(), body.as_str()), ("200", "World"));
    }
    let on_a = answers.iter().filter(|a| a.2 == ingress_a).count();
    let on_b = answers.iter().filter(|a| a.2 == ingress_b).count();
    assert_eq!((on_a, on_b), (5, 5), "round robin: {answers:?}");
    // A host nobody serves is a 404 that says so.
    let (code, body, _) = get_hello(&front, "nobody.example");
    assert_eq!(code, "404");
    assert!(
        body.contains("no workflow serves host \"nobody.example\""),
        "{body}"
    );
    // site-a loses power: every request is served by site-b, even before
    // the route to site-a is withdrawn.
    cluster.orchestrator.kill();
    for node in &mut cluster.nodes {
        node.kill();
    }
    for _ in 0..6 {
        let (code, body, backend) = get_hello(&front, "demo.edgeless.com");
        assert_eq!(
            (code.as_str(), body.as_str(), backend.as_str()),
            ("200", "World", ingress_b.as_str())
        );
    }
}
