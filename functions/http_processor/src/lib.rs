//! Answers requests from an `http-ingress`: `GET /hello` → 200 `World`,
//! `POST /echo` → 200 with the request body, `GET /nothing` → no reply
//! (the ingress answers 204), `GET /fail` → an error (the ingress answers
//! 502), anything else → 404.
use edgeless_function::http::{HttpRequest, HttpResponse};
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

struct HttpProcessor;

impl EdgeFunction for HttpProcessor {
    fn handle_init(_payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {}

    fn handle_call(_src: InstanceId, message: &[u8]) -> CallRet {
        let Some(request) = HttpRequest::from_bytes(message) else {
            log::warn!("http_processor: not an HTTP request");
            return CallRet::Err;
        };
        log::info!("http_processor: {} {}", request.method, request.path);
        let response = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/nothing") => return CallRet::NoReply,
            ("GET", "/fail") => return CallRet::Err,
            ("GET", "/hello") => HttpResponse::new(200, "World"),
            ("POST", "/echo") => HttpResponse::new(200, request.body),
            _ => HttpResponse::new(404, format!("no route for {} {}", request.method, request.path)),
        };
        CallRet::Reply(response.to_bytes().into())
    }

    fn handle_stop() {}
}

edgeless_function::export!(HttpProcessor);
