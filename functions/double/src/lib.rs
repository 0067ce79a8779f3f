//! Doubles each integer it receives and casts the result on `result`;
//! a call gets the result as its reply.
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

fn apply(message: &[u8]) -> Option<i64> {
    let n: i64 = std::str::from_utf8(message).ok()?.trim().parse().ok()?;
    n.checked_mul(2)
}

struct Op;

impl EdgeFunction for Op {
    fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
    }

    fn handle_cast(_src: InstanceId, message: &[u8]) {
        match apply(message) {
            Some(result) => {
                log::info!("double: {} -> {result}", String::from_utf8_lossy(message));
                edgeless_function::cast("result", result.to_string().as_bytes());
            }
            None => log::warn!("double: not an integer: {:?}", String::from_utf8_lossy(message)),
        }
    }

    fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
        match apply(message) {
            Some(result) => CallRet::Reply(result.to_string().into_bytes().into()),
            None => CallRet::Err,
        }
    }

    fn handle_stop() {}
}

edgeless_function::export!(Op);
