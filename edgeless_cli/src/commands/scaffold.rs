//! `edgeless_cli function new NAME`: a function crate that builds with
//! `edgeless_cli function build` anywhere on disk.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};

/// Where the `edgeless_function` SDK crate is: `EDGELESS_SDK_PATH`, else
/// beside the CLI's own installation (a checkout it was built in), else the
/// source tree it was built from. Returns the folder and how it was found.
pub fn find_sdk() -> anyhow::Result<(PathBuf, &'static str)> {
    let is_sdk = |dir: &Path| dir.join("Cargo.toml").exists() && dir.join("src/lib.rs").exists();
    if let Some(path) = std::env::var_os("EDGELESS_SDK_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_sdk(&path) {
            Ok((absolute(&path)?, "EDGELESS_SDK_PATH"))
        } else {
            Err(anyhow!(
                "EDGELESS_SDK_PATH = {} is not the edgeless_function crate (no Cargo.toml and src/lib.rs)",
                path.display()
            ))
        };
    }
    if let Ok(exe) = std::env::current_exe() {
        for folder in exe.ancestors().skip(1) {
            let candidate = folder.join("edgeless_function");
            if is_sdk(&candidate) {
                return Ok((candidate, "the CLI's installation"));
            }
        }
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../edgeless_function");
    if is_sdk(&built_from) {
        return Ok((
            absolute(&built_from)?,
            "the source tree the CLI was built from",
        ));
    }
    Err(anyhow!(
        "cannot find the edgeless_function SDK: set EDGELESS_SDK_PATH to its folder (edgeless_function in the edgeless sources)"
    ))
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))
}

/// Writes a new Rust function crate `name` into `dir/name`; returns its
/// folder.
pub fn new_rust(name: &str, dir: &Path, sdk: &Path) -> anyhow::Result<PathBuf> {
    if !edgeless_api::workflow::is_workflow_name(name) || name.contains('.') {
        return Err(anyhow!(
            "{name:?} is not a function name (letters, digits, `-`, `_`, starting with a letter or digit)"
        ));
    }
    let folder = dir.join(name);
    if folder.exists() {
        return Err(anyhow!(
            "{} exists already; choose another name or --dir",
            folder.display()
        ));
    }
    std::fs::create_dir_all(folder.join("src"))
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let crate_name = name.replace('-', "_");
    let sdk = sdk.display().to_string().replace('\\', "/");
    let files = [
        (
            "function.json",
            format!(
                "{{\n  \"id\": \"{name}\",\n  \"function_type\": \"RUST_WASM\",\n  \"version\": \"0.1\",\n  \"build\": \"Cargo.toml\",\n  \"outputs\": [\"out\"]\n}}\n"
            ),
        ),
        (
            "Cargo.toml",
            format!(
                "[package]\nname = \"{crate_name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n# A workspace of its own: built alone to WebAssembly.\n[workspace]\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nedgeless_function = {{ path = \"{sdk}\" }}\n\n[profile.release]\nlto = true\nopt-level = \"s\"\npanic = \"abort\"\nstrip = true\n"
            ),
        ),
        ("src/lib.rs", LIB_RS.replace("NAME", name)),
    ];
    for (file, text) in files {
        let path = folder.join(file);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(folder)
}

/// The function's code: every handler, each with a log line.
const LIB_RS: &str = r#"//! NAME: an edgeless function. Build it with
//! `edgeless_cli function build function.json`.
use edgeless_function::{CallRet, EdgeFunction, InstanceId, OwnedByteBuff, log};

struct Function;

impl EdgeFunction for Function {
    /// Once, when the instance starts: `payload` is the `init-payload`
    /// annotation, `state` what an earlier instance saved with `sync`.
    fn handle_init(payload: Option<&[u8]>, state: Option<&[u8]>) {
        edgeless_function::init_logger();
        log::info!(
            "NAME: started (payload {:?}, state {:?})",
            payload.map(String::from_utf8_lossy),
            state.map(String::from_utf8_lossy)
        );
    }

    /// An event that wants no answer; passed on to the output `out`
    /// (`try_cast` tells whether it could be sent).
    fn handle_cast(src: InstanceId, message: &[u8]) {
        log::info!("NAME: cast from {src}: {}", String::from_utf8_lossy(message));
        if edgeless_function::try_cast("out", message).is_err() {
            log::warn!("NAME: output `out` is not mapped");
        }
    }

    /// An event that wants an answer: the message back.
    fn handle_call(src: InstanceId, message: &[u8]) -> CallRet {
        log::info!("NAME: call from {src}: {}", String::from_utf8_lossy(message));
        CallRet::Reply(OwnedByteBuff::new_from_slice(message))
    }

    /// Once, when the instance stops.
    fn handle_stop() {
        log::info!("NAME: stopped");
    }
}

edgeless_function::export!(Function);
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_is_found_from_the_source_tree() {
        let (sdk, _) = find_sdk().unwrap();
        assert!(sdk.join("src/lib.rs").exists(), "{}", sdk.display());
    }

    #[test]
    fn a_new_crate_has_every_file_and_refuses_to_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let (sdk, _) = find_sdk().unwrap();
        let folder = new_rust("hello-world", dir.path(), &sdk).unwrap();
        let spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(folder.join("function.json")).unwrap())
                .unwrap();
        assert_eq!(spec["id"], "hello-world");
        let manifest = std::fs::read_to_string(folder.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"hello_world\""), "{manifest}");
        let code = std::fs::read_to_string(folder.join("src/lib.rs")).unwrap();
        for handler in ["handle_init", "handle_cast", "handle_call", "handle_stop"] {
            assert!(code.contains(handler), "{handler}");
        }
        let again = new_rust("hello-world", dir.path(), &sdk).unwrap_err();
        assert!(again.to_string().contains("exists already"), "{again}");
        let bad = new_rust("../x", dir.path(), &sdk).unwrap_err();
        assert!(bad.to_string().contains("is not a function name"), "{bad}");
    }
}
