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
        let cert = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
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
        let path = |name: &str| if name.is_empty() { String::new() } else { self.path(name) };
        TlsFiles {
            ca_cert: path(ca),
            cert: path(cert),
            key: path(key),
        }
    }
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
        assert!(error.contains("is empty; ca_cert, cert and key are all needed"), "{error}");
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
        format!("[tls] cert = {:?}: is not a PEM file", files.path("not.pem"))
    );
    let mismatch = files.set("ca.pem", "node.pem", "other.key");
    let error = tls::install(&mismatch).unwrap_err().to_string();
    assert!(error.contains("do cert and key match?"), "{error}");
    assert!(!tls::is_installed(), "nothing bad was installed");

    let good = files.set("ca.pem", "node.pem", "node.key");
    tls::install(&good).unwrap();
    assert!(tls::is_installed());
    tls::install(&good).unwrap();
    let other = files.set("ca.pem", "node.pem", "node.pem");
    assert_eq!(
        tls::install(&other).unwrap_err().to_string(),
        "a different [tls] configuration is already in use in this process"
    );
}
