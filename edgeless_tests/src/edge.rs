//! A node built for 64-bit ARM, run with `qemu-aarch64-static` (user-mode
//! emulation, called directly: binfmt may be unavailable).

use std::path::PathBuf;
use std::process::Command;

use crate::repo_root;

/// The ARM target the emulated node is built for.
pub const TARGET: &str = "aarch64-unknown-linux-musl";

/// The emulator and the ARM node binary, built from the current sources
/// (`scripts/build-edge.sh`, a release build: the first time takes several
/// minutes, later ones only check). Panics, naming what to install, when
/// either cannot be had. Tests that call it carry
/// `#[cfg_attr(skip_arm, ignore = ...)]` (`EDGELESS_TEST_SKIP=arm`).
pub fn require_arm_node() -> (PathBuf, PathBuf) {
    let emulator = PathBuf::from("qemu-aarch64-static");
    let runs = Command::new(&emulator)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "qemu-aarch64-static is not installed (apt-get install qemu-user-static); or set EDGELESS_TEST_SKIP=arm to skip the tests that need it"
    );
    let output = Command::new(repo_root().join("scripts/build-edge.sh"))
        .arg(TARGET)
        .env("EDGE_BINS", "edgeless_node_d")
        .output()
        .expect("scripts/build-edge.sh runs");
    assert!(
        output.status.success(),
        "building the ARM node failed (needs network for zig and cargo-zigbuild the first time):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let binary = repo_root()
        .join("target")
        .join(TARGET)
        .join("release")
        .join("edgeless_node_d");
    assert!(binary.exists(), "{} was not built", binary.display());
    (emulator, binary)
}
