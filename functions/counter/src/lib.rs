//! Every second casts the next integer on `output`, starting from the
//! init-payload (default 0).
use std::sync::atomic::{AtomicI64, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static NEXT: AtomicI64 = AtomicI64::new(0);

struct Counter;

impl EdgeFunction for Counter {
    fn handle_init(payload: Option<&[u8]>, state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let parse = |b: &[u8]| std::str::from_utf8(b).ok()?.trim().parse::<i64>().ok();
        let start = state.and_then(parse).or_else(|| payload.and_then(parse)).unwrap_or(0);
        NEXT.store(start, Ordering::Relaxed);
        edgeless_function::cast("self", b"tick");
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        if edgeless_function::try_cast("output", n.to_string().as_bytes()).is_err() {
            log::warn!("counter: output is not mapped, {n} dropped");
        }
        if let Err(error) = edgeless_function::try_sync((n + 1).to_string().as_bytes()) {
            log::warn!("counter: {error}");
        }
        edgeless_function::delayed_cast(1000, "self", b"tick");
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::Reply(NEXT.load(Ordering::Relaxed).to_string().into_bytes().into())
    }

    fn handle_stop() {}
}

edgeless_function::export!(Counter);
