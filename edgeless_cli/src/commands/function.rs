//! `edgeless_cli function ...`: build a function to WebAssembly or into a
//! container image, or send an event to a running instance.

use crate::output::out;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow};
use clap::{Subcommand, ValueEnum};
use edgeless_api::proto::{self, function_invocation_client::FunctionInvocationClient};
use edgeless_api::workflow::FunctionClassSpec;
use edgeless_api::{InstanceId, parse_uuid};

use super::Session;
use super::container_image::{self, CONTAINER_TARGET};
use crate::error::{CliError, Server};

/// The target functions are built for.
const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Function subcommands.
#[derive(Subcommand)]
pub enum FunctionCommand {
    /// Create a function crate (function.json, Cargo.toml, src/lib.rs with
    /// every handler) that `function build` builds anywhere on disk.
    #[command(
        after_help = "Example: edgeless_cli function new hello && edgeless_cli function build hello/function.json"
    )]
    New {
        /// The function's name (its id and crate name).
        name: String,
        /// The language.
        #[arg(long, value_enum, default_value_t)]
        lang: Lang,
        /// Where to create it (a folder NAME inside DIR).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Build a function to `<dir of function.json>/<id>.wasm` (or `--out`).
    #[command(after_help = "Example: edgeless_cli function build functions/ping/function.json")]
    Build {
        /// The function's function.json.
        spec_file: PathBuf,
        /// Write the module to FILE instead (its folder is created).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Build a function crate into a Docker image `FROM scratch` holding its
    /// static binary (built with `--features container`, see
    /// edgeless_container_function), with the local Docker Engine.
    #[command(
        after_help = "Example: edgeless_cli function build-container functions/pong --tag edgeless-pong"
    )]
    BuildContainer {
        /// The function crate: its directory or its Cargo.toml.
        path: PathBuf,
        /// The image name (and tag) to build.
        #[arg(long)]
        tag: String,
        /// The Docker Engine's socket.
        #[arg(long, default_value = "/var/run/docker.sock")]
        docker_socket: String,
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
    /// Not supported: there is no function repository (see
    /// documentation/migrating.md).
    #[command(hide = true)]
    Get {
        /// The function's name.
        function_name: String,
    },
    /// Not supported: there is no function repository.
    #[command(hide = true)]
    Download {
        /// The code file's id.
        code_file_id: String,
    },
    /// Not supported: there is no function repository.
    #[command(hide = true)]
    Push {
        /// The binary's name.
        binary_name: String,
        /// The function type.
        function_type: String,
    },
}

/// Why `function get|download|push` are refused, and what to do instead.
pub const NO_REPOSITORY: &str = "edgeless has no function repository: a workflow carries its functions' code (`function build` writes the .wasm its workflow file names, and `workflow start` sends it); container functions are images, shared through a Docker registry (`function build-container`, then `docker push`). See documentation/migrating.md";

/// Languages `function new` knows.
#[derive(Clone, Copy, Default, ValueEnum)]
pub enum Lang {
    /// Rust, built to WebAssembly (and optionally into a container).
    #[default]
    Rust,
}

/// Event types that can be injected.
#[derive(Clone, Copy, ValueEnum)]
pub enum EventType {
    /// A one-way event.
    Cast,
}

