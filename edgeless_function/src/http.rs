//! The messages exchanged with the HTTP resources.
//!
//! `http-ingress` calls its target with an [`HttpRequest`] and turns the
//! reply, an [`HttpResponse`], into the HTTP response (a reply that is not
//! an `HttpResponse` is sent as a 200 body). `http-egress` is called with an
//! [`EgressRequest`] and replies with an [`HttpResponse`].
//!
//! On the wire each message is a line of JSON with everything but the body
//! (`{"method":"POST","path":"/echo","host":"h","headers":{...}}`), a
//! newline, and the body's bytes as they are: binary bodies pass unchanged
//! and no larger. Compact JSON has no raw newline, so the first newline
//! ends the head.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// An HTTP request received by `http-ingress`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path with the query, e.g. `/hello?x=1`.
    pub path: String,
    /// The `Host` header.
    pub host: String,
    /// Request headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// An HTTP response, returned to `http-ingress` or by `http-egress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Default for HttpResponse {
    fn default() -> Self {
        Self {
            status: 200,
            headers: BTreeMap::new(),
            body: Vec::new(),
        }
    }
}

/// A request for `http-egress` to perform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressRequest {
    /// `GET`, `POST`, ... (default `GET`).
    pub method: String,
    /// The full URL, e.g. `http://127.0.0.1:8080/path`.
    pub url: String,
    /// Request headers.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct RequestHead {
    method: String,
    path: String,
    host: String,
    headers: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
#[serde(default)]
struct ResponseHead {
    status: u16,
    headers: BTreeMap<String, String>,
}

impl Default for ResponseHead {
    fn default() -> Self {
        Self {
            status: 200,
            headers: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(default)]
struct EgressHead {
    method: String,
    url: String,
    headers: BTreeMap<String, String>,
}

/// `head` as a JSON line, then `body`.
fn frame(head: &impl Serialize, body: &[u8]) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(head).unwrap_or_default();
    bytes.reserve(body.len() + 1);
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    bytes
}

/// The head and the body of a framed message; `None` when it is not one.
fn unframe<H: DeserializeOwned>(bytes: &[u8]) -> Option<(H, Vec<u8>)> {
    let end = bytes.iter().position(|b| *b == b'\n')?;
    if bytes.first() != Some(&b'{') {
        return None;
    }
    let head = serde_json::from_slice(&bytes[..end]).ok()?;
    Some((head, bytes[end + 1..].to_vec()))
}

/// A body as text (invalid UTF-8 replaced).
fn text(body: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(body)
}

impl HttpResponse {
    /// A response with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Cow<'_, str> {
        text(&self.body)
    }

    /// The bytes to return from `handle_call`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = ResponseHead {
            status: self.status,
            headers: self.headers.clone(),
        };
        frame(&head, &self.body)
    }

    /// Parses a reply; `None` when it is not a response.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (head, body) = unframe::<ResponseHead>(bytes)?;
        Some(Self {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}

impl HttpRequest {
    /// The body as text (invalid UTF-8 replaced).
    pub fn body_text(&self) -> Cow<'_, str> {
        text(&self.body)
    }

    /// Parses the payload `http-ingress` sends; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (head, body) = unframe::<RequestHead>(bytes)?;
        Some(Self {
            method: head.method,
            path: head.path,
            host: head.host,
            headers: head.headers,
            body,
        })
    }

    /// The bytes `http-ingress` sends.
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = RequestHead {
            method: self.method.clone(),
            path: self.path.clone(),
            host: self.host.clone(),
            headers: self.headers.clone(),
        };
        frame(&head, &self.body)
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

    /// The bytes to call `http-egress` with.
    pub fn to_bytes(&self) -> Vec<u8> {
        let head = EgressHead {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
        };
        frame(&head, &self.body)
    }

    /// Parses a payload; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let (head, body) = unframe::<EgressHead>(bytes)?;
        Some(Self {
            method: head.method,
            url: head.url,
            headers: head.headers,
            body,
        })
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
        assert_eq!(HttpResponse::from_bytes(b"{}\n").unwrap().status, 200);
        assert_eq!(HttpResponse::from_bytes(b"World"), None);
        assert_eq!(HttpResponse::from_bytes(b"{\"status\": 200}"), None);
        assert_eq!(HttpResponse::from_bytes(b"hello\n{}"), None);
        let request = EgressRequest::get("http://x/");
        assert_eq!(
            EgressRequest::from_bytes(&request.to_bytes()),
            Some(request)
        );
    }

    #[test]
    fn binary_bodies_pass_unchanged_and_no_larger() {
        let body: Vec<u8> = (0..=255u8).cycle().take(1 << 16).collect();
        let request = HttpRequest {
            method: "POST".into(),
            path: "/upload\nx".into(),
            host: "h".into(),
            headers: BTreeMap::from([("a\nb".into(), "c".into())]),
            body: body.clone(),
        };
        let bytes = request.to_bytes();
        assert!(bytes.len() < body.len() + 100, "{} bytes", bytes.len());
        assert_eq!(HttpRequest::from_bytes(&bytes), Some(request));
        let response = HttpResponse::new(200, body.clone());
        let bytes = response.to_bytes();
        assert!(bytes.len() < body.len() + 100, "{} bytes", bytes.len());
        assert_eq!(HttpResponse::from_bytes(&bytes), Some(response));
        let empty = HttpRequest::default().to_bytes();
        assert!(empty.len() < 64, "{}", String::from_utf8_lossy(&empty));
    }
}
