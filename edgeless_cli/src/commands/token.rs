//! `edgeless_cli token`: the bearer tokens of a cluster without TLS. Tokens
//! live in a tokens file that every daemon reads (`[auth] tokens_file`); it
//! holds each token's name, role, tenant and SHA-256, never the token. The
//! token itself is printed once, at creation.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use edgeless_api::auth::tokens::{read_entries, write_entries};
use edgeless_api::auth::{Role, TokenEntry, hash_token, new_token};

use crate::commands::{Output, print_data, print_table};
use crate::error::CliError;
use crate::output::out;

/// Token subcommands.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token, add its hash to the tokens file and print the token
    /// (only this once). NAME is `ROLE:NAME` or a name whose role it implies
    /// (`controller`, `orchestrator*`, `node*`; anything else a client).
    #[command(
        after_help = "Examples:\n  edgeless_cli token create --file tokens.toml node-1 > node-1.token\n  edgeless_cli token create --file tokens.toml --tenant acme alice > alice.token\n  edgeless_cli token create --file tokens.toml admin:ops > ops.token"
    )]
    Create {
        /// `ROLE:NAME` or `NAME`; unique in the file.
        name: String,
        /// The tokens file (created if missing).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The tenant whose workflows a client's token manages.
        #[arg(long, default_value = edgeless_api::auth::DEFAULT_TENANT)]
        tenant: String,
    },
    /// The tokens of a tokens file (names, roles, tenants; no secrets).
    List {
        /// The tokens file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Remove a token from the tokens file; daemons refuse it within a
    /// second.
    Revoke {
        /// Its name.
        name: String,
        /// The tokens file.
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(command: TokenCommand, output: Output) -> Result<(), CliError> {
    match command {
        TokenCommand::Create { name, file, tenant } => {
            let token = create(&file, &name, &tenant)?;
            out!("{token}");
            Ok(())
        }
        TokenCommand::List { file } => {
            let entries = read_entries(&file).map_err(input)?;
            if matches!(output, Output::Json | Output::Yaml) {
                let rows: Vec<_> = entries
                    .iter()
                    .map(
                        |e| serde_json::json!({"name": e.name, "role": e.role, "tenant": e.tenant}),
                    )
                    .collect();
                return print_data(&rows, output);
            }
            let rows = entries
                .into_iter()
                .map(|e| vec![e.name, e.role.to_string(), e.tenant])
                .collect();
            print_table(&["NAME", "ROLE", "TENANT"], rows);
            Ok(())
        }
        TokenCommand::Revoke { name, file } => {
            let mut entries = read_entries(&file).map_err(input)?;
            let before = entries.len();
            entries.retain(|e| e.name != name);
            if entries.len() == before {
                return Err(CliError::Input(anyhow::anyhow!(
                    "{}: no token named `{name}`",
                    file.display()
                )));
            }
            write_entries(&file, &entries).map_err(input)?;
            eprintln!("token `{name}` revoked");
            Ok(())
        }
    }
}

fn input(error: impl Into<anyhow::Error>) -> CliError {
    CliError::Input(error.into())
}

/// Adds a new token for `spec` (`ROLE:NAME` or `NAME`) to `file`; returns
/// the token.
fn create(file: &Path, spec: &str, tenant: &str) -> Result<String, CliError> {
    let (role, name) = Role::split(spec).map_err(|e| input(anyhow::anyhow!("{spec}: {e}")))?;
    if name.is_empty() || tenant.is_empty() {
        return Err(input(anyhow::anyhow!("a token needs a name and a tenant")));
    }
    let mut entries = read_entries(file).map_err(input)?;
    if entries.iter().any(|e| e.name == name) {
        return Err(input(anyhow::anyhow!(
            "{}: a token named `{name}` exists; revoke it first",
            file.display()
        )));
    }
    let token = new_token();
    entries.push(TokenEntry {
        name: name.to_string(),
        role,
        tenant: tenant.to_string(),
        sha256: hash_token(&token),
    });
    write_entries(file, &entries).map_err(input)?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tokens_are_stored_hashed_with_their_role() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens.toml");
        let node = create(&file, "node-1", "default").unwrap();
        let ops = create(&file, "admin:ops", "default").unwrap();
        let alice = create(&file, "alice", "acme").unwrap();
        let entries = read_entries(&file).unwrap();
        let roles: Vec<_> = entries.iter().map(|e| (e.name.as_str(), e.role)).collect();
        assert_eq!(
            roles,
            [
                ("node-1", Role::Node),
                ("ops", Role::Admin),
                ("alice", Role::Client)
            ]
        );
        assert_eq!(entries[2].tenant, "acme");
        let text = std::fs::read_to_string(&file).unwrap();
        for token in [&node, &ops, &alice] {
            assert!(!text.contains(token.as_str()));
            assert!(text.contains(&hash_token(token)));
        }
        let again = create(&file, "alice", "acme").unwrap_err();
        assert!(format!("{again}").contains("exists"), "{again}");
        let bad = create(&file, "root:x", "acme").unwrap_err();
        assert!(format!("{bad}").contains("unknown role"), "{bad}");
    }
}
