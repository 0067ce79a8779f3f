//! A cast loop for measuring the dataplane: every event received is sent
//! back to its source at once. With init-payload `serve=true` the instance
//! also sends the first event, to its `peer` output. Every `report` events
//! (init-payload `report=N`, default 10000) it logs its count.
use std::sync::atomic::{AtomicU64, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static COUNT: AtomicU64 = AtomicU64::new(0);
static REPORT: AtomicU64 = AtomicU64::new(10_000);

struct Bounce;

impl EdgeFunction for Bounce {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        if let Some(report) = args.get("report").and_then(|r| r.parse::<u64>().ok()) {
            REPORT.store(report.max(1), Ordering::Relaxed);
        }
        if edgeless_function::arg_to_bool("serve", &args) && edgeless_function::try_cast("peer", b"ball").is_err() {
            log::error!("bounce: cannot serve, `peer` is not mapped");
        }
    }

    fn handle_cast(src: InstanceId, message: &[u8]) {
        let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(REPORT.load(Ordering::Relaxed)) {
            log::info!("bounce: {n} events");
        }
        edgeless_function::cast_raw(src, message);
    }

    fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
        CallRet::Reply(message.to_vec().into())
    }

    fn handle_stop() {
        log::info!("bounce: stopped after {} events", COUNT.load(Ordering::Relaxed));
    }
}

edgeless_function::export!(Bounce);
