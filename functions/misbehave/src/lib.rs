//! A function that misbehaves on purpose, to show the sandbox at work.
//! init-payload `mode=loop` spins forever, `mode=alloc` allocates without
//! end (logging each MiB it holds), `mode=panic` panics, `mode=sync` saves a
//! state of 2 MiB (more than a node keeps) and then a small one, logging what
//! became of each, `mode=connect,target=IP:PORT` (as a container function)
//! opens a TCP connection to the target and logs whether it could; it starts misbehaving on its first event, which it sends
//! to itself from `handle_init`.
use std::sync::Mutex;

use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static MODE: Mutex<String> = Mutex::new(String::new());
static TARGET: Mutex<String> = Mutex::new(String::new());

/// The function.
pub struct Misbehave;

impl EdgeFunction for Misbehave {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        let mode = args.get("mode").unwrap_or(&"").to_string();
        log::info!("misbehave: starting, mode {mode}");
        if let Ok(mut slot) = MODE.lock() {
            *slot = mode;
        }
        if let (Some(target), Ok(mut slot)) = (args.get("target"), TARGET.lock()) {
            *slot = target.to_string();
        }
        edgeless_function::cast("self", b"go");
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
            "connect" => {
                let target = TARGET.lock().map(|t| t.clone()).unwrap_or_default();
                let outcome = target
                    .parse::<std::net::SocketAddr>()
                    .map_err(|e| e.to_string())
                    .and_then(|address| {
                        let timeout = std::time::Duration::from_secs(3);
                        std::net::TcpStream::connect_timeout(&address, timeout)
                            .map_err(|e| e.to_string())
                    });
                match outcome {
                    Ok(_) => log::info!("misbehave: connect to {target}: connected"),
                    Err(error) => log::info!("misbehave: connect to {target}: failed: {error}"),
                }
            }
            "sync" => {
                for (what, size) in [("large", 2 << 20), ("small", 16)] {
                    match edgeless_function::try_sync(&vec![7u8; size]) {
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
