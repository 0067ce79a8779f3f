//! `edgeless_cli function build-container`: a function crate built as a
//! static (musl) binary and packed into an image `FROM scratch`, built by
//! the local Docker Engine. No registry is involved.

use std::path::Path;

use anyhow::{Context, anyhow};
use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures::StreamExt;

/// The target container functions are built for.
pub const CONTAINER_TARGET: &str = "x86_64-unknown-linux-musl";

/// The image: the binary alone.
const DOCKERFILE: &str = "FROM scratch\nCOPY function /function\nENTRYPOINT [\"/function\"]\n";

/// The build context: a Dockerfile and the binary, as a tar archive.
pub fn context(binary: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(binary)
        .with_context(|| format!("cannot read the built binary {}", binary.display()))?;
    let mut archive = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        archive.append_data(&mut header, name, data)
    };
    add("Dockerfile", DOCKERFILE.as_bytes(), 0o644)?;
    add("function", &bytes, 0o755)?;
    Ok(archive.into_inner()?)
}

/// Builds image `tag` from `binary` with the Docker Engine on `socket`.
pub async fn build(binary: &Path, tag: &str, socket: &str) -> anyhow::Result<()> {
    let context = context(binary)?;
    let unreachable = |e: bollard::errors::Error| {
        anyhow!(
            "Docker does not answer on {socket}: {e}\nhint: start dockerd, or pass --docker-socket"
        )
    };
    let docker = Docker::connect_with_unix(socket, 300, bollard::API_DEFAULT_VERSION)
        .map_err(unreachable)?
        .negotiate_version()
        .await
        .map_err(unreachable)?;
    let options = BuildImageOptionsBuilder::new().t(tag).rm(true).build();
    let mut output = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    while let Some(step) = output.next().await {
        let info = step.map_err(|e| anyhow!("building image {tag} failed: {e}"))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(anyhow!("building image {tag} failed: {error}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_context_holds_the_dockerfile_and_an_executable_binary() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("f");
        std::fs::write(&binary, b"\x7fELF...").unwrap();
        let context = context(&binary).unwrap();
        let mut archive = tar::Archive::new(context.as_slice());
        let entries: Vec<(String, u32, u64)> = archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                (path, e.header().mode().unwrap(), e.size())
            })
            .collect();
        assert_eq!(
            entries,
            vec![
                ("Dockerfile".to_string(), 0o644, DOCKERFILE.len() as u64),
                ("function".to_string(), 0o755, 7)
            ]
        );
    }

    #[test]
    fn a_missing_binary_is_named() {
        let err = context(Path::new("/nonexistent/f")).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/f"), "{err:#}");
    }
}
