//! A cluster of daemons: the controller and the orchestrator as processes
//! of their own (their CPU time and memory are their own), the nodes in
//! this process. With certificates, every link has mutual TLS and each
//! component presents its own role's certificate.

use std::path::{Path, PathBuf};

use edgeless_api::client::Channel;
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;

use super::daemon::Daemon;
use super::nodes::{Nodes, in_process};
use crate::bench::tls::{self, Certificates};

/// `https` with certificates, else `http`.
pub fn scheme(tls: Option<&Certificates>) -> &'static str {
    if tls.is_some() { "https" } else { "http" }
}

/// The `[tls]` section of certificate `name`, or nothing.
pub fn tls_section(tls: Option<&Certificates>, name: &str) -> String {
    tls.map(|c| c.section(name)).unwrap_or_default()
}

/// An orchestrator's configuration: domain `scale` registering at
/// `register_url`, placing with `policy`, keeping its state in `data_dir`
/// (empty: none), with its metrics on a free port.
pub fn orchestrator_config(
    register_url: &str,
    policy: &str,
    data_dir: &str,
    tls: Option<&Certificates>,
) -> String {
    let s = scheme(tls);
    format!(
        "[general]\ndomain_register_url = \"{register_url}\"\ndomain_id = \"scale\"\n\
         orchestrator_url = \"{s}://127.0.0.1:0\"\n\
         node_register_url = \"{s}://127.0.0.1:0\"\ndata_dir = {data_dir:?}\n\
         [baseline]\norchestration_strategy = \"{policy}\"\n\
         [telemetry]\nmetrics_url = \"http://127.0.0.1:0\"\n{}",
        tls_section(tls, tls::ORCHESTRATOR)
    )
}

/// A channel to `url`, presenting certificate `name` when there are
/// certificates.
pub fn channel_as(url: &str, tls: Option<&Certificates>, name: &str) -> anyhow::Result<Channel> {
    Ok(match tls {
        Some(certificates) => edgeless_api::client::channel_as(url, &certificates.files(name))?,
        None => edgeless_api::client::channel(url)?,
    })
}

/// A running cluster of daemons.
pub struct DaemonCluster {
    /// The controller's process.
    pub controller: Daemon,
    /// Its workflow API.
    pub controller_url: String,
    _orchestrator: Daemon,
    _nodes: Nodes,
    cli_config: PathBuf,
    _dir: tempfile::TempDir,
}

impl DaemonCluster {
    /// Starts the controller (keeping its state in `data_dir`, if any), an
    /// orchestrator placing round robin, and `nodes` nodes taking up to
    /// `per_node` instances each; returns once the nodes joined, with a
    /// client of the controller acting as a user.
    pub async fn start(
        nodes: usize,
        per_node: usize,
        data_dir: Option<&Path>,
        tls: Option<&Certificates>,
    ) -> anyhow::Result<(Self, WorkflowInstanceClient<Channel>)> {
        let dir = tempfile::tempdir()?;
        let s = scheme(tls);
        let state =
            |name: &str| data_dir.map_or(String::new(), |d| d.join(name).display().to_string());
        let controller = Daemon::start(
            "edgeless_con_d",
            &format!(
                "controller_url = \"{s}://127.0.0.1:0\"\n\
                 domain_register_url = \"{s}://127.0.0.1:0\"\n\
                 data_dir = {:?}\ndashboard_url = \"\"\n{}",
                state("controller"),
                tls_section(tls, tls::CONTROLLER)
            ),
        )?;
        let controller_url = controller.url("controller_url")?;
        let register_url = controller.url("domain_register_url")?;
        let orchestrator = Daemon::start(
            "edgeless_orc_d",
            &orchestrator_config(&register_url, "RoundRobin", &state("orchestrator"), tls),
        )?;
        let in_process = in_process(
            nodes,
            &orchestrator.url("node_register_url")?,
            None,
            per_node,
            tls,
        );
        let channel = channel_as(&controller_url, tls, tls::CLIENT)?;
        let client = crate::bench::workflow_start::wait_for_nodes(channel, nodes as u32).await?;
        let cli_config = dir.path().join("cli.toml");
        std::fs::write(
            &cli_config,
            format!(
                "controller_url = {controller_url:?}\n{}",
                tls_section(tls, tls::CLIENT)
            ),
        )?;
        Ok((
            Self {
                controller,
                controller_url,
                _orchestrator: orchestrator,
                _nodes: in_process,
                cli_config,
                _dir: dir,
            },
            client,
        ))
    }

    /// An `edgeless_cli` command that talks to this cluster as a user.
    pub fn cli(&self) -> anyhow::Result<std::process::Command> {
        let mut command = std::process::Command::new(super::daemon::sibling("edgeless_cli")?);
        command.arg("-c").arg(&self.cli_config);
        Ok(command)
    }
}