pub async fn run(command: FunctionCommand, session: &Session) -> Result<(), CliError> {
    match command {
        FunctionCommand::Get { .. }
        | FunctionCommand::Download { .. }
        | FunctionCommand::Push { .. } => Err(CliError::Usage(NO_REPOSITORY.to_string())),
        FunctionCommand::New {
            name,
            lang: Lang::Rust,
            dir,
        } => {
            let (sdk, found) = super::scaffold::find_sdk().map_err(CliError::Input)?;
            eprintln!(
                "using the edgeless_function SDK in {} (from {found})",
                sdk.display()
            );
            let folder = super::scaffold::new_rust(&name, &dir, &sdk).map_err(CliError::Input)?;
            out!("{}", folder.display());
            eprintln!(
                "build it with: edgeless_cli function build {}",
                folder.join("function.json").display()
            );
            Ok(())
        }
        FunctionCommand::Build { spec_file, out } => {
            let wasm = build(&spec_file, out.as_deref()).map_err(CliError::Input)?;
            out!("{}", wasm.display());
            Ok(())
        }
        FunctionCommand::BuildContainer {
            path,
            tag,
            docker_socket,
        } => {
            let manifest = if path.is_dir() {
                path.join("Cargo.toml")
            } else {
                path
            };
            let binary = build_native(&manifest).map_err(CliError::Input)?;
            container_image::build(&binary, &tag, &docker_socket)
                .await
                .map_err(CliError::Input)?;
            out!("{tag}");
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
            super::present_credentials(session)?;
            let channel = edgeless_api::client::channel_with_timeouts(
                &invocation_url,
                session.timeout,
                session.timeout,
            )
            .map_err(|e| CliError::Input(e.into()))?;
            let event = proto::Event {
                target: Some(target.into()),
                source: Some(InstanceId::none().into()),
                stream_id: 0,
                event_type: proto::EventType::Cast as i32,
                payload: payload.into_bytes().into(),
                ..Default::default()
            };
            FunctionInvocationClient::new(channel)
                .handle(event)
                .await
                .map_err(|s| CliError::from_server_status(Server::Node, &invocation_url, s))?;
            eprintln!("event cast");
            Ok(())
        }
    }
}

