//! What the platform offers a running function, whatever its runtime: cast,
//! call, delayed cast, sync, log and its own id. The WASM imports
//! (`host.rs`) and the container host service (`container/host_service.rs`)
//! both translate their guest's requests into calls on an [`InstanceHost`].
//!
//! A send that fails is logged with the reason and reported to the guest as
//! a failure; it never ends the instance.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, EventSender};
use tokio::task::JoinSet;

use super::{OutputTable, StateStore};

/// How long a call waits for its reply.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);
/// How long a send waits for the instance's first output mapping.
pub const MAPPING_WAIT: Duration = Duration::from_secs(10);
/// The most delayed casts of one instance waiting at once.
pub const MAX_DELAYED_CASTS: usize = 1024;
/// The most payload bytes of one instance's waiting delayed casts.
pub const MAX_DELAYED_BYTES: usize = 16 << 20;

/// Why a send from a function did not happen (already logged).
#[derive(Debug)]
pub struct NotSent;

/// The log target of a guest's panic report: `message\nlocation`
/// (`edgeless_function::abi::PANIC_TARGET`).
const PANIC_TARGET: &str = "panic";

/// The platform side of one instance.
pub struct InstanceHost {
    pub id: InstanceId,
    pub workflow_id: String,
    pub class_id: String,
    pub sender: EventSender,
    pub outputs: OutputTable,
    pub state: (StateStore, String),
    /// Counts the events it sends.
    meter: crate::metrics::InstanceMeter,
    /// Keeps its log lines for `workflow logs`.
    log: crate::logs::InstanceLog,
    /// The message of the guest's last panic, if it reported one.
    panic: Mutex<Option<String>>,
    /// Delayed casts not yet sent (with their payload bytes); aborted when
    /// the instance ends.
    timers: Mutex<(JoinSet<()>, Arc<AtomicUsize>)>,
}

impl InstanceHost {
    /// The host of instance `id`.
    pub fn new(
        id: InstanceId,
        (workflow_id, class_id): (String, String),
        sender: EventSender,
        outputs: OutputTable,
        state: (StateStore, String),
        (meter, log): (crate::metrics::InstanceMeter, crate::logs::InstanceLog),
    ) -> Self {
        Self {
            id,
            workflow_id,
            class_id,
            sender,
            outputs,
            state,
            meter,
            log,
            panic: Mutex::default(),
            timers: Mutex::default(),
        }
    }

    /// Where an output name leads: `self`, or the mapped target.
    pub async fn resolve(&self, output: &str) -> Result<InstanceId, NotSent> {
        if output == "self" {
            return Ok(self.id);
        }
        self.outputs
            .resolve(output, MAPPING_WAIT)
            .await
            .map_err(|error| {
                tracing::warn!(instance = %self.id, %error, "event dropped");
                self.meter.sent(false);
                NotSent
            })
    }

