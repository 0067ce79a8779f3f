//! Handles requests from an `http-ingress`: casts each request's body to
//! `out` and answers 200 `accepted` (or 502 when `out` cannot take it).
use edgeless_function::http::{HttpRequest, HttpResponse};
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

struct HttpExtractor;

impl EdgeFunction for HttpExtractor {
    fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {}

    fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
        let Some(request) = HttpRequest::from_bytes(message) else {
            return CallRet::Err;
        };
        let response = match edgeless_function::try_cast("out", &request.body) {
            Ok(()) => HttpResponse::new(200, "accepted\n"),
            Err(error) => {
                log::warn!("http_extractor: {error}");
                HttpResponse::new(502, format!("{error}\n"))
            }
        };
        CallRet::Reply(response.to_bytes().into())
    }

    fn handle_stop() {}
}

edgeless_function::export!(HttpExtractor);
