//! Setting up TLS from a component's `[tls]` files: every bad file is
//! refused with its key named, a good set is installed once, the same set
//! again is harmless and another one is refused. (A process of its own: the
//! set-up is process-wide.)

use edgeless_api::tls::{self, TlsFiles};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    /// A CA, a certificate it signed with its key, and another key.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "cli");
        let cert = params.signed_by(&key, &ca).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca.pem());
        write("node.pem", cert.pem());
        write("node.key", key.serialize_pem());
        write("other.key", KeyPair::generate().unwrap().serialize_pem());
        write("not.pem", "hello".to_string());
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn set(&self, ca: &str, cert: &str, key: &str) -> TlsFiles {
        let path = |name: &str| {
            if name.is_empty() {
                String::new()
            } else {
                self.path(name)
            }
        };
        TlsFiles {
            ca_cert: path(ca),
            cert: path(cert),
            key: path(key),
        }
    }
}

/// A node-management server that answers `Reset`.
struct Answering;

#[tonic::async_trait]
impl edgeless_api::proto::node_management_server::NodeManagement for Answering {
    async fn update_peers(
        &self,
        _request: tonic::Request<edgeless_api::proto::UpdatePeersRequest>,
    ) -> Result<tonic::Response<edgeless_api::proto::Empty>, tonic::Status> {
        Err(tonic::Status::unimplemented("not here"))
    }

    async fn reset(
        &self,
        _request: tonic::Request<edgeless_api::proto::Empty>,
    ) -> Result<tonic::Response<edgeless_api::proto::Empty>, tonic::Status> {
        Ok(tonic::Response::new(edgeless_api::proto::Empty {}))
    }
}

/// A policy under which the test's certificate (a client's) may manage nodes.
const CLIENTS_MANAGE_NODES: edgeless_api::auth::Policy = edgeless_api::auth::Policy {
    server: "test server",
    rules: &[(
        "/edgeless_api.NodeManagement/",
        &[edgeless_api::auth::Role::Client],
    )],
    streams: false,
};

async fn a_call_over_mutual_tls_goes_through() {
    use edgeless_api::proto::node_management_client::NodeManagementClient;
    use edgeless_api::proto::node_management_server::NodeManagementServer;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = edgeless_api::server::builder(CLIENTS_MANAGE_NODES)
        .unwrap()
        .add_service(NodeManagementServer::new(Answering))
        .serve_with_incoming(edgeless_api::server::incoming(listener));
    let server = tokio::spawn(server);
    let secure = edgeless_api::client::channel(&format!("https://localhost:{port}")).unwrap();
    NodeManagementClient::new(secure)
        .reset(edgeless_api::proto::Empty {})
        .await
        .expect("a TLS call with the installed identity");
    // The server takes no plain text.
    let plain = edgeless_api::client::channel(&format!("http://localhost:{port}")).unwrap();
    assert!(
        NodeManagementClient::new(plain)
            .reset(edgeless_api::proto::Empty {})
            .await
            .is_err()
    );
    server.abort();

    // The certificate names a client: a node's agent API refuses it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let agent = edgeless_api::server::builder(edgeless_api::auth::policy::NODE_AGENT)
        .unwrap()
        .add_service(NodeManagementServer::new(Answering))
        .serve_with_incoming(edgeless_api::server::incoming(listener));
    let agent = tokio::spawn(agent);
    let secure = edgeless_api::client::channel(&format!("https://localhost:{port}")).unwrap();
    let refused = NodeManagementClient::new(secure)
        .reset(edgeless_api::proto::Empty {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(
        refused
            .message()
            .contains("client `cli` may not call /edgeless_api.NodeManagement/Reset"),
        "{refused:?}"
    );
    agent.abort();
}

#[test]
fn bad_files_are_refused_and_a_good_set_is_installed_once() {
    let files = Files::new();
    // No section at all: plain TCP, nothing installed.
    assert!(!TlsFiles::default().is_enabled());
    tls::install(&TlsFiles::default()).unwrap();
    assert!(!tls::is_installed());
    // Any one file set means TLS is wanted: the others must be there too.
    for partial in [
        files.set("ca.pem", "", ""),
        files.set("", "node.pem", ""),
        files.set("", "", "node.key"),
    ] {
        assert!(partial.is_enabled(), "{partial:?}");
        let error = tls::install(&partial).unwrap_err().to_string();
        assert!(
            error.contains("is empty; ca_cert, cert and key are all needed"),
            "{error}"
        );
    }
    let missing = files.set("absent.pem", "node.pem", "node.key");
    let error = tls::install(&missing).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("[tls] ca_cert = {:?}: ", files.path("absent.pem"))),
        "{error}"
    );
    let not_pem = files.set("ca.pem", "not.pem", "node.key");
    assert_eq!(
        tls::install(&not_pem).unwrap_err().to_string(),
        format!(
            "[tls] cert = {:?}: is not a PEM file",
            files.path("not.pem")
        )
    );
    let mismatch = files.set("ca.pem", "node.pem", "other.key");
    let error = tls::install(&mismatch).unwrap_err().to_string();
    assert!(error.contains("do cert and key match?"), "{error}");
    assert!(!tls::is_installed(), "nothing bad was installed");

    let good = files.set("ca.pem", "node.pem", "node.key");
    tls::install(&good).unwrap();
    assert!(tls::is_installed());
    // Servers and clients of this process now speak TLS with these files:
    // a call over https to a server of the same identity goes through.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(a_call_over_mutual_tls_goes_through());
    tls::install(&good).unwrap();
    let other = files.set("ca.pem", "node.pem", "node.pem");
    assert_eq!(
        tls::install(&other).unwrap_err().to_string(),
        "a different [tls] configuration is already in use in this process"
    );
}
