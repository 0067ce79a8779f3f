//! `kafka-egress`: produces each event's payload (no key) to a Kafka topic
//! (partition 0), which must exist (it is never created). The client connects on first use and again after a
//! failure; while the brokers are down, events are logged as failed and
//! calls answered with the error, and delivery resumes when they are back.
//! A call is answered with no reply once the record is stored.

use std::sync::Arc;
use std::time::Duration;

use edgeless_dataplane::CallOutcome;
use rskafka::client::ClientBuilder;
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::record::Record;

use super::egress_policy::EgressPolicy;
use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::runtime::RunningInstance;

pub const CLASS: &str = "kafka-egress";

/// How long connecting, or producing one record, may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

/// The `kafka-egress` provider: connects where the node's egress policy
/// allows.
pub struct KafkaEgress {
    policy: Arc<EgressPolicy>,
}

impl KafkaEgress {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }
}

/// `host:port` pairs from `brokers` (comma-separated).
fn brokers(value: &str) -> Result<Vec<(String, u16)>, String> {
    let list: Vec<(String, u16)> = value
        .split(',')
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .map(|broker| {
            let (host, port) = broker
                .rsplit_once(':')
                .ok_or_else(|| format!("`{broker}` is not host:port"))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("`{broker}`: `{port}` is not a port"))?;
            if host.is_empty() {
                return Err(format!("`{broker}` has no host"));
            }
            Ok((host.to_string(), port))
        })
        .collect::<Result<_, _>>()?;
    if list.is_empty() {
        return Err("no broker given (host:port, comma-separated)".into());
    }
    Ok(list)
}

/// Whether `topic` is a name Kafka accepts.
fn check_topic(topic: &str) -> Result<(), String> {
    let valid = !topic.is_empty()
        && topic.len() <= MAX_TOPIC_LEN
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{topic}` is not a topic name (1 to {MAX_TOPIC_LEN} letters, digits, `.`, `_`, `-`)"
        ))
    }
}

/// A producer for one topic, connected on first use and dropped after an
/// error.
struct Producer {
    brokers: Vec<(String, u16)>,
    topic: String,
    policy: Arc<EgressPolicy>,
    client: Option<PartitionClient>,
}

impl Producer {
    async fn connect(&self) -> Result<PartitionClient, String> {
        for (host, port) in &self.brokers {
            self.policy.check_resolved(host, *port).await?;
        }
        let addresses = self
            .brokers
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect();
        let backoff = rskafka::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
            deadline: Some(TIMEOUT),
        };
        let connect = async {
            let client = ClientBuilder::new(addresses)
                .backoff_config(backoff)
                .build()
                .await
                .map_err(|e| format!("cannot reach the brokers: {e}"))?;
            // Asked first: a broker that creates topics on demand would
            // otherwise create a mistyped one.
            let topics = client
                .list_topics()
                .await
                .map_err(|e| format!("cannot list the topics: {e}"))?;
            if !topics.iter().any(|t| t.name == self.topic) {
                return Err(format!(
                    "topic `{}` does not exist on the brokers",
                    self.topic
                ));
            }
            client
                .partition_client(self.topic.clone(), 0, UnknownTopicHandling::Error)
                .await
                .map_err(|e| format!("topic `{}`: {e}", self.topic))
        };
        tokio::time::timeout(TIMEOUT, connect)
            .await
            .map_err(|_| format!("the brokers did not answer within {TIMEOUT:?}"))?
    }

    /// Produces `payload`, connecting first if needed.
    async fn produce(&mut self, payload: &[u8]) -> Result<(), String> {
        let client = match self.client.take() {
            Some(client) => client,
            None => self.connect().await?,
        };
        let record = Record {
            key: None,
            value: Some(payload.to_vec()),
            headers: Default::default(),
            timestamp: rskafka::chrono::DateTime::from_timestamp_millis(
                edgeless_api::feed::now_ms() as i64,
            )
            .unwrap_or_default(),
        };
        let produced = tokio::time::timeout(
            TIMEOUT,
            client.produce(vec![record], Compression::NoCompression),
        )
        .await;
        match produced {
            Ok(Ok(_)) => {
                self.client = Some(client);
                Ok(())
            }
            Ok(Err(error)) => Err(format!("topic `{}`: {error}", self.topic)),
            Err(_) => Err(format!(
                "the brokers did not store the record within {TIMEOUT:?}"
            )),
        }
    }
}

impl ResourceProvider for KafkaEgress {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let bad = |key, reason| ResourceError::BadValue {
            class: CLASS,
            key,
            reason,
        };
        let brokers =
            brokers(&context.required(CLASS, "brokers")?).map_err(|e| bad("brokers", e))?;
        for (host, port) in &brokers {
            self.policy
                .check_target(host, *port)
                .map_err(|e| bad("brokers", e))?;
        }
        let topic = context.required(CLASS, "topic")?;
        check_topic(&topic).map_err(|e| bad("topic", e))?;
        let id = context.id;
        let producer = Arc::new(tokio::sync::Mutex::new(Producer {
            brokers,
            topic: topic.clone(),
            policy: self.policy.clone(),
            client: None,
        }));
        // Said at once when the brokers or the topic are not there.
        let first = producer.clone();
        tokio::spawn(async move {
            let mut producer = first.lock().await;
            match producer.connect().await {
                Ok(client) => producer.client = Some(client),
                Err(error) => {
                    tracing::error!(instance = %id, %error, "kafka-egress cannot produce yet")
                }
            }
        });
        Ok(serve(context.dataplane, move |event| {
            let producer = producer.clone();
            async move {
                match producer.lock().await.produce(&event.payload).await {
                    Ok(()) => CallOutcome::NoReply,
                    Err(error) => {
                        tracing::error!(instance = %id, %error, "kafka-egress: record not produced");
                        CallOutcome::Err(format!("kafka-egress: {error}"))
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brokers_and_topics_are_checked() {
        assert_eq!(
            brokers("a:9092, 10.0.0.1:1").unwrap(),
            vec![("a".to_string(), 9092), ("10.0.0.1".to_string(), 1)]
        );
        for bad in ["", "a", "a:x", ":9092", "a:70000"] {
            assert!(brokers(bad).is_err(), "{bad}");
        }
        check_topic("edgeless.out_1-x").unwrap();
        for bad in ["", "..", "a b", "a/b", &"x".repeat(250)] {
            assert!(check_topic(bad).is_err(), "{bad}");
        }
    }
}
