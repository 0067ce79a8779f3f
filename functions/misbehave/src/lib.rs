//! A function that misbehaves on purpose, to show the sandbox at work.
//! init-payload `mode=loop` spins forever, `mode=alloc` allocates without
//! end (logging each MiB it holds), `mode=panic` panics, `mode=sync` saves a
//! state of 2 MiB (more than a node keeps) and then a small one, logging what
//! became of each; it starts misbehaving on its first event, which it sends
//! to itself from `handle_init`.
use std::sync::Mutex;

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static MODE: Mutex<String> = Mutex::new(String::new());

/// The function.
pub struct Misbehave;

impl EdgeFunction for Misbehave {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        let mode = args.get("mode").cloned().unwrap_or_default();
        log::info!("misbehave: starting, mode {mode}");
        if let Ok(mut slot) = MODE.lock() {
            *slot = mode;
        }
        let _ = edgeless_function::cast("self", b"go");
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {
        let mode = MODE.lock().map(|m| m.clone()).unwrap_or_default();
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                    log::info!("misbehave: holding {} MiB", hoard.len());
                }
            }
            "panic" => panic!("misbehave: panicking on purpose"),
            "sync" => {
                for (what, size) in [("large", 2 << 20), ("small", 16)] {
                    match edgeless_function::sync(&vec![7u8; size]) {
                        Ok(()) => log::info!("misbehave: {what} state saved"),
                        Err(error) => log::info!("misbehave: {what} state refused: {error}"),
                    }
                }
            }
            _ => log::info!("misbehave: behaving"),
        }
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {}
}

edgeless_function::export!(Misbehave);
