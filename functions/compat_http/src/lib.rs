//! An http function in the style of the original EDGELESS: it reads the
//! http-ingress request with `edgeless_http::request_from_string` and
//! answers with `response_to_string`. `POST /fetch` with a `host:port` body
//! posts to that server's `/submit` through http-egress (a request built as
//! an `EdgelessHTTPRequest`) and answers with what the server said.
use std::collections::HashMap;

use edgeless_function::*;
use edgeless_http::*;

struct CompatHttp;

fn fetch(backend: String) -> String {
    let outgoing = EdgelessHTTPRequest {
        method: EdgelessHTTPMethod::Post,
        protocol: EdgelessHTTPProtocol::HTTP,
        host: backend,
        path: "/submit".to_string(),
        body: Some(b"from compat".to_vec()),
        headers: HashMap::from([("x-compat".to_string(), "1".to_string())]),
    };
    match call("egress", request_to_string(&outgoing).as_bytes()) {
        CallRet::Reply(reply) => {
            match response_from_string(core::str::from_utf8(&reply).unwrap_or("")) {
                Ok(response) => format!(
                    "backend said {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body.unwrap_or_default())
                ),
                Err(error) => format!("unreadable egress reply: {error}"),
            }
        }
        CallRet::NoReply => "no egress reply".to_string(),
        CallRet::Err => "egress failed".to_string(),
    }
}

impl EdgeFunction for CompatHttp {
    fn handle_cast(_src: InstanceId, _encoded_message: &[u8]) {}

    fn handle_call(_src: InstanceId, encoded_message: &[u8]) -> CallRet {
        let request = match request_from_string(core::str::from_utf8(encoded_message).unwrap_or(""))
        {
            Ok(request) => request,
            Err(_) => return CallRet::Err,
        };
        let text = match (request.method, request.path.as_str()) {
            (EdgelessHTTPMethod::Post, "/fetch") => {
                fetch(String::from_utf8(request.body.unwrap_or_default()).unwrap_or_default())
            }
            (method, path) => format!(
                "{} {} from {}",
                edgeless_method_to_string(method),
                path,
                request.host
            ),
        };
        let response = EdgelessHTTPResponse {
            body: Some(text.into_bytes()),
            status: 200,
            headers: HashMap::from([("content-type".to_string(), "text/plain".to_string())]),
        };
        CallRet::Reply(OwnedByteBuff::new_from_slice(response_to_string(&response).as_bytes()))
    }

    fn handle_init(_payload: Option<&[u8]>, _serialized_state: Option<&[u8]>) {}

    fn handle_stop() {}
}

export!(CompatHttp);
