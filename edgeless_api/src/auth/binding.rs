//! Servers bound to the one peer that drives them.
//!
//! A role alone says too little for a server that obeys a single peer: a
//! node's agent takes orders from the orchestrator it registered with, not
//! from every orchestrator identity of the cluster; an orchestrator takes
//! deployments from the controller it registered with. Such a server holds
//! a [`Binding`]:
//!
//! - [`Binding::Link`]: the server made a random **link credential** at
//!   start ([`LinkGrant`]) and handed it out with its registration. Its
//!   registrar presents it ([`LINK_HEADER`]) whenever it calls back, and
//!   never its own token: the address it calls back is one the registering
//!   peer chose, so whatever is presented there must be worth nothing
//!   anywhere else. Callers of the bound role without the credential are
//!   refused, whatever their token or certificate.
//! - [`Binding::Identity`]: callers of the bound role must be one named
//!   identity (for a server its peer reaches at a configured address, such
//!   as an ε-BAL's agent). Without a configured name, the first identity
//!   of the role that calls is the one.
//! - [`Binding::Dataplane`]: a node's dataplane takes streams from the
//!   nodes of its domain with a **peer credential** its orchestrator made
//!   for each pair from the node's link credential
//!   ([`peer_credential`], an HMAC the node checks without keeping
//!   state), which names the sending node ([`PeerCaller`]); its domain's
//!   ε-BAL presents a relay credential ([`relay_credential`]). Other
//!   callers identify as before (token or certificate).

use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::{Identity, Role, hash_token, new_token};

/// The metadata key that carries a link credential.
pub const LINK_HEADER: &str = "x-edgeless-link";

/// A random credential a server hands to its registrar with its
/// registration; only the holder may call it in the bound role.
pub struct LinkGrant {
    role: Role,
    token: String,
    hash: String,
}

impl LinkGrant {
    /// A new credential for callers of `role`.
    pub fn new(role: Role) -> Self {
        let token = new_token();
        let hash = hash_token(&token);
        Self { role, token, hash }
    }

    /// The credential, to send with the registration.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Whether `presented` is this credential. Compares hashes, so the time
    /// taken says nothing about the credential.
    pub fn matches(&self, presented: &str) -> bool {
        hash_token(presented) == self.hash
    }

    /// Who presents `value` on a dataplane stream, if it is a peer or relay
    /// credential made from this credential.
    pub fn peer_caller(&self, value: &str) -> Option<PeerCaller> {
        let expected = if let Some(rest) = value.strip_prefix("peer:") {
            let (caller, _) = rest.split_once(':')?;
            let caller = Uuid::parse_str(caller).ok()?;
            (
                peer_credential(&self.token, caller),
                PeerCaller::Node(caller),
            )
        } else if value.starts_with("relay:") {
            (relay_credential(&self.token), PeerCaller::Relay)
        } else {
            return None;
        };
        // Compared by hash: the time taken says nothing about the value.
        (hash_token(&expected.0) == hash_token(value)).then_some(expected.1)
    }
}

/// Who sends on a dataplane stream, as its peer credential proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerCaller {
    /// A node of the domain: its events have their source there.
    Node(Uuid),
    /// The domain's ε-BAL: it relays events from other domains.
    Relay,
}

