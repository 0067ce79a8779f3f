//! Encryption of the link between a node and its container functions, used
//! when the node itself runs TLS. The cluster CA's keys never enter a
//! container: the node makes a self-signed certificate for its host service
//! (name [`HOST_NAME`]) when it starts, and one per instance for the
//! container's guest service (name [`GUEST_NAME`]); each side pins the
//! other's certificate, handed over in the container's environment when the
//! node creates it. The instance token still authenticates every request.

use rcgen::{CertificateParams, KeyPair};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// The name in the node's host-service certificate.
pub const HOST_NAME: &str = "edgeless-node";
/// The name in an instance's guest-service certificate.
pub const GUEST_NAME: &str = "edgeless-function";

/// The node's side of encrypted container links.
pub struct LinkTls {
    host_cert_pem: String,
    host_key_pem: String,
}

/// One instance's certificate and key.
pub struct InstanceTls {
    cert_pem: String,
    key_pem: String,
}

fn self_signed(name: &str) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec![name.to_string()])?.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl LinkTls {
    /// A fresh certificate for the host service.
    pub fn new() -> Result<Self, rcgen::Error> {
        let (host_cert_pem, host_key_pem) = self_signed(HOST_NAME)?;
        Ok(Self {
            host_cert_pem,
            host_key_pem,
        })
    }

    /// The host service's TLS (containers authenticate with their token).
    pub fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new().identity(Identity::from_pem(&self.host_cert_pem, &self.host_key_pem))
    }

    /// A certificate for a new instance.
    pub fn instance(&self) -> Result<InstanceTls, rcgen::Error> {
        let (cert_pem, key_pem) = self_signed(GUEST_NAME)?;
        Ok(InstanceTls { cert_pem, key_pem })
    }

    /// The environment that gives a container its side of the link.
    pub fn environment(&self, instance: &InstanceTls) -> Vec<String> {
        vec![
            format!("EDGELESS_TLS_HOST_CERT={}", self.host_cert_pem),
            format!("EDGELESS_TLS_CERT={}", instance.cert_pem),
            format!("EDGELESS_TLS_KEY={}", instance.key_pem),
        ]
    }
}

impl InstanceTls {
    /// How the node connects to this instance: its certificate pinned.
    pub fn client_config(&self) -> ClientTlsConfig {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.cert_pem))
            .domain_name(GUEST_NAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeless_api::proto::function_host_client::FunctionHostClient;

    /// A pinned self-signed certificate is enough to reach a server: the
    /// request gets to the service (which refuses it for want of a token).
    #[tokio::test]
    async fn a_pinned_self_signed_certificate_secures_the_link() {
        let link = LinkTls::new().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tonic::transport::Server::builder()
            .tls_config(link.server_config())
            .unwrap()
            .add_service(super::super::host_service::server(Default::default()))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
        tokio::spawn(server);
        let client_tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&link.host_cert_pem))
            .domain_name(HOST_NAME);
        let channel = tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .tls_config(client_tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        let status = FunctionHostClient::new(channel)
            .slf(edgeless_api::proto::Empty {})
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    }
}
