//! Answers every call with `PONG` and logs who asked.
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

/// The function.
pub struct Pong;

impl EdgeFunction for Pong {
    fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        log::info!("pong: started as {}", edgeless_function::slf());
    }

    fn handle_cast(src: InstanceId, message: &[u8]) {
        log::info!("pong: cast from {src}: {}", String::from_utf8_lossy(message));
    }

    fn handle_call(src: InstanceId, message: &[u8]) -> CallRet {
        log::info!("pong: {} from {src}", String::from_utf8_lossy(message));
        CallRet::Reply(b"PONG".to_vec().into())
    }

    fn handle_stop() {
        log::info!("pong: stopped");
    }
}

edgeless_function::export!(Pong);