    /// The message of the guest's last panic, if it reported one.
    pub fn panic_message(&self) -> Option<String> {
        self.panic.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sends a one-way event.
    pub fn cast(&self, target: InstanceId, payload: Bytes) -> Result<(), NotSent> {
        let sent = self.sender.cast(target, payload).map_err(|error| {
            tracing::warn!(instance = %self.id, %error, "cast not delivered");
            NotSent
        });
        self.meter.sent(sent.is_ok());
        sent
    }

    /// Casts to an output channel (or `self`).
    pub async fn cast_alias(&self, alias: &str, payload: Bytes) -> Result<(), NotSent> {
        let target = self.resolve(alias).await?;
        self.cast(target, payload)
    }

    /// Calls `target` and waits for the outcome (at most [`CALL_DEADLINE`]).
    pub async fn call(&self, target: InstanceId, payload: Bytes) -> CallOutcome {
        let outcome = self.sender.call(target, payload, CALL_DEADLINE).await;
        if let CallOutcome::Err(error) = &outcome {
            tracing::debug!(instance = %self.id, %error, "call failed");
        }
        self.meter.sent(!matches!(outcome, CallOutcome::Err(_)));
        outcome
    }

    /// Calls an output channel (or `self`).
    #[cfg(feature = "containers")]
    pub async fn call_alias(&self, alias: &str, payload: Bytes) -> CallOutcome {
        match self.resolve(alias).await {
            Ok(target) => self.call(target, payload).await,
            Err(NotSent) => CallOutcome::Err(format!("output `{alias}` is not mapped")),
        }
    }

    /// Casts to an output channel after `delay`.
    pub async fn delayed_cast(
        &self,
        delay: Duration,
        alias: &str,
        payload: Bytes,
    ) -> Result<(), NotSent> {
        let target = self.resolve(alias).await?;
        let sender = self.sender.clone();
        let id = self.id;
        let mut guard = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        let (timers, bytes) = &mut *guard;
        // Forget timers that already fired, so the set stays small.
        while timers.try_join_next().is_some() {}
        let size = payload.len();
        if timers.len() >= MAX_DELAYED_CASTS
            || bytes.load(Ordering::Relaxed) + size > MAX_DELAYED_BYTES
        {
            drop(guard);
            self.log(
                1,
                "delayed_cast",
                &format!(
                    "delayed cast refused: at most {MAX_DELAYED_CASTS} casts and {MAX_DELAYED_BYTES} bytes may wait"
                ),
            );
            return Err(NotSent);
        }
        bytes.fetch_add(size, Ordering::Relaxed);
        let waiting = bytes.clone();
        timers.spawn(async move {
            tokio::time::sleep(delay).await;
            waiting.fetch_sub(size, Ordering::Relaxed);
            if let Err(error) = sender.cast(target, payload) {
                tracing::warn!(instance = %id, %error, "delayed cast not delivered");
            }
        });
        Ok(())
    }

    /// Cancels the delayed casts not yet sent.
    pub fn cancel_timers(&self) {
        let mut guard = self.timers.lock().unwrap_or_else(|e| e.into_inner());
        // Dropping the set aborts its tasks; the new one starts empty, with
        // a counter of its own.
        *guard = (JoinSet::new(), Arc::default());
    }

    /// Saves the instance's state (handed to `handle_init` of a re-created
    /// instance); a state too large is refused, and the refusal logged as
    /// the function's error.
    pub fn sync(&self, state: Bytes) -> Result<(), String> {
        let (store, key) = &self.state;
        let saved = store.save(key, state);
        if let Err(error) = &saved {
            self.log(1, "sync", error);
        }
        saved
    }

    /// A log line of the function: 1 error, 2 warn, 3 info, 4 debug, else
    /// trace. It goes to the node's log and is kept for `workflow logs`.
    pub fn log(&self, level: i32, target: &str, message: &str) {
        let (id, class, workflow) = (&self.id, &self.class_id, &self.workflow_id);
        if target == PANIC_TARGET {
            let (text, location) = message.split_once('\n').unwrap_or((message, ""));
            *self.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(text.to_string());
            // A string field is written quoted, with its escapes.
            let shown = printable(text);
            tracing::error!(target: "function", instance = %id, class, workflow, location, "panicked: {shown}");
            self.log
                .write(1, "", &format!("panicked at {location}: {text}"));
            return;
        }
        self.log.write(level, target, message);
        if !self.log.echoed(level) {
            return;
        }
        // In the node's own log, a function writes one line of printable
        // text: it cannot start lines that look like the node's.
        let message = printable(message);
        match level {
            1 => {
                tracing::error!(target: "function", instance = %id, class, workflow, function_target = target, "{message}")
            }
            2 => {
                tracing::warn!(target: "function", instance = %id, class, workflow, function_target = target, "{message}")
            }
            3 => {
                tracing::info!(target: "function", instance = %id, class, workflow, function_target = target, "{message}")
            }
            4 => {
                tracing::debug!(target: "function", instance = %id, class, workflow, function_target = target, "{message}")
            }
            _ => {
                tracing::trace!(target: "function", instance = %id, class, workflow, function_target = target, "{message}")
            }
        }
    }
}

/// `text` with line breaks and other control characters (terminal escape
/// sequences among them) written as escapes, tabs kept.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            '\t' => escaped.push('\t'),
            c if c.is_control() => escaped.push_str(&c.escape_unicode().to_string()),
            c => escaped.push(c),
        }
    }
    std::borrow::Cow::Owned(escaped)
}

impl Drop for InstanceHost {
    fn drop(&mut self) {
        self.cancel_timers();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    #[test]
    fn a_function_s_line_cannot_forge_the_node_s_lines() {
        let forged = "ok\n2026-12-08T02:00:00Z  INFO edgeless_node: node started\r\x1b[2K";
        let shown = super::printable(forged);
        assert!(!shown.contains(['\n', '\r', '\x1b']), "{shown}");
        assert_eq!(
            shown,
            "ok\\n2026-12-08T02:00:00Z  INFO edgeless_node: node started\\r\\u{1b}[2K"
        );
        assert!(matches!(
            super::printable("plain\ttext"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    use edgeless_dataplane::Dataplane;

    use super::*;

    #[tokio::test]
    async fn waiting_delayed_casts_are_bounded_in_count_and_bytes() {
        let dataplane = Dataplane::new(uuid::Uuid::new_v4());
        let me = InstanceId::new(dataplane.node_id());
        let handle = dataplane.register(me);
        let (mapping, table) = crate::runtime::outputs_pair();
        mapping.patch(HashMap::from([("out".to_string(), vec![me])]));
        let host = InstanceHost::new(
            me,
            ("w".into(), "c".into()),
            handle.sender().clone(),
            table,
            (StateStore::default(), "k".into()),
            (
                crate::metrics::InstanceMeter::unregistered(me.function_id, Default::default()),
                crate::logs::InstanceLog::detached(me),
            ),
        );
        let later = Duration::from_secs(600);
        for _ in 0..MAX_DELAYED_CASTS {
            host.delayed_cast(later, "out", Bytes::new()).await.unwrap();
        }
        assert!(host.delayed_cast(later, "out", Bytes::new()).await.is_err());
        host.cancel_timers();
        let big = Bytes::from(vec![0u8; MAX_DELAYED_BYTES / 2]);
        host.delayed_cast(later, "out", big.clone()).await.unwrap();
        host.delayed_cast(later, "out", big.clone()).await.unwrap();
        assert!(
            host.delayed_cast(later, "out", Bytes::from_static(b"x"))
                .await
                .is_err(),
            "over the byte bound"
        );
        // Sent casts free their room.
        host.cancel_timers();
        host.delayed_cast(Duration::ZERO, "out", big.clone())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        host.delayed_cast(later, "out", big.clone()).await.unwrap();
        host.delayed_cast(later, "out", big).await.unwrap();
    }
}
