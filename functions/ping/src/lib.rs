//! Calls `ponger` every `period` ms (init-payload `period=MS`, default 1000)
//! and logs the answer. The number of pings survives re-creation via `sync`.
use std::sync::atomic::{AtomicU64, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static COUNT: AtomicU64 = AtomicU64::new(0);
static PERIOD_MS: AtomicU64 = AtomicU64::new(1000);

struct Ping;

impl EdgeFunction for Ping {
    fn handle_init(payload: Option<&[u8]>, state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        if let Some(period) = args.get("period").and_then(|p| p.parse().ok()) {
            PERIOD_MS.store(period, Ordering::Relaxed);
        }
        let restored = state
            .and_then(|s| std::str::from_utf8(s).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        COUNT.store(restored, Ordering::Relaxed);
        log::info!("ping: started at count {restored}");
        edgeless_function::cast("self", b"tick");
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {
        let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        let request = format!("PING #{n}");
        match edgeless_function::call("ponger", request.as_bytes()) {
            CallRet::Reply(reply) => {
                log::info!("ping: {request} answered {}", String::from_utf8_lossy(&reply))
            }
            CallRet::NoReply => log::warn!("ping: {request} got no reply"),
            CallRet::Err => log::warn!("ping: {request} failed"),
        }
        if let Err(error) = edgeless_function::try_sync(n.to_string().as_bytes()) {
            log::warn!("ping: {error}");
        }
        edgeless_function::delayed_cast(PERIOD_MS.load(Ordering::Relaxed), "self", b"tick");
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {
        log::info!("ping: stopped after {} pings", COUNT.load(Ordering::Relaxed));
    }
}

edgeless_function::export!(Ping);
