//! The messages of the HTTP resources in the original EDGELESS format, so
//! that http functions written for it work unchanged.
//!
//! `http-ingress` calls its function with [`request_to_string`] of the
//! request it received (protocol [`EdgelessHTTPProtocol::Unknown`], the
//! path with its query) and answers the client with the function's reply
//! read by [`response_from_string`]. `http-egress` takes a call whose
//! payload [`request_from_string`] reads (the URL is `http://` or
//! `https://`, by protocol, then host and path) and replies with
//! [`response_to_string`].
//!
//! The JSON is serde's: methods and protocols by variant name (`"Get"`,
//! `"HTTP"`), bodies as `null` or an array of byte values.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EdgelessHTTPMethod {
    /// GET
    Get,
    /// HEAD
    Head,
    /// POST
    Post,
    /// PUT
    Put,
    /// DELETE
    Delete,
    /// PATCH
    Patch,
}

/// The scheme of a request.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum EdgelessHTTPProtocol {
    /// Not known (what http-ingress sends).
    #[default]
    Unknown,
    /// Plain HTTP.
    HTTP,
    /// HTTP over TLS.
    HTTPS,
}

/// A request: received by http-ingress, or for http-egress to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgelessHTTPRequest {
    /// The method.
    pub method: EdgelessHTTPMethod,
    /// The scheme.
    pub protocol: EdgelessHTTPProtocol,
    /// The host (and port), e.g. `example.com:8080`.
    pub host: String,
    /// The path with the query, e.g. `/items?id=1`.
    pub path: String,
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The headers.
    pub headers: HashMap<String, String>,
}

/// A response: a function's answer to http-ingress, or what http-egress got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgelessHTTPResponse {
    /// The body, if any.
    pub body: Option<Vec<u8>>,
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HashMap<String, String>,
}

/// `request` as JSON.
pub fn request_to_string(request: &EdgelessHTTPRequest) -> String {
    serde_json::to_string(request).unwrap_or_default()
}

/// A request from JSON.
pub fn request_from_string(json: &str) -> anyhow::Result<EdgelessHTTPRequest> {
    Ok(serde_json::from_str(json)?)
}

/// `response` as JSON.
pub fn response_to_string(response: &EdgelessHTTPResponse) -> String {
    serde_json::to_string(response).unwrap_or_default()
}

/// A response from JSON.
pub fn response_from_string(json: &str) -> anyhow::Result<EdgelessHTTPResponse> {
    Ok(serde_json::from_str(json)?)
}

/// The method named `method` (`"GET"`, `"post"`, …).
pub fn string_method_to_edgeless(method: &str) -> anyhow::Result<EdgelessHTTPMethod> {
    match method.to_ascii_uppercase().as_str() {
        "GET" => Ok(EdgelessHTTPMethod::Get),
        "HEAD" => Ok(EdgelessHTTPMethod::Head),
        "POST" => Ok(EdgelessHTTPMethod::Post),
        "PUT" => Ok(EdgelessHTTPMethod::Put),
        "DELETE" => Ok(EdgelessHTTPMethod::Delete),
        "PATCH" => Ok(EdgelessHTTPMethod::Patch),
        _ => anyhow::bail!("HTTP method {method:?} is not supported"),
    }
}

/// The name of `method` on the wire (`"GET"`, …).
pub fn edgeless_method_to_string(method: EdgelessHTTPMethod) -> String {
    match method {
        EdgelessHTTPMethod::Get => "GET",
        EdgelessHTTPMethod::Head => "HEAD",
        EdgelessHTTPMethod::Post => "POST",
        EdgelessHTTPMethod::Put => "PUT",
        EdgelessHTTPMethod::Delete => "DELETE",
        EdgelessHTTPMethod::Patch => "PATCH",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_use_the_original_json() {
        let request = EdgelessHTTPRequest {
            method: EdgelessHTTPMethod::Post,
            protocol: EdgelessHTTPProtocol::Unknown,
            host: "h:1".into(),
            path: "/p?q=1".into(),
            body: Some(vec![0, 255]),
            headers: HashMap::from([("a".to_string(), "b".to_string())]),
        };
        let json = request_to_string(&request);
        assert_eq!(
            json,
            r#"{"method":"Post","protocol":"Unknown","host":"h:1","path":"/p?q=1","body":[0,255],"headers":{"a":"b"}}"#
        );
        assert_eq!(request_from_string(&json).unwrap(), request);
        let response = EdgelessHTTPResponse {
            body: None,
            status: 204,
            headers: HashMap::new(),
        };
        let json = response_to_string(&response);
        assert_eq!(json, r#"{"body":null,"status":204,"headers":{}}"#);
        assert_eq!(response_from_string(&json).unwrap(), response);
        assert!(response_from_string("{}").is_err());
    }

    #[test]
    fn methods_convert_both_ways() {
        for name in ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"] {
            let method = string_method_to_edgeless(name).unwrap();
            assert_eq!(edgeless_method_to_string(method), name);
        }
        assert_eq!(
            string_method_to_edgeless("get").unwrap(),
            EdgelessHTTPMethod::Get
        );
        assert!(string_method_to_edgeless("OPTIONS").is_err());
    }
}
