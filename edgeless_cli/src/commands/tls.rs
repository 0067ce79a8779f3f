//! `edgeless_cli tls generate`: a cluster CA and a certificate per component,
//! for TLS with mutual authentication (`[tls]` in every configuration).

use crate::output::out;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::Subcommand;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::error::CliError;
use edgeless_api::auth::Role;

/// TLS subcommands.
#[derive(Subcommand)]
pub enum TlsCommand {
    /// Write `ca.pem` and, for each name, `NAME.pem` and `NAME.key` (valid
    /// as server and as client) into DIR; existing files are not replaced.
    /// Each certificate carries its holder's role: the one a name implies
    /// (`controller`, `orchestrator*`, `node*`; anything else a client), or
    /// the one chosen with `ROLE:NAME` (admin, client, controller,
    /// orchestrator, node).
    #[command(
        after_help = "Example: edgeless_cli tls generate certs --names controller,orchestrator,node0,node1,admin:ops,cli --hosts 127.0.0.1,localhost"
    )]
    Generate {
        /// Where to write the files.
        dir: PathBuf,
        /// The components to certify.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "controller,orchestrator,node,cli"
        )]
        names: Vec<String>,
        /// The addresses and host names the components are reached at.
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1,localhost")]
        hosts: Vec<String>,
        /// The tenant of the clients' certificates (whose workflows they
        /// manage).
        #[arg(long, default_value = edgeless_api::auth::DEFAULT_TENANT)]
        tenant: String,
    },
}

pub fn run(command: TlsCommand) -> Result<(), CliError> {
    match command {
        TlsCommand::Generate {
            dir,
            names,
            hosts,
            tenant,
        } => {
            for file in generate(&dir, &names, &hosts, &tenant).map_err(CliError::Input)? {
                out!("{}", file.display());
            }
            Ok(())
        }
    }
}

/// Creates `path` (never replacing a file) with `text`; private keys are
/// readable by their owner only.
fn write_new(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).with_context(|| {
        format!(
            "cannot create {} (it is not replaced if it exists)",
            path.display()
        )
    })?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A name that is a file name of its own in the output folder.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Writes the CA and the certificates; returns the files written.
pub fn generate(
    dir: &Path,
    names: &[String],
    hosts: &[String],
    tenant: &str,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut holders = Vec::new();
    for spec in names {
        let (role, name) = Role::split(spec).map_err(|e| anyhow!("--names: {spec:?}: {e}"))?;
        if !plain_name(name) {
            return Err(anyhow!(
                "--names: {name:?} is not a plain name (letters, digits, `-`, `_`, `.`; not starting with `.`)"
            ));
        }
        holders.push((role, name));
    }
    if tenant.is_empty() {
        return Err(anyhow!("--tenant: give a tenant"));
    }
    if names.is_empty() {
        return Err(anyhow!("--names: give at least one name"));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "edgeless cluster CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let mut written = Vec::new();
    let ca_file = dir.join("ca.pem");
    write_new(&ca_file, &ca.pem(), false)?;
    written.push(ca_file);
    for (role, name) in holders {
        let mut params =
            CertificateParams::new(hosts.to_vec()).with_context(|| format!("--hosts {hosts:?}"))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, role.as_str());
        params
            .distinguished_name
            .push(DnType::OrganizationName, tenant);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;
        let (cert_file, key_file) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        write_new(&cert_file, &cert.pem(), false)?;
        write_new(&key_file, &key.serialize_pem(), true)?;
        written.extend([cert_file, key_file]);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_a_pair_per_name_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["controller".to_string(), "node0".to_string()];
        let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let files = generate(dir.path(), &names, &hosts, "default").unwrap();
        assert_eq!(files.len(), 5);
        for file in &files {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(text.starts_with("-----BEGIN "), "{}", file.display());
        }
        #[cfg(unix)]
        for file in &files {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
            if file.extension().is_some_and(|e| e == "key") {
                assert_eq!(mode, 0o600, "{}", file.display());
            } else {
                assert_ne!(mode & 0o400, 0, "{}", file.display());
            }
        }
        let again = generate(dir.path(), &names, &hosts, "default").unwrap_err();
        assert!(format!("{again:#}").contains("not replaced"), "{again:#}");
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("certs");
        for bad in ["a/b", "..", ".hidden", "", "a b"] {
            let names = vec!["node".to_string(), bad.to_string()];
            let error = generate(&out, &names, &[], "default")
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("--names: {bad:?} is not a plain name")),
                "{bad:?}: {error}"
            );
            assert!(!out.exists(), "{bad:?}: files were written");
        }
        let error = generate(&out, &[], &[], "default").unwrap_err().to_string();
        assert!(error.contains("at least one name"), "{error}");
        assert!(!out.exists());
    }
}
