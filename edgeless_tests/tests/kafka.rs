//! The `kafka-egress` resource against a real Kafka-compatible broker
//! (Tansu, in memory): a workflow's events reach a topic and are read back
//! with a Kafka consumer; the broker stopped mid-run makes sends fail
//! (reported, the node keeps running) and delivery resumes once it is
//! back; bad settings are refused at start with the key's name.

use std::time::Duration;

use edgeless_tests::{
    Cluster, build_function, create_topic, eventually, free_port, kafka_broker, require_tansu,
};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;

const TOPIC: &str = "edgeless-out";

/// The values of the records in `topic` on the broker at `port` (empty
/// while it cannot be read).
fn records(port: u16) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let read = async {
            let client = ClientBuilder::new(vec![format!("127.0.0.1:{port}")])
                .build()
                .await
                .ok()?;
            let partition = client
                .partition_client(TOPIC, 0, UnknownTopicHandling::Error)
                .await
                .ok()?;
            let (records, _) = partition.fetch_records(0, 1..1_000_000, 500).await.ok()?;
            Some(
                records
                    .into_iter()
                    .map(|r| {
                        String::from_utf8_lossy(&r.record.value.unwrap_or_default()).into_owned()
                    })
                    .collect(),
            )
        };
        tokio::time::timeout(Duration::from_secs(5), read)
            .await
            .ok()
            .flatten()
            .unwrap_or_default()
    })
}

/// A workflow of message_generator (every 200 ms) into kafka-egress with
/// `configuration` (JSON members).
fn workflow(dir: &std::path::Path, configuration: &str) -> String {
    let wasm = build_function("message_generator");
    let spec = format!(
        r#"{{ "functions": [ {{ "name": "generator",
  "class_specification": {{ "id": "message_generator", "function_type": "RUST_WASM", "version": "0.1",
    "code": "{}", "outputs": ["output"] }},
  "output_mapping": {{ "output": "topic" }},
  "annotations": {{ "init-payload": "message=hello,period=200" }} }} ],
  "resources": [ {{ "name": "topic", "class_type": "kafka-egress", "output_mapping": {{}},
    "configurations": {{ {configuration} }} }} ],
  "annotations": {{}} }}"#,
        wasm.display()
    );
    let path = dir.join(format!("kafka-{}.json", spec.len()));
    std::fs::write(&path, spec).unwrap();
    path.display().to_string()
}

#[test]
#[cfg_attr(skip_kafka, ignore = "EDGELESS_TEST_SKIP=kafka")]
fn events_reach_a_topic_and_delivery_resumes_after_a_broker_restart() {
    require_tansu();
    build_function("message_generator");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = || std::fs::File::create(dir.path().join("tansu.log")).unwrap();
    let broker = kafka_broker(port, log());
    create_topic(port, TOPIC);
    let cluster = Cluster::builder().nodes(1).resources().start();
    let brokers = format!("\"brokers\": \"127.0.0.1:{port}\", \"topic\": \"{TOPIC}\"");
    let id = cluster.cli_ok(&["workflow", "start", &workflow(dir.path(), &brokers)]);
    let mut seen = Vec::new();
    let arrived = eventually(Duration::from_secs(20), || {
        seen = records(port);
        seen.len() >= 3
    });
    assert!(arrived, "{seen:?}\n{}", cluster.logs());
    assert!(seen[0].contains("[#0]: hello"), "{seen:?}");

    // The broker goes away: sends fail, are reported, the node runs on.
    drop(broker);
    cluster.wait_for(Duration::from_secs(20), "failed sends reported", |c| {
        c.nodes[0]
            .log()
            .contains("kafka-egress: record not produced")
    });
    assert!(cluster.cli_ok(&["workflow", "list"]).contains("running"));
    // Back (empty: it keeps topics in memory): delivery resumes.
    let _broker = kafka_broker(port, log());
    create_topic(port, TOPIC);
    let resumed = eventually(Duration::from_secs(30), || {
        seen = records(port);
        seen.len() >= 2
    });
    assert!(resumed, "{seen:?}\n{}", cluster.nodes[0].log());
    cluster.cli_ok(&["workflow", "stop", &id]);

    // A topic the broker does not have: a clear error in the node's log.
    let missing = format!("\"brokers\": \"127.0.0.1:{port}\", \"topic\": \"no-such-topic\"");
    let id = cluster.cli_ok(&["workflow", "start", &workflow(dir.path(), &missing)]);
    cluster.wait_for(Duration::from_secs(20), "the missing topic named", |c| {
        c.nodes[0].log().contains("topic `no-such-topic`")
    });
    cluster.cli_ok(&["workflow", "stop", &id]);
    // Bad settings are refused at start, naming the key.
    for (configuration, key) in [
        (
            format!("\"brokers\": \"127.0.0.1\", \"topic\": \"{TOPIC}\""),
            "brokers",
        ),
        (
            format!("\"brokers\": \"127.0.0.1:{port}\", \"topic\": \"a b\""),
            "topic",
        ),
        (format!("\"topic\": \"{TOPIC}\""), "brokers"),
    ] {
        let spec = workflow(dir.path(), &configuration);
        let output = cluster.cli(&["workflow", "start", &spec]);
        assert_ne!(output.code(), Some(0), "{configuration}");
        let stderr = output.stderr_text();
        assert!(
            stderr.contains("kafka-egress") && stderr.contains(&format!("`{key}`")),
            "{configuration}: {stderr}"
        );
    }
}
