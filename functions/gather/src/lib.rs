//! The reduce step's fan-in: counts equal events; once `inputs` of them
//! (init-payload `inputs=N`, default 1) have arrived it logs
//! `gather: <event> complete` and casts the event on `result`.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

/// Transactions still waiting for inputs, beyond which the oldest are
/// dropped (an input that never comes must not grow memory for ever).
const MAX_OPEN: usize = 4096;

static INPUTS: AtomicU32 = AtomicU32::new(1);
static OPEN: Mutex<BTreeMap<Vec<u8>, (u64, u32)>> = Mutex::new(BTreeMap::new());
static ARRIVALS: Mutex<u64> = Mutex::new(0);

/// The function.
pub struct Gather;

impl EdgeFunction for Gather {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        if let Some(n) = args.get("inputs").and_then(|n| n.parse::<u32>().ok()) {
            INPUTS.store(n.max(1), Ordering::Relaxed);
        }
    }

    fn handle_cast(_src: InstanceId, message: &[u8]) {
        let mut arrivals = ARRIVALS.lock().unwrap_or_else(|e| e.into_inner());
        *arrivals += 1;
        let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
        let entry = open.entry(message.to_vec()).or_insert((*arrivals, 0));
        entry.1 += 1;
        if entry.1 >= INPUTS.load(Ordering::Relaxed) {
            open.remove(message);
            log::info!("gather: {} complete", String::from_utf8_lossy(message));
            edgeless_function::cast("result", message);
        } else if open.len() > MAX_OPEN {
            let oldest = open
                .iter()
                .min_by_key(|(_, (first, _))| *first)
                .map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                open.remove(&key);
                log::warn!("gather: {} dropped incomplete", String::from_utf8_lossy(&key));
            }
        }
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {}
}

edgeless_function::export!(Gather);
