//! `edgeless_cli function ...`: build a function to WebAssembly, or send an
//! event to a running instance.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use clap::{Subcommand, ValueEnum};
use edgeless_api::proto::{self, function_invocation_client::FunctionInvocationClient};
use edgeless_api::workflow::FunctionClassSpec;
use edgeless_api::{InstanceId, parse_uuid};

use crate::error::CliError;

/// The target functions are built for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Function subcommands.
#[derive(Subcommand)]
pub enum FunctionCommand {
    /// Build a function to `<dir of function.json>/<id>.wasm`.
    #[command(after_help = "Example: edgeless_cli function build functions/ping/function.json")]
    Build {
        /// The function's function.json.
        spec_file: PathBuf,
    },
    /// Send an event to a running instance through a node's dataplane.
    #[command(
        after_help = "Example: edgeless_cli function invoke cast http://127.0.0.1:7006 NODE_ID FUNCTION_ID hello"
    )]
    Invoke {
        /// Only `cast`: a call's reply would have nowhere to go.
        event_type: EventType,
        /// The node's invocation URL.
        invocation_url: String,
        /// The node's id.
        node_id: String,
        /// The instance's (physical) id.
        function_id: String,
        /// The payload.
        payload: String,
    },
}

/// Event types that can be injected.
#[derive(Clone, Copy, ValueEnum)]
pub enum EventType {
    /// A one-way event.
    Cast,
}

pub async fn run(command: FunctionCommand) -> Result<(), CliError> {
    match command {
        FunctionCommand::Build { spec_file } => {
            let wasm = build(&spec_file).map_err(CliError::Input)?;
            println!("{}", wasm.display());
            Ok(())
        }
        FunctionCommand::Invoke {
            event_type: EventType::Cast,
            invocation_url,
            node_id,
            function_id,
            payload,
        } => {
            let bad = |e: edgeless_api::InvalidId| CliError::Input(e.into());
            let target = InstanceId {
                node_id: parse_uuid("node_id", &node_id).map_err(bad)?,
                function_id: parse_uuid("function_id", &function_id).map_err(bad)?,
            };
            let channel = edgeless_api::client::channel(&invocation_url)
                .map_err(|e| CliError::Input(e.into()))?;
            let event = proto::Event {
                target: Some(target.into()),
                source: Some(InstanceId::none().into()),
                stream_id: 0,
                event_type: proto::EventType::Cast as i32,
                payload: payload.into_bytes().into(),
            };
            FunctionInvocationClient::new(channel)
                .handle(event)
                .await
                .map_err(|s| CliError::from_status(&invocation_url, s))?;
            eprintln!("event cast");
            Ok(())
        }
    }
}

/// Builds the function described by `spec_file`; returns the `.wasm` path.
pub fn build(spec_file: &Path) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(spec_file)
        .with_context(|| format!("cannot read {}", spec_file.display()))?;
    let spec: FunctionClassSpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid function.json", spec_file.display()))?;
    if spec.function_type != edgeless_api::RUST_WASM {
        return Err(anyhow!(
            "{}: only {} functions can be built (function_type is {})",
            spec_file.display(),
            edgeless_api::RUST_WASM,
            spec.function_type
        ));
    }
    let dir = spec_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let manifest = dir.join(spec.build.as_deref().unwrap_or("Cargo.toml"));
    let crate_name = crate_name(&manifest)?;
    let target_dir = std::env::var_os("EDGELESS_FUNCTIONS_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let output = Command::new("cargo")
        .args(["build", "--release", "--target", WASM_TARGET, "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow!("cargo was not found on PATH: install Rust (https://rustup.rs) to build functions")
            }
            _ => anyhow!("cannot run cargo: {e}"),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("target may not be installed")
            || stderr.contains("can't find crate for `core`")
        {
            return Err(anyhow!(
                "the {WASM_TARGET} target is not installed: run `rustup target add {WASM_TARGET}`"
            ));
        }
        return Err(anyhow!("building {} failed:\n{stderr}", manifest.display()));
    }
    let built = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    let destination = dir.join(format!("{}.wasm", spec.id));
    std::fs::copy(&built, &destination).with_context(|| {
        format!(
            "cannot copy {} to {}",
            built.display(),
            destination.display()
        )
    })?;
    Ok(destination)
}

/// The package name in a Cargo.toml.
fn crate_name(manifest: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let value: toml::Value = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
    value
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("{} has no [package] name", manifest.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_spec_file_is_named() {
        let err = build(Path::new("/nonexistent/function.json")).unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot read /nonexistent/function.json"),
            "{err:#}"
        );
    }

    #[test]
    fn container_functions_are_not_built_here() {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("function.json");
        std::fs::write(
            &spec,
            r#"{"id": "x", "function_type": "CONTAINER", "version": "0.1"}"#,
        )
        .unwrap();
        let err = build(&spec).unwrap_err();
        assert!(
            err.to_string()
                .contains("only RUST_WASM functions can be built"),
            "{err}"
        );
    }

    #[test]
    fn a_manifest_without_package_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[workspace]\n").unwrap();
        assert!(
            crate_name(&manifest)
                .unwrap_err()
                .to_string()
                .contains("has no [package] name")
        );
    }
}
