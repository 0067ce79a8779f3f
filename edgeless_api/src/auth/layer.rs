//! The authorization layer every edgeless gRPC server runs requests
//! through: identify the caller, check its role against the server's
//! [`Policy`], hand the [`Identity`] to the handler in the request's
//! extensions, or answer `UNAUTHENTICATED` / `PERMISSION_DENIED` without
//! reaching the handler.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::codegen::http;

use super::binding::PeerCaller;
use super::{Binding, Identity, Policy, TokenStore};

/// Identifies callers: by certificate with TLS, else by bearer token, else
/// (an open daemon) as the anonymous caller.
pub struct Verifier {
    tls: bool,
    tokens: Option<TokenStore>,
}

impl Verifier {
    /// A verifier for a server with or without TLS and tokens.
    pub fn new(tls: bool, tokens: Option<TokenStore>) -> Self {
        Self { tls, tokens }
    }

    /// Whether every caller is the anonymous administrator.
    pub fn is_open(&self) -> bool {
        !self.tls && self.tokens.is_none()
    }

    /// Whether `token` still names an identity (false once revoked); true
    /// for a server that does not check tokens.
    pub fn token_is_valid(&self, token: &str) -> bool {
        match &self.tokens {
            Some(tokens) if !self.tls => tokens.lookup(token).is_some(),
            _ => true,
        }
    }

    /// The identity a token names, when this server has a tokens file
    /// (also with TLS: for listeners that carry no certificate, such as
    /// the dashboard).
    pub fn token_identity(&self, token: &str) -> Option<Identity> {
        self.tokens.as_ref()?.lookup(token)
    }

    /// Whether this server has a tokens file.
    pub fn has_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// Whether callers are identified by certificate.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The caller of a request with these headers and extensions.
    pub fn identify(
        &self,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<Identity, Status> {
        if self.tls {
            return peer_identity(extensions).ok_or_else(|| {
                Status::unauthenticated(
                    "the client certificate names no edgeless identity (make it with `edgeless_cli tls generate`)",
                )
            });
        }
        let bearer = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match (&self.tokens, bearer) {
            (None, _) => Ok(Identity::anonymous()),
            (Some(tokens), Some(token)) => tokens.lookup(token.trim()).ok_or_else(|| {
                Status::unauthenticated(
                    "unknown token (revoked, or not in this daemon's tokens file)",
                )
            }),
            (Some(_), None) => Err(Status::unauthenticated(
                "this cluster needs a token: give one with --token-file or EDGELESS_TOKEN (create it with `edgeless_cli token create`)",
            )),
        }
    }
}

#[cfg(feature = "tls")]
fn peer_identity(extensions: &http::Extensions) -> Option<Identity> {
    use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
    let certificates = extensions
        .get::<TlsConnectInfo<TcpConnectInfo>>()?
        .peer_certs()?;
    super::cert::identity(certificates.first()?.as_ref())
}

#[cfg(not(feature = "tls"))]
fn peer_identity(_extensions: &http::Extensions) -> Option<Identity> {
    None
}

/// The layer that puts [`AuthService`] in front of a server's services.
#[derive(Clone)]
pub struct AuthLayer {
    policy: Policy,
    verifier: Arc<Verifier>,
    binding: Option<Binding>,
}

impl AuthLayer {
    /// Checks callers with `verifier` against `policy`.
    pub fn new(policy: Policy, verifier: Arc<Verifier>) -> Self {
        Self {
            policy,
            verifier,
            binding: None,
        }
    }

    /// Also checks that callers of the bound role are the bound peer.
    pub fn bound(mut self, binding: Option<Binding>) -> Self {
        self.binding = binding;
        self
    }
}

impl<S> tower_layer::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            policy: self.policy,
            verifier: self.verifier.clone(),
            binding: self.binding.clone(),
        }
    }
}

/// A service that only lets through callers the policy allows.
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    policy: Policy,
    verifier: Arc<Verifier>,
    binding: Option<Binding>,
}

impl<S> AuthService<S> {
    fn authorize<B>(
        &self,
        request: &http::Request<B>,
    ) -> Result<(Identity, Option<PeerCaller>), Status> {
        // Health checks and reflection need no credentials: they reveal
        // only whether the server serves, and the (public) API schema.
        let path = request.uri().path();
        if path.starts_with(HEALTH_SERVICE) || path.starts_with(REFLECTION_SERVICE) {
            return Ok((Identity::anonymous(), None));
        }
        let headers = request.headers();
        let presented = headers
            .get(super::binding::LINK_HEADER)
            .and_then(|v| v.to_str().ok());
        let linked = self
            .binding
            .as_ref()
            .and_then(|b| b.linked_identity(presented));
        // Without TLS, the link credential alone names its holder.
        let by_token = !self.verifier.is_tls() && !self.verifier.is_open();
        let bearer = headers.contains_key(http::header::AUTHORIZATION);
        let dataplane = matches!(self.binding, Some(Binding::Dataplane(_)));
        let identity = match &linked {
            Some((link, _)) if by_token && !bearer => link.clone(),
            None if presented.is_some() && ((by_token && !bearer) || dataplane) => {
                tracing::warn!(
                    method = request.uri().path(),
                    server = self.policy.server,
                    "refused a link credential that is not this server's"
                );
                return Err(Status::unauthenticated(
                    "the link credential presented is not this server's (another process handed it out)",
                ));
            }
            _ => self.verifier.identify(headers, request.extensions())?,
        };
        let method = request.uri().path();
        if let Some(binding) = &self.binding
            && let Err(reason) = binding.check(&identity, linked.is_some())
        {
            tracing::warn!(caller = %identity, method, server = self.policy.server, "refused: {reason}");
            return Err(Status::permission_denied(reason));
        }
        if identity.is_anonymous() || self.policy.allows(method, identity.role) {
            return Ok((identity, linked.and_then(|(_, peer)| peer)));
        }
        tracing::warn!(caller = %identity, method, server = self.policy.server, "refused");
        Err(Status::permission_denied(format!(
            "{identity} may not call {method} on the {} (it takes: {})",
            self.policy.server,
            self.policy.roles_for(method)
        )))
    }
}

