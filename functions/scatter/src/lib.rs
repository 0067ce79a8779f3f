//! The map step's fan-out: casts every event it receives, unchanged, to
//! each of its first `outputs` outputs `out-0` … `out-15` (init-payload
//! `outputs=N`, default 1).
use std::sync::atomic::{AtomicUsize, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

/// The most outputs a scatter has (as declared in function.json).
const MAX_OUTPUTS: usize = 16;

static OUTPUTS: AtomicUsize = AtomicUsize::new(1);

/// The function.
pub struct Scatter;

impl EdgeFunction for Scatter {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        let outputs = args.get("outputs").and_then(|n| n.parse::<usize>().ok());
        match outputs {
            Some(n) if (1..=MAX_OUTPUTS).contains(&n) => OUTPUTS.store(n, Ordering::Relaxed),
            Some(n) => log::error!("scatter: outputs={n} is not 1..={MAX_OUTPUTS}; using 1"),
            None => {}
        }
    }

    fn handle_cast(_src: InstanceId, message: &[u8]) {
        for i in 0..OUTPUTS.load(Ordering::Relaxed) {
            if let Err(error) = edgeless_function::try_cast(&format!("out-{i}"), message) {
                log::warn!("scatter: out-{i}: {error:?}");
            }
        }
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {}
}

edgeless_function::export!(Scatter);
