//! Mutual TLS for the benchmark: a CA and one certificate per role written
//! by `edgeless_cli tls generate` (the binary beside this one) into a
//! temporary folder. This process installs the node certificate, so that
//! every dataplane and agent server it starts afterwards requires a client
//! certificate and every link to an `https://` URL presents one — as
//! between node daemons with `[tls]`. Daemons it starts get their own
//! role's certificate in their `[tls]` section; calls this process makes in
//! another role (as the controller, as a user) present that role's
//! certificate on their channel only.

use std::process::Command;

use edgeless_api::tls::TlsFiles;

/// This process's certificate name; its role is `node`, which the
/// dataplane asks of peers that stream events.
pub const NODE: &str = "node-bench";
/// The controller daemon's certificate (and this process's, for calls it
/// makes to an orchestrator as the controller would).
pub const CONTROLLER: &str = "controller";
/// The orchestrator daemon's certificate.
pub const ORCHESTRATOR: &str = "orchestrator";
/// A user's certificate (`edgeless_cli`, workflow starts).
pub const CLIENT: &str = "bench-client";

/// A CA and a certificate for each role, in a temporary folder.
pub struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    /// Generates the CA and the certificates (for 127.0.0.1).
    pub fn generate() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let cli = crate::scale::daemon::sibling("edgeless_cli")?;
        let names = format!(
            "node:{NODE},controller:{CONTROLLER},orchestrator:{ORCHESTRATOR},client:{CLIENT}"
        );
        let generated = Command::new(&cli)
            .args(["tls", "generate"])
            .arg(dir.path())
            .args(["--names", &names, "--hosts", "127.0.0.1"])
            .output()?;
        if !generated.status.success() {
            anyhow::bail!(
                "edgeless_cli tls generate failed: {}",
                String::from_utf8_lossy(&generated.stderr)
            );
        }
        Ok(Self { dir })
    }

    /// The files of certificate `name`.
    pub fn files(&self, name: &str) -> TlsFiles {
        let file = |file: &str| self.dir.path().join(file).display().to_string();
        TlsFiles {
            ca_cert: file("ca.pem"),
            cert: file(&format!("{name}.pem")),
            key: file(&format!("{name}.key")),
        }
    }

    /// A `[tls]` section presenting certificate `name`.
    pub fn section(&self, name: &str) -> String {
        let files = self.files(name);
        format!(
            "[tls]\nca_cert = {:?}\ncert = {:?}\nkey = {:?}\n",
            files.ca_cert, files.cert, files.key
        )
    }

    /// Installs the node certificate for the rest of this process. Cannot
    /// be undone: run the scenarios without TLS first.
    pub fn install(&self) -> anyhow::Result<()> {
        edgeless_api::tls::install(&self.files(NODE))?;
        Ok(())
    }
}
