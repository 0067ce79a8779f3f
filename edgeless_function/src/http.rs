//! The messages exchanged with the HTTP resources.
//!
//! `http-ingress` calls its target with an [`HttpRequest`] and turns the
//! reply, an [`HttpResponse`], into the HTTP response (a reply that is not
//! an `HttpResponse` is sent as a 200 body). `http-egress` is called with an
//! [`EgressRequest`] and replies with an [`HttpResponse`].
//!
//! Two encodings are read everywhere:
//! - the original EDGELESS JSON of the `edgeless_http` crate (one JSON
//!   object, bodies as arrays of byte values): what `http-ingress` sends its
//!   function and `http-egress` replies, so functions written for the
//!   original work unchanged;
//! - a line of JSON with everything but the body
//!   (`{"method":"POST","path":"/echo","host":"h","headers":{...}}`), a
//!   newline, and the body's bytes as they are: what `to_bytes` writes, so
//!   binary bodies pass unchanged and no larger.
//!
//! Compact JSON has no raw newline: a message with one is the second kind,
//! and its first newline ends the head.

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

/// The original EDGELESS message in `bytes`, when it is one (a JSON object
/// without a raw newline).
fn original<T, E>(bytes: &[u8], parse: fn(&str) -> Result<T, E>) -> Option<T> {
    if bytes.first() != Some(&b'{') || bytes.contains(&b'\n') {
        return None;
    }
    parse(core::str::from_utf8(bytes).ok()?).ok()
}

fn sorted(headers: std::collections::HashMap<String, String>) -> BTreeMap<String, String> {
    headers.into_iter().collect()
}

/// A body as the original format holds it: none when empty.
fn optional(body: &[u8]) -> Option<Vec<u8>> {
    (!body.is_empty()).then(|| body.to_vec())
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

    /// The response in the original EDGELESS format (what `http-egress`
    /// replies).
    pub fn to_edgeless_http(&self) -> Vec<u8> {
        let response = edgeless_http::EdgelessHTTPResponse {
            body: optional(&self.body),
            status: self.status,
            headers: self.headers.clone().into_iter().collect(),
        };
        edgeless_http::response_to_string(&response).into_bytes()
    }

    /// Parses a reply in either encoding; `None` when it is not a response.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if let Some(response) = original(bytes, edgeless_http::response_from_string) {
            return Some(Self {
                status: response.status,
                headers: sorted(response.headers),
                body: response.body.unwrap_or_default(),
            });
        }
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

    /// The request in the original EDGELESS format (what `http-ingress`
    /// sends); `None` for a method that format has no name for (it knows
    /// GET, HEAD, POST, PUT, DELETE and PATCH).
    pub fn to_edgeless_http(&self) -> Option<Vec<u8>> {
        self.clone().into_edgeless_http().ok()
    }

    /// [`HttpRequest::to_edgeless_http`] without copying the request's
    /// parts; a method the format has no name for gives the request back.
    pub fn into_edgeless_http(self) -> Result<Vec<u8>, Self> {
        let Ok(method) = edgeless_http::string_method_to_edgeless(&self.method) else {
            return Err(self);
        };
        let request = edgeless_http::EdgelessHTTPRequest {
            method,
            protocol: edgeless_http::EdgelessHTTPProtocol::Unknown,
            host: self.host,
            path: self.path,
            body: (!self.body.is_empty()).then_some(self.body),
            headers: self.headers.into_iter().collect(),
        };
        Ok(edgeless_http::request_to_string(&request).into_bytes())
    }

    /// Parses a request in either encoding; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if let Some(request) = original(bytes, edgeless_http::request_from_string) {
            return Some(Self {
                method: edgeless_http::edgeless_method_to_string(request.method),
                path: request.path,
                host: request.host,
                headers: sorted(request.headers),
                body: request.body.unwrap_or_default(),
            });
        }
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

    /// Parses a payload in either encoding (the original's URL is `http://`
    /// or, for protocol HTTPS, `https://`, then host and path); `None` when
    /// it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if let Some(request) = original(bytes, edgeless_http::request_from_string) {
            let scheme = match request.protocol {
                edgeless_http::EdgelessHTTPProtocol::HTTPS => "https",
                _ => "http",
            };
            return Some(Self {
                method: edgeless_http::edgeless_method_to_string(request.method),
                url: format!("{scheme}://{}{}", request.host, request.path),
                headers: sorted(request.headers),
                body: request.body.unwrap_or_default(),
            });
        }
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
    fn the_original_format_is_read_and_written() {
        let request = HttpRequest {
            method: "POST".into(),
            path: "/p?q=1".into(),
            host: "h".into(),
            headers: BTreeMap::from([("a".into(), "b".into())]),
            body: vec![1, 2],
        };
        let json = request.to_edgeless_http().unwrap();
        let original =
            edgeless_http::request_from_string(core::str::from_utf8(&json).unwrap()).unwrap();
        assert_eq!(original.method, edgeless_http::EdgelessHTTPMethod::Post);
        assert_eq!(original.body, Some(vec![1, 2]));
        assert_eq!(HttpRequest::from_bytes(&json), Some(request));
        let options = HttpRequest {
            method: "OPTIONS".into(),
            ..Default::default()
        };
        assert_eq!(options.to_edgeless_http(), None);
        let response = HttpResponse::new(201, "made");
        assert_eq!(
            HttpResponse::from_bytes(&response.to_edgeless_http()),
            Some(response)
        );
        let egress = br#"{"method":"Get","protocol":"HTTPS","host":"x:8","path":"/a","body":null,"headers":{}}"#;
        let read = EgressRequest::from_bytes(egress).unwrap();
        assert_eq!(
            (read.method.as_str(), read.url.as_str()),
            ("GET", "https://x:8/a")
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