/// The standard gRPC health service's path prefix.
const HEALTH_SERVICE: &str = "/grpc.health.v1.Health/";
/// The standard gRPC reflection service's path prefix.
const REFLECTION_SERVICE: &str = "/grpc.reflection.v1.ServerReflection/";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for AuthService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        match self.authorize(&request) {
            Ok((identity, peer)) => {
                request.extensions_mut().insert(identity);
                if let Some(peer) = peer {
                    request.extensions_mut().insert(peer);
                }
                Box::pin(self.inner.call(request))
            }
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use crate::auth::tokens::{TokenEntry, hash_token, write_entries};

    fn with_token(token: &str) -> (tempfile::TempDir, TokenStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let entry = TokenEntry {
            name: "alice".into(),
            role: Role::Client,
            tenant: "acme".into(),
            sha256: hash_token(token),
        };
        write_entries(&path, &[entry]).unwrap();
        let store = TokenStore::open(path.to_str().unwrap()).unwrap();
        (dir, store)
    }

    fn bearer(token: Option<&str>) -> http::HeaderMap {
        let mut headers = http::HeaderMap::new();
        if let Some(token) = token {
            headers.insert(
                http::header::AUTHORIZATION,
                format!("Bearer {token}").parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn the_policy_decides_for_named_callers_and_open_daemons_let_anyone_in() {
        use tower_layer::Layer;
        let request = |path: &str, token: Option<&str>| {
            let mut request = http::Request::builder().uri(path).body(()).unwrap();
            *request.headers_mut() = bearer(token);
            request
        };
        let (_dir, tokens) = with_token("edgeless_client");
        let policy = crate::auth::policy::CONTROLLER_WORKFLOWS;
        let checked =
            AuthLayer::new(policy, Arc::new(Verifier::new(false, Some(tokens)))).layer(());
        let list = "/edgeless_api.WorkflowInstance/List";
        let (alice, _) = checked
            .authorize(&request(list, Some("edgeless_client")))
            .unwrap();
        assert_eq!(alice.name, "alice");
        let domains = crate::auth::policy::CONTROLLER_DOMAINS;
        let (_dir, tokens) = with_token("edgeless_client");
        let elsewhere =
            AuthLayer::new(domains, Arc::new(Verifier::new(false, Some(tokens)))).layer(());
        let register = "/edgeless_api.DomainRegistration/UpdateDomain";
        let refused = elsewhere
            .authorize(&request(register, Some("edgeless_client")))
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        // Health needs no token; an open daemon lets anyone call anything.
        assert!(
            checked
                .authorize(&request("/grpc.health.v1.Health/Check", None))
                .is_ok()
        );
        let open = AuthLayer::new(domains, Arc::new(Verifier::new(false, None))).layer(());
        assert!(
            open.authorize(&request(register, None))
                .unwrap()
                .0
                .is_anonymous()
        );
    }

    #[test]
    fn a_daemon_is_open_only_without_tls_and_tokens() {
        let (_dir, tokens) = with_token("edgeless_a");
        assert!(Verifier::new(false, None).is_open());
        assert!(!Verifier::new(true, None).is_open());
        assert!(!Verifier::new(false, Some(tokens)).is_open());
    }

    #[test]
    fn callers_are_identified_by_their_token() {
        let extensions = http::Extensions::new();
        let open = Verifier::new(false, None);
        let anyone = open.identify(&bearer(None), &extensions).unwrap();
        assert!(anyone.is_anonymous());

        let (_dir, tokens) = with_token("edgeless_right");
        let checked = Verifier::new(false, Some(tokens));
        let alice = checked
            .identify(&bearer(Some("edgeless_right")), &extensions)
            .unwrap();
        assert_eq!((alice.role, alice.name.as_str()), (Role::Client, "alice"));
        for (token, reason) in [
            (Some("edgeless_wrong"), "unknown token"),
            (None, "needs a token"),
        ] {
            let status = checked.identify(&bearer(token), &extensions).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated);
            assert!(status.message().contains(reason), "{}", status.message());
        }
        // With TLS, a request without a client certificate names nobody.
        let status = Verifier::new(true, None)
            .identify(&bearer(Some("edgeless_right")), &extensions)
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }
}
