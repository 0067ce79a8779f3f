//! Mutual TLS for the rest of this process: a CA and one node certificate
//! written by `edgeless_cli tls generate` (the binary beside this one) into
//! a temporary folder, then installed, so that every dataplane server
//! started afterwards requires a client certificate and every link to an
//! `https://` URL presents one — as between node daemons with `[tls]`.

use std::process::Command;

use edgeless_api::tls::TlsFiles;

/// The certificate's name; its role is `node`, which the dataplane asks of
/// peers that stream events.
const IDENTITY: &str = "node-bench";

/// Generates the certificates in `dir` and installs them for this process.
/// Cannot be undone: run the scenarios without TLS first.
pub fn install(dir: &std::path::Path) -> anyhow::Result<()> {
    let cli = crate::scale::daemon::sibling("edgeless_cli")?;
    let generated = Command::new(&cli)
        .args(["tls", "generate"])
        .arg(dir)
        .args(["--names", IDENTITY, "--hosts", "127.0.0.1"])
        .output()?;
    if !generated.status.success() {
        anyhow::bail!(
            "edgeless_cli tls generate failed: {}",
            String::from_utf8_lossy(&generated.stderr)
        );
    }
    let file = |name: &str| dir.join(name).display().to_string();
    let files = TlsFiles {
        ca_cert: file("ca.pem"),
        cert: file(&format!("{IDENTITY}.pem")),
        key: file(&format!("{IDENTITY}.key")),
    };
    edgeless_api::tls::install(&files)?;
    Ok(())
}
