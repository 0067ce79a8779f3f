//! What `edgeless_node_d --available-resources` prints: every provider type
//! with its version, node configuration, run-time configuration keys and
//! output channels.

/// One provider type.
pub struct ProviderInfo {
    /// The class type used in workflows.
    pub class_type: &'static str,
    /// Its version.
    pub version: &'static str,
    /// The node.toml keys that enable it.
    pub node_config: &'static str,
    /// Run-time keys: (key, meaning).
    pub configuration: &'static [(&'static str, &'static str)],
    /// Output channels.
    pub outputs: &'static [&'static str],
    /// What it does.
    pub description: &'static str,
}

/// Every provider type this node can host.
pub const CATALOG: &[ProviderInfo] = &[
    ProviderInfo {
        class_type: "http-ingress",
        version: "1.0",
        node_config: "[resources] http_ingress_url, http_ingress_provider",
        configuration: &[
            (
                "host",
                "the Host header to serve (required; `*` matches any)",
            ),
            (
                "methods",
                "comma-separated methods, e.g. GET,POST (default: all)",
            ),
        ],
        outputs: &["new_request"],
        description: "serves HTTP; a matching request becomes a call to `new_request`, whose reply is the response",
    },
    ProviderInfo {
        class_type: "http-egress",
        version: "1.0",
        node_config: "[resources] http_egress_provider",
        configuration: &[],
        outputs: &[],
        description: "a call carrying an EgressRequest performs it (http only) and replies with the HttpResponse",
    },
    ProviderInfo {
        class_type: "file-log",
        version: "1.0",
        node_config: "[resources] file_log_provider",
        configuration: &[
            ("filename", "the file to append to (required)"),
            (
                "add-timestamp",
                "present (any value but false, no, off, 0): prefix each line with the UTC time",
            ),
            (
                "add-source-id",
                "present (any value but false, no, off, 0): prefix each line with the sender's instance id",
            ),
        ],
        outputs: &[],
        description: "appends each event's payload to a file, one line per event",
    },
    ProviderInfo {
        class_type: "redis",
        version: "1.0",
        node_config: "[resources] redis_provider",
        configuration: &[
            (
                "url",
                "the Redis server, e.g. redis://127.0.0.1:6379 (required)",
            ),
            ("key", "the key to set (required)"),
        ],
        outputs: &[],
        description: "sets `key` to each event's payload",
    },
    ProviderInfo {
        class_type: "kafka-egress",
        version: "1.0",
        node_config: "[resources] kafka_egress_provider (cargo feature `kafka`, on by default)",
        configuration: &[
            (
                "brokers",
                "the Kafka brokers, host:port, comma-separated (required)",
            ),
            ("topic", "the topic to produce to (required)"),
        ],
        outputs: &[],
        description: "produces each event's payload (no key) to the topic, partition 0",
    },
    ProviderInfo {
        class_type: "ollama",
        version: "1.0",
        node_config: "[resources.ollama_provider] host, port, messages_number_limit, provider",
        configuration: &[("model", "the model to chat with, e.g. llama3 (required)")],
        outputs: &["out"],
        description: "sends each payload as a chat prompt, keeps the conversation, casts the answer to `out`",
    },
    ProviderInfo {
        class_type: "metrics-collector",
        version: "1.0",
        node_config: "[resources.metrics_collector_provider] collector_type, redis_url, provider",
        configuration: &[
            (
                "wf_name",
                "the workflow name samples are recorded under (required)",
            ),
            (
                "alpha",
                "smoothing factor of the running average, 0..1 (default 0.9)",
            ),
        ],
        outputs: &[],
        description: "records `workflow|function:begin|end:ID` events as latency samples in Redis",
    },
];

/// The provider types this build of the node has (`kafka-egress` only with
/// the `kafka` feature, `redis` and `metrics-collector` only with `redis`).
// Without features every arm but the last is `false`, which clippy would
// have written as `matches!`; with them it is not.
#[allow(clippy::match_like_matches_macro)]
pub fn compiled() -> impl Iterator<Item = &'static ProviderInfo> {
    CATALOG.iter().filter(|info| match info.class_type {
        "kafka-egress" => cfg!(feature = "kafka"),
        "redis" | "metrics-collector" => cfg!(feature = "redis"),
        _ => true,
    })
}

/// The configuration keys of `configuration` that resource class `class`
/// does not know (they have no effect).
pub fn unknown_keys<'a>(
    class: &str,
    configuration: impl IntoIterator<Item = &'a String>,
) -> Vec<&'a str> {
    let Some(info) = CATALOG.iter().find(|c| c.class_type == class) else {
        return Vec::new();
    };
    let mut unknown: Vec<&str> = configuration
        .into_iter()
        .map(String::as_str)
        .filter(|key| !info.configuration.iter().any(|(known, _)| known == key))
        .collect();
    unknown.sort_unstable();
    unknown
}

/// The catalogue as a JSON array of `{class_type, version, outputs,
/// configurations}` (configurations: key → meaning), as the original
/// EDGELESS prints it with `--output-json`.
pub fn catalog_json() -> String {
    let entries: Vec<serde_json::Value> = compiled()
        .map(|info| {
            let configurations: serde_json::Map<String, serde_json::Value> = info
                .configuration
                .iter()
                .map(|(key, meaning)| (key.to_string(), serde_json::Value::from(*meaning)))
                .collect();
            serde_json::json!({
                "class_type": info.class_type,
                "version": info.version,
                "outputs": info.outputs,
                "configurations": configurations,
            })
        })
        .collect();
    serde_json::to_string_pretty(&entries).unwrap_or_default()
}

/// Prints the catalogue for people.
pub fn print_catalog() {
    for info in compiled() {
        println!("{} (version {})", info.class_type, info.version);
        println!("  {}", info.description);
        println!("  node configuration: {}", info.node_config);
        if info.configuration.is_empty() {
            println!("  run-time configuration: none");
        }
        for (key, meaning) in info.configuration {
            println!("  configuration `{key}`: {meaning}");
        }
        println!("  outputs: [{}]", info.outputs.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_catalogue_lists_every_class_with_its_keys() {
        let parsed: serde_json::Value = serde_json::from_str(&catalog_json()).unwrap();
        let all = parsed.as_array().unwrap();
        assert_eq!(all.len(), compiled().count());
        let kafka = all
            .iter()
            .find(|c| c["class_type"] == "kafka-egress")
            .unwrap();
        assert!(kafka["configurations"]["topic"].is_string(), "{kafka}");
    }

    #[test]
    fn keys_a_class_does_not_know_are_named() {
        let keys = [
            "filename".to_string(),
            "colour".to_string(),
            "add-timestamp".to_string(),
        ];
        assert_eq!(unknown_keys("file-log", keys.iter()), vec!["colour"]);
        assert!(unknown_keys("no-such-class", keys.iter()).is_empty());
    }
}
