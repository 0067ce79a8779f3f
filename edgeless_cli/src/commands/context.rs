//! `edgeless_cli context ...`: named clusters in the user's configuration
//! file (`$XDG_CONFIG_HOME/edgeless/cli.toml`), and which one is current.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::{Output, print_data, print_table};
use crate::config::{Cluster, Config, user_file};
use crate::error::CliError;
use crate::output::out;

/// Context subcommands.
#[derive(Subcommand)]
pub enum ContextCommand {
    /// Add or change a named cluster.
    #[command(after_help = "Example: edgeless_cli context set lab --url http://127.0.0.1:7001")]
    Set {
        /// The context's name.
        name: String,
        /// Its controller's workflow API.
        #[arg(long)]
        url: String,
        /// The cluster CA, the CLI's certificate and key, for https URLs.
        #[arg(long, requires_all = ["cert", "key"])]
        ca_cert: Option<String>,
        /// The CLI's certificate (PEM).
        #[arg(long)]
        cert: Option<String>,
        /// The CLI's key (PEM).
        #[arg(long)]
        key: Option<String>,
    },
    /// Make a context the current one.
    #[command(after_help = "Example: edgeless_cli context use lab")]
    Use {
        /// The context's name.
        name: String,
    },
    /// List the contexts; the current one is marked with `*`.
    #[command(after_help = "Example: edgeless_cli context list")]
    List,
    /// Remove a context.
    #[command(after_help = "Example: edgeless_cli context delete lab")]
    Delete {
        /// The context's name.
        name: String,
    },
}

fn file() -> Result<PathBuf, CliError> {
    user_file().ok_or_else(|| {
        CliError::Input(anyhow::anyhow!(
            "neither XDG_CONFIG_HOME nor HOME is set: no place for contexts"
        ))
    })
}

fn load(path: &std::path::Path) -> Result<Config, CliError> {
    if path.exists() {
        Config::read(path)
    } else {
        Ok(Config::default())
    }
}

#[derive(Serialize)]
struct ContextRow {
    name: String,
    current: bool,
    controller_url: String,
    tls: bool,
}

pub fn run(command: ContextCommand, output: Output) -> Result<(), CliError> {
    let path = file()?;
    let mut config = load(&path)?;
    match command {
        ContextCommand::Set {
            name,
            url,
            ca_cert,
            cert,
            key,
        } => {
            let mut cluster = Cluster {
                controller_url: url,
                ..Default::default()
            };
            if let (Some(ca_cert), Some(cert), Some(key)) = (ca_cert, cert, key) {
                cluster.tls = edgeless_api::tls::TlsFiles { ca_cert, cert, key };
            }
            config.contexts.insert(name.clone(), cluster);
            config.write(&path)?;
            eprintln!("context {name} saved in {}", path.display());
        }
        ContextCommand::Use { name } => {
            if !config.contexts.contains_key(&name) {
                return Err(CliError::NotFound(format!(
                    "no context {name:?} in {} (add it with `edgeless_cli context set {name} --url URL`)",
                    path.display()
                )));
            }
            config.current_context = name.clone();
            config.write(&path)?;
            eprintln!("now using context {name}");
        }
        ContextCommand::Delete { name } => {
            if config.contexts.remove(&name).is_none() {
                return Err(CliError::NotFound(format!("no context {name:?}")));
            }
            if config.current_context == name {
                config.current_context.clear();
            }
            config.write(&path)?;
            eprintln!("context {name} deleted");
        }
        ContextCommand::List => {
            let rows: Vec<ContextRow> = config
                .contexts
                .iter()
                .map(|(name, cluster)| ContextRow {
                    name: name.clone(),
                    current: *name == config.current_context,
                    controller_url: cluster.controller_url.clone(),
                    tls: cluster.tls.is_enabled(),
                })
                .collect();
            match output {
                Output::Json | Output::Yaml => print_data(&rows, output)?,
                Output::Text | Output::Wide => {
                    if rows.is_empty() {
                        out!("no contexts in {}", path.display());
                        return Ok(());
                    }
                    let table = rows
                        .into_iter()
                        .map(|r| {
                            vec![
                                if r.current { "*".into() } else { String::new() },
                                r.name,
                                r.controller_url,
                                if r.tls { "yes".into() } else { "no".into() },
                            ]
                        })
                        .collect();
                    print_table(&["CURRENT", "NAME", "CONTROLLER", "TLS"], table);
                }
            }
        }
    }
    Ok(())
}
