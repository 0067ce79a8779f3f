//! Calls an `http-egress` resource (output `http_e`) with a GET of `url`
//! every `period` ms (init-payload `url=...,period=...`, default 5000) and
//! logs the status and body of each answer. With `body=TEXT` it sends a
//! POST of TEXT instead. Every request carries the header
//! `x-edgeless-function: http_requestor` and a `x-request-number`.
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use edgeless_function::http::{EgressRequest, HttpResponse};
use edgeless_function::{CallRet, EdgeFunction, InstanceId, log};

static URL: Mutex<String> = Mutex::new(String::new());
static BODY: Mutex<String> = Mutex::new(String::new());
static PERIOD_MS: AtomicU64 = AtomicU64::new(5000);
static SENT: AtomicU64 = AtomicU64::new(0);

struct HttpRequestor;

impl EdgeFunction for HttpRequestor {
    fn handle_init(payload: Option<&[u8]>, _state: Option<&[u8]>) {
        edgeless_function::init_logger();
        let args = edgeless_function::init_payload_to_args(payload);
        let Some(url) = args.get("url") else {
            log::error!("http_requestor: init-payload has no url=...");
            return;
        };
        if let Ok(mut slot) = URL.lock() {
            *slot = url.to_string();
        }
        if let (Some(body), Ok(mut slot)) = (args.get("body"), BODY.lock()) {
            *slot = body.to_string();
        }
        if let Some(period) = args.get("period").and_then(|p| p.parse().ok()) {
            PERIOD_MS.store(period, Ordering::Relaxed);
        }
        edgeless_function::cast("self", b"go");
    }

    fn handle_cast(_src: InstanceId, _message: &[u8]) {
        let url = URL.lock().map(|u| u.clone()).unwrap_or_default();
        let mut request = EgressRequest::get(&url);
        let body = BODY.lock().map(|b| b.clone()).unwrap_or_default();
        if !body.is_empty() {
            request.method = "POST".into();
            request.body = body.into_bytes();
        }
        let number = SENT.fetch_add(1, Ordering::Relaxed) + 1;
        request
            .headers
            .insert("x-edgeless-function".into(), "http_requestor".into());
        request
            .headers
            .insert("x-request-number".into(), number.to_string());
        let method = request.method.clone();
        match edgeless_function::call("http_e", &request.to_bytes()) {
            CallRet::Reply(reply) => match HttpResponse::from_bytes(&reply) {
                Some(response) => log::info!("http_requestor: {url} answered {}: {}", response.status, response.body_text()),
                None => log::warn!("http_requestor: unexpected reply"),
            },
            CallRet::NoReply => log::warn!("http_requestor: no reply"),
            CallRet::Err => log::warn!("http_requestor: {method} {url} failed"),
        }
        edgeless_function::delayed_cast(PERIOD_MS.load(Ordering::Relaxed), "self", b"go");
    }

    fn handle_call(_src: InstanceId, _message: &[u8]) -> CallRet {
        CallRet::NoReply
    }

    fn handle_stop() {}
}

edgeless_function::export!(HttpRequestor);