fn mac(key: &str, message: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let tag = ring::hmac::sign(&key, message.as_bytes());
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// The credential node `caller` presents on its stream to the node whose
/// link credential is `key` (made by their orchestrator, which knows the
/// key; checked by the receiving node, which knows it too).
pub fn peer_credential(key: &str, caller: Uuid) -> String {
    format!(
        "peer:{caller}:{}",
        mac(key, &format!("edgeless dataplane {caller}"))
    )
}

/// The credential a domain's ε-BAL presents on its stream to the node
/// whose link credential is `key`.
pub fn relay_credential(key: &str) -> String {
    format!("relay:{}", mac(key, "edgeless relay"))
}

/// Whom a server obeys in its bound role (see the module's documentation).
#[derive(Clone)]
pub enum Binding {
    /// Callers of the grant's role present its credential.
    Link(Arc<LinkGrant>),
    /// Callers of `role` are the identity named `name`; `None` until the
    /// first one calls, when none was configured.
    Identity {
        /// The bound role.
        role: Role,
        /// The identity's name.
        name: Arc<Mutex<Option<String>>>,
    },
    /// A node's dataplane: peer and relay credentials made from the
    /// grant's credential name their sender.
    Dataplane(Arc<LinkGrant>),
}

impl Binding {
    /// Callers of `role` must be `name`, or the first identity of the role
    /// that calls when `name` is empty.
    pub fn identity(role: Role, name: &str) -> Self {
        let name = (!name.is_empty()).then(|| name.to_string());
        Binding::Identity {
            role,
            name: Arc::new(Mutex::new(name)),
        }
    }

    /// The identity a link credential stands for, when the request carries
    /// the credential of a link binding, with the sender a dataplane
    /// stream's credential names.
    pub(super) fn linked_identity(
        &self,
        presented: Option<&str>,
    ) -> Option<(Identity, Option<PeerCaller>)> {
        let presented = presented?;
        let (role, name, peer) = match self {
            Binding::Link(grant) if grant.matches(presented) => {
                (grant.role, format!("{} (link)", grant.role), None)
            }
            Binding::Dataplane(grant) => {
                let peer = grant.peer_caller(presented)?;
                let name = match peer {
                    PeerCaller::Node(node) => format!("node {node} (peer link)"),
                    PeerCaller::Relay => "balancer (relay link)".to_string(),
                };
                (Role::Node, name, Some(peer))
            }
            _ => return None,
        };
        let identity = Identity {
            role,
            name,
            tenant: super::DEFAULT_TENANT.to_string(),
        };
        Some((identity, peer))
    }

    /// Refuses `identity` when it has the bound role but is not the bound
    /// peer. `linked` says whether the request carried the link credential.
    pub(super) fn check(&self, identity: &Identity, linked: bool) -> Result<(), String> {
        if identity.is_anonymous() {
            return Ok(());
        }
        match self {
            Binding::Link(grant) if identity.role == grant.role && !linked => Err(format!(
                "{identity} is not the {} this server registered with: it takes {} calls only with the link credential it handed out when it registered",
                grant.role, grant.role
            )),
            Binding::Identity { role, name } if identity.role == *role => {
                let mut bound = name.lock().unwrap_or_else(|e| e.into_inner());
                match bound.as_deref() {
                    Some(name) if name != identity.name => Err(format!(
                        "{identity} may not drive this server: it is bound to {role} `{name}`"
                    )),
                    Some(_) => Ok(()),
                    None => {
                        tracing::warn!(%identity, "bound to the first {role} that called (name it in the configuration to choose)");
                        *bound = Some(identity.name.clone());
                        Ok(())
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(role: Role, name: &str) -> Identity {
        Identity {
            role,
            name: name.into(),
            tenant: super::super::DEFAULT_TENANT.into(),
        }
    }

    #[test]
    fn a_link_binding_takes_its_role_only_with_the_credential() {
        let grant = Arc::new(LinkGrant::new(Role::Orchestrator));
        let binding = Binding::Link(grant.clone());
        let orchestrator = named(Role::Orchestrator, "orchestrator");
        let error = binding.check(&orchestrator, false).unwrap_err();
        assert!(error.contains("link credential"), "{error}");
        assert!(binding.check(&orchestrator, true).is_ok());
        // Other roles are the policy's business.
        assert!(binding.check(&named(Role::Admin, "ops"), false).is_ok());
        assert!(binding.check(&Identity::anonymous(), false).is_ok());
        let (linked, peer) = binding.linked_identity(Some(grant.token())).unwrap();
        assert_eq!((linked.role, peer), (Role::Orchestrator, None));
        assert!(binding.linked_identity(Some("edgeless_other")).is_none());
        assert!(binding.linked_identity(None).is_none());
        assert_ne!(LinkGrant::new(Role::Node).token(), grant.token());
    }

    #[test]
    fn peer_credentials_name_their_sender_and_cannot_be_made_without_the_key() {
        let grant = LinkGrant::new(Role::Orchestrator);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let for_a = peer_credential(grant.token(), a);
        assert_eq!(grant.peer_caller(&for_a), Some(PeerCaller::Node(a)));
        // The credential made for a names a, not b; another key makes
        // credentials this node refuses.
        let renamed = for_a.replace(&a.to_string(), &b.to_string());
        assert_eq!(grant.peer_caller(&renamed), None);
        let other = LinkGrant::new(Role::Orchestrator);
        assert_eq!(grant.peer_caller(&peer_credential(other.token(), a)), None);
        assert_eq!(
            grant.peer_caller(&relay_credential(grant.token())),
            Some(PeerCaller::Relay)
        );
        assert_eq!(grant.peer_caller(&relay_credential(other.token())), None);
        assert_eq!(grant.peer_caller(grant.token()), None);
        let binding = Binding::Dataplane(Arc::new(grant));
        let (identity, peer) = binding.linked_identity(Some(&for_a)).unwrap();
        assert_eq!(
            (identity.role, peer),
            (Role::Node, Some(PeerCaller::Node(a)))
        );
    }

    #[test]
    fn an_identity_binding_takes_the_named_or_the_first_caller() {
        let named_binding = Binding::identity(Role::Orchestrator, "orchestrator-a");
        assert!(
            named_binding
                .check(&named(Role::Orchestrator, "orchestrator-a"), false)
                .is_ok()
        );
        let error = named_binding
            .check(&named(Role::Orchestrator, "orchestrator-b"), false)
            .unwrap_err();
        assert!(
            error.contains("bound to orchestrator `orchestrator-a`"),
            "{error}"
        );
        let first = Binding::identity(Role::Orchestrator, "");
        assert!(first.check(&named(Role::Orchestrator, "b"), false).is_ok());
        assert!(first.check(&named(Role::Orchestrator, "c"), false).is_err());
        assert!(first.check(&named(Role::Orchestrator, "b"), false).is_ok());
    }
}
