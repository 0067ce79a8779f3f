//! The balancer daemon as a dataplane endpoint: it listens where it is
//! told (a port of the system's choice here), reports where, and answers
//! events it cannot deliver with a reason instead of dropping them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use edgeless_api::proto::function_invocation_client::FunctionInvocationClient;
use edgeless_api::proto::{Event, EventType, InstanceId};

const BIN: &str = env!("CARGO_BIN_EXE_edgeless_bal_d");
const BALANCER_ID: &str = "7d2c8a51-5f3e-4c1b-9a6e-0b1f2e3d4c5b";

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the balancer on a free port; returns it with its invocation URL.
fn start(dir: &std::path::Path) -> (Killed, String) {
    let config = dir.join("balancer.toml");
    std::fs::write(
        &config,
        format!(
            "balancer_id = \"{BALANCER_ID}\"\ninvocation_url = \"http://127.0.0.1:0\"\nagent_url = \"http://127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let listening = dir.join("listening.toml");
    let child = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .arg("--listening-file")
        .arg(&listening)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !listening.exists() {
        assert!(
            Instant::now() < deadline,
            "the balancer did not report its address"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(&listening).unwrap()).unwrap();
    let url = table["invocation_url"].as_str().unwrap().to_string();
    assert!(!url.ends_with(":0"), "{url}");
    (child, url)
}

fn event(node_id: &str, function_id: &str) -> Event {
    Event {
        target: Some(InstanceId {
            node_id: node_id.into(),
            function_id: function_id.into(),
        }),
        source: Some(InstanceId {
            node_id: uuid::Uuid::nil().to_string(),
            function_id: uuid::Uuid::nil().to_string(),
        }),
        stream_id: 0,
        event_type: EventType::Cast as i32,
        payload: bytes::Bytes::from_static(b"hello"),
        ..Default::default()
    }
}

#[tokio::test]
async fn events_it_cannot_deliver_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (_balancer, url) = start(dir.path());
    let mut client = FunctionInvocationClient::connect(url).await.unwrap();
    // Addressed to the balancer, which runs no instance.
    let function = uuid::Uuid::new_v4().to_string();
    let refused = client
        .handle(event(BALANCER_ID, &function))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::NotFound, "{refused:?}");
    assert!(refused.message().contains(&function), "{refused:?}");
    // Not an instance id at all.
    let malformed = client
        .handle(event("not-a-uuid", &function))
        .await
        .unwrap_err();
    assert_eq!(
        malformed.code(),
        tonic::Code::InvalidArgument,
        "{malformed:?}"
    );
    assert!(malformed.message().contains("not-a-uuid"), "{malformed:?}");
}
