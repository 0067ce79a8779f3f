//! `metrics-collector`: records latency samples in Redis for benchmarks.
//! Events are text: `workflow:begin:ID`, `workflow:end:ID`,
//! `function:begin:ID`, `function:end:ID`. An end after its begin records
//! the latency in milliseconds:
//!
//! - `RPUSH <kind>:<name>:samples "<latency_ms>,<unix_ms>"` (name is
//!   `wf_name` for workflows, the ID for functions);
//! - `SET <kind>:<name>:average` to the running average
//!   (`alpha × previous + (1 − alpha) × sample`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use edgeless_dataplane::CallOutcome;

use super::redis_setter::LazyRedis;
use super::{ResourceContext, ResourceError, ResourceProvider, serve};
use crate::config::MetricsCollectorProvider;
use crate::runtime::RunningInstance;

pub const CLASS: &str = "metrics-collector";

/// The most `begin`s waiting for their `end`.
const MAX_OPEN: usize = 100_000;

pub struct MetricsCollector {
    redis: LazyRedis,
}

/// The provider from the node configuration.
pub fn provider(config: &MetricsCollectorProvider) -> Result<Arc<dyn ResourceProvider>, String> {
    if !config.collector_type.eq_ignore_ascii_case("redis") {
        return Err(format!(
            "collector_type {:?} is not supported (only Redis)",
            config.collector_type
        ));
    }
    let redis = LazyRedis::new(&config.redis_url).map_err(|e| format!("redis_url: {e}"))?;
    Ok(Arc::new(MetricsCollector { redis }))
}

/// A parsed event: kind (`workflow`/`function`), begin or end, id.
fn parse(text: &str) -> Option<(&str, bool, &str)> {
    let mut parts = text.trim().splitn(3, ':');
    let kind = parts
        .next()
        .filter(|k| *k == "workflow" || *k == "function")?;
    let begin = match parts.next()? {
        "begin" => true,
        "end" => false,
        _ => return None,
    };
    let id = parts.next().filter(|id| !id.is_empty())?;
    Some((kind, begin, id))
}

impl ResourceProvider for MetricsCollector {
    fn start(&self, context: ResourceContext) -> Result<RunningInstance, ResourceError> {
        let wf_name = context.required(CLASS, "wf_name")?;
        let alpha = match context.configuration.get("alpha") {
            None => 0.9,
            Some(value) => value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|a| (0.0..=1.0).contains(a))
                .ok_or_else(|| ResourceError::BadValue {
                    class: CLASS,
                    key: "alpha",
                    reason: format!("expected a number from 0 to 1, got {value:?}"),
                })?,
        };
        let redis = self.redis.clone();
        let open: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let averages: Arc<Mutex<HashMap<String, f64>>> = Arc::default();
        let id = context.id;
        Ok(serve(context.dataplane, move |event| {
            let (redis, open, averages, wf_name) = (
                redis.clone(),
                open.clone(),
                averages.clone(),
                wf_name.clone(),
            );
            async move {
                let text = String::from_utf8_lossy(&event.payload).into_owned();
                let Some((kind, begin, key)) = parse(&text) else {
                    tracing::warn!(instance = %id, event = %text, "metrics-collector: not KIND:begin|end:ID");
                    return CallOutcome::Err(format!("metrics-collector: cannot parse {text:?}"));
                };
                let slot = format!("{kind}:{key}");
                if begin {
                    let mut open = open.lock().unwrap_or_else(|e| e.into_inner());
                    if open.len() < MAX_OPEN {
                        open.insert(slot, Instant::now());
                    }
                    return CallOutcome::NoReply;
                }
                let Some(started) = open.lock().unwrap_or_else(|e| e.into_inner()).remove(&slot)
                else {
                    return CallOutcome::Err(format!(
                        "metrics-collector: `end` without `begin` for {slot}"
                    ));
                };
                let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
                let name = if kind == "workflow" {
                    wf_name.as_str()
                } else {
                    key
                };
                let average = {
                    let mut averages = averages.lock().unwrap_or_else(|e| e.into_inner());
                    let entry = averages
                        .entry(format!("{kind}:{name}"))
                        .or_insert(latency_ms);
                    *entry = alpha * *entry + (1.0 - alpha) * latency_ms;
                    *entry
                };
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let mut push = redis::cmd("RPUSH");
                push.arg(format!("{kind}:{name}:samples"))
                    .arg(format!("{latency_ms:.3},{now_ms}"));
                let mut set = redis::cmd("SET");
                set.arg(format!("{kind}:{name}:average"))
                    .arg(format!("{average:.3}"));
                let result = match redis.run::<()>(&push).await {
                    Ok(()) => redis.run::<()>(&set).await,
                    Err(e) => Err(e),
                };
                match result {
                    Ok(()) => CallOutcome::NoReply,
                    Err(error) => {
                        tracing::error!(instance = %id, %error, "metrics-collector: Redis write failed");
                        CallOutcome::Err(error)
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
    fn events_are_parsed() {
        assert_eq!(parse("workflow:begin:42"), Some(("workflow", true, "42")));
        assert_eq!(parse("function:end:a:b"), Some(("function", false, "a:b")));
        assert_eq!(parse("workflow:middle:1"), None);
        assert_eq!(parse("task:begin:1"), None);
        assert_eq!(parse("workflow:begin:"), None);
    }
}
