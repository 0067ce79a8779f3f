//! Casts `from <instance> [#n]: <message>` on `output` every `period` ms.
//! init-payload: `message=TEXT,period=MS` (defaults: "hello", 1000).
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static MESSAGE: Mutex<String> = Mutex::new(String::new());
static PERIOD_MS: AtomicU64 = AtomicU64::new(1000);
static COUNT: AtomicU64 = AtomicU64::new(0);

struct MessageGenerator;

impl EdgeFunction for MessageGenerator {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        let message = args.get("message").unwrap_or(&"hello").to_string();
        if let Ok(mut slot) = MESSAGE.lock() {
            *slot = message;
        }
        if let Some(period) = args.get("period").and_then(|p| p.parse().ok()) {
            PERIOD_MS.store(period, Ordering::Relaxed);
        }
        edgeless_function::cast("self", b"tick");
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let text = MESSAGE.lock().map(|m| m.clone()).unwrap_or_default();
        let line = format!("from {} [#{n}]: {text}", edgeless_function::slf());
        if edgeless_function::try_cast("output", line.as_bytes()).is_err() {
            log::warn!("message_generator: output is not mapped");
        }
        edgeless_function::delayed_cast(PERIOD_MS.load(Ordering::Relaxed), "self", b"tick");
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {}
}

edgeless_function::export!(MessageGenerator);
