//! Does nothing but log what it receives: the smallest useful function.
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

struct Noop;

impl EdgeFunction for Noop {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        log::info!("noop: init with payload {:?}", payload.map(String::from_utf8_lossy));
    }

    fn handle_cast(src: InstanceId, message: &[u8]) {
        log::info!("noop: cast from {src}: {}", String::from_utf8_lossy(message));
    }

    fn handle_call(src: InstanceId, message: &[u8]) -> CallRet {
        log::info!("noop: call from {src}: {}", String::from_utf8_lossy(message));
        CallRet::NoReply
    }

    fn handle_stop() {
        log::info!("noop: stop");
    }
}

edgeless_function::export!(Noop);
