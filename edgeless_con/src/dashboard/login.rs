//! Who looks at the dashboard. On a controller with a tokens file, the page
//! and its data need a token: the browser asks for one (HTTP Basic: any
//! user name, the token as the password) or a client sends it as a bearer
//! token. An administrator sees everything; a client sees the domains and
//! its own tenant's workflows and events; other roles are refused. A
//! controller without tokens (open, or with TLS only) shows everything to
//! whoever reaches the listener, which is on loopback by default.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use edgeless_api::auth::{Identity, Role};

/// What the viewer of a request may see: `None` every tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Viewer(pub Option<String>);

/// The token a request presents, as a bearer token or as the password of
/// HTTP Basic authentication.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_string());
    }
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, token) = text.split_once(':')?;
    Some(token.to_string())
}

/// The viewer of a request with `headers`, or the answer that refuses it.
pub fn viewer(headers: &HeaderMap) -> Result<Viewer, Box<Response>> {
    let verifier = edgeless_api::auth::verifier();
    if !verifier.has_tokens() {
        return Ok(Viewer(None));
    }
    let identity: Option<Identity> =
        presented_token(headers).and_then(|token| verifier.token_identity(&token));
    match identity {
        None => Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"edgeless dashboard (the password is your token)\"",
            )],
                "this dashboard needs a token: an administrator's sees everything, a client's its own tenant\n",
            )
                .into_response(),
        )),
        Some(identity) if identity.role == Role::Admin => Ok(Viewer(None)),
        Some(identity) if identity.role == Role::Client => Ok(Viewer(Some(identity.tenant))),
        Some(identity) => Err(Box::new(
            (
                StatusCode::FORBIDDEN,
                format!("{identity} may not view the dashboard (clients and administrators may)\n"),
            )
                .into_response(),
        )),
    }
}

/// The middleware: refuses requests without a viewer, hands the viewer on.
pub async fn require_viewer(mut request: Request, next: Next) -> Response {
    match viewer(request.headers()) {
        Ok(viewer) => {
            request.extensions_mut().insert(viewer);
            next.run(request).await
        }
        Err(refusal) => *refusal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_from_bearer_or_basic_authentication() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer edgeless_x".parse().unwrap());
        assert_eq!(presented_token(&headers).as_deref(), Some("edgeless_x"));
        let basic = base64::engine::general_purpose::STANDARD.encode("me:edgeless_y");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        assert_eq!(presented_token(&headers).as_deref(), Some("edgeless_y"));
        headers.insert(header::AUTHORIZATION, "Basic !!!".parse().unwrap());
        assert_eq!(presented_token(&headers), None);
    }
}