/// Builds the function described by `spec_file` to `out`, or by default to
/// `<id>.wasm` beside it; returns the `.wasm` path.
pub fn build(spec_file: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let text = std::fs::read_to_string(spec_file)
        .with_context(|| format!("cannot read {}", spec_file.display()))?;
    let spec: FunctionClassSpec = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a valid function.json", spec_file.display()))?;
    if spec.function_type != edgeless_api::RUST_WASM {
        return Err(anyhow!(
            "{}: only {} functions can be built to WebAssembly (function_type is {}; build container functions with `edgeless_cli function build-container`)",
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
    let target_dir = target_dir(dir);
    cargo_build(&manifest, &target_dir, &["--target", WASM_TARGET])?;
    let built = target_dir
        .join(WASM_TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    let destination = match out {
        Some(out) => {
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            out.to_path_buf()
        }
        None => dir.join(format!("{}.wasm", spec.id)),
    };
    // Whole or not at all: a node reading the file never sees half of it.
    let partial = destination.with_extension("wasm.partial");
    std::fs::copy(&built, &partial)
        .and_then(|_| std::fs::rename(&partial, &destination))
        .with_context(|| {
            format!(
                "cannot copy {} to {}",
                built.display(),
                destination.display()
            )
        })?;
    Ok(destination)
}

/// Builds the crate of `manifest` as a static binary with its `container`
/// feature; returns the binary's path.
pub fn build_native(manifest: &Path) -> anyhow::Result<PathBuf> {
    let crate_name = crate_name(manifest)?;
    let dir = manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let target_dir = target_dir(dir);
    cargo_build(
        manifest,
        &target_dir,
        &[
            "--target",
            CONTAINER_TARGET,
            "--features",
            "container",
            "--bin",
            &crate_name,
        ],
    )?;
    Ok(target_dir
        .join(CONTAINER_TARGET)
        .join("release")
        .join(&crate_name))
}

/// Where functions are built: `EDGELESS_FUNCTIONS_TARGET_DIR`, else one
/// folder shared by every function (`$XDG_CACHE_HOME/edgeless/functions`,
/// or `~/.cache/...`), so that the SDK is compiled once; without a home,
/// the crate's own `target`.
fn target_dir(crate_dir: &Path) -> PathBuf {
    let cache = || {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|base| base.join("edgeless").join("functions"))
    };
    std::env::var_os("EDGELESS_FUNCTIONS_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(cache)
        .unwrap_or_else(|| crate_dir.join("target"))
}

/// `cargo build --release` of `manifest` with `args`; cargo's complaints
/// turned into hints.
fn cargo_build(manifest: &Path, target_dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let target = args
        .iter()
        .position(|a| *a == "--target")
        .and_then(|i| args.get(i + 1))
        .copied()
        .unwrap_or("");
    ensure_target(target)?;
    let mut cargo = Command::new("cargo");
    // C code in dependencies (e.g. ring, for TLS) needs a musl C compiler.
    let musl_cc = "CC_x86_64_unknown_linux_musl";
    if target == CONTAINER_TARGET && std::env::var_os(musl_cc).is_none() {
        cargo.env(musl_cc, "musl-gcc");
    }
    eprintln!(
        "building {} for {target} (in {})",
        manifest.display(),
        target_dir.display()
    );
    let mut child = cargo
        .args(["build", "--release", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target_dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow!("cargo was not found on PATH: install Rust (https://rustup.rs) to build functions")
            }
            _ => anyhow!("cannot run cargo: {e}"),
        })?;
    // Cargo's progress goes on to stderr as it comes, and is kept for the
    // hints below.
    let mut stderr = String::new();
    if let Some(pipe) = child.stderr.take() {
        use std::io::BufRead;
        for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
            eprintln!("  {line}");
            stderr.push_str(&line);
            stderr.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| anyhow!("cargo did not finish: {e}"))?;
    if status.success() {
        return Ok(());
    }
    if stderr.contains("target may not be installed")
        || stderr.contains("can't find crate for `core`")
        || stderr.contains("can't find crate for `std`")
    {
        return Err(anyhow!(
            "the {target} target is not installed: run `rustup target add {target}`"
        ));
    }
    if stderr.contains("failed to find tool") && stderr.contains("musl") {
        return Err(anyhow!(
            "building for {target} needs a musl C compiler: install musl-tools (apt-get install musl-tools), or set CC_x86_64_unknown_linux_musl"
        ));
    }
    if stderr.contains("does not contain this feature: container")
        || stderr.contains("does not have the feature `container`")
    {
        return Err(anyhow!(
            "{} has no `container` feature: add one that enables edgeless_container_function and a binary that calls edgeless_container_function::serve (see functions/pong)",
            manifest.display()
        ));
    }
    Err(anyhow!(
        "building {} failed (cargo's messages above)",
        manifest.display()
    ))
}

/// Adds `target` to the toolchain cargo will use when it is missing (rustup
/// installs `rust-toolchain.toml`'s targets only with a new toolchain).
/// Without rustup, cargo's own error is turned into a hint later.
fn ensure_target(target: &str) -> anyhow::Result<()> {
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
    else {
        return Ok(());
    };
    if !listed.status.success() || target_listed(&String::from_utf8_lossy(&listed.stdout), target) {
        return Ok(());
    }
    eprintln!("adding the {target} target: rustup target add {target}");
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .output()
        .map_err(|e| anyhow!("cannot run rustup: {e}"))?;
    if added.status.success() {
        return Ok(());
    }
    Err(anyhow!(
        "the {target} target is not installed and `rustup target add {target}` failed:\n{}",
        String::from_utf8_lossy(&added.stderr).trim()
    ))
}

/// Whether `rustup target list --installed` printed `target`.
fn target_listed(installed: &str, target: &str) -> bool {
    installed.lines().any(|line| line.trim() == target)
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
        let err = build(Path::new("/nonexistent/function.json"), None).unwrap_err();
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
        let err = build(&spec, None).unwrap_err();
        assert!(
            err.to_string()
                .contains("only RUST_WASM functions can be built to WebAssembly"),
            "{err}"
        );
    }

    #[test]
    fn installed_targets_are_matched_whole() {
        let installed = "wasm32-unknown-unknown\nx86_64-unknown-linux-gnu\n";
        assert!(target_listed(installed, "wasm32-unknown-unknown"));
        assert!(!target_listed(installed, "wasm32-unknown"));
        assert!(!target_listed(installed, "x86_64-unknown-linux-musl"));
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
