//! The JSON messages exchanged with the HTTP resources.
//!
//! `http-ingress` calls its target with an [`HttpRequest`] and turns the
//! reply, an [`HttpResponse`], into the HTTP response (a reply that is not
//! an `HttpResponse` is sent as a 200 body). `http-egress` is called with an
//! [`EgressRequest`] and replies with an [`HttpResponse`]. Bodies are text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An HTTP request received by `http-ingress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path with the query, e.g. `/hello?x=1`.
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// Request headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

/// An HTTP response, returned to `http-ingress` or by `http-egress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl Default for HttpResponse {
    fn default() -> Self {
        Self {
            status: 200,
            headers: BTreeMap::new(),
            body: String::new(),
        }
    }
}

/// A request for `http-egress` to perform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EgressRequest {
    /// `GET`, `POST`, ... (default `GET`).
    pub method: String,
    /// The full URL, e.g. `http://127.0.0.1:8080/path`.
    pub url: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

impl HttpResponse {
    /// A response with `status` and `body`.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// The JSON bytes to return from `handle_call`.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a reply; `None` when it is not a response.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

impl HttpRequest {
    /// Parses the payload `http-ingress` sends; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }

    /// The JSON bytes `http-ingress` sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl EgressRequest {
    /// A GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            ..Default::default()
        }
    }

    /// The JSON bytes to call `http-egress` with.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses a payload; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_default_sensibly() {
        let response = HttpResponse::new(404, "nope");
        assert_eq!(
            HttpResponse::from_bytes(&response.to_bytes()),
            Some(response)
        );
        assert_eq!(HttpResponse::from_bytes(b"{}").unwrap().status, 200);
        assert_eq!(HttpResponse::from_bytes(b"World"), None);
        let request = EgressRequest::get("http://x/");
        assert_eq!(
            EgressRequest::from_bytes(&request.to_bytes()),
            Some(request)
        );
    }
}
