//! A real browser for the dashboard tests: headless Chromium (Debian's
//! `chromium`) loads a page, runs its JavaScript, and hands back the
//! resulting document.

use std::process::Command;

/// The browser's program name.
const CHROMIUM: &str = "chromium";

/// Panics, naming what to install, unless headless Chromium runs here.
/// Tests that call it carry `#[cfg_attr(skip_chromium, ignore = ...)]`, so
/// that `EDGELESS_TEST_SKIP=chromium` reports them as ignored instead.
pub fn require_chromium() {
    let runs = Command::new(CHROMIUM)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        runs,
        "chromium is not installed (apt-get install chromium); or set EDGELESS_TEST_SKIP=chromium to skip the tests that need it"
    );
}

fn headless() -> Command {
    let mut command = Command::new(CHROMIUM);
    // Root in a container has no user namespace for the sandbox.
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--virtual-time-budget=4000",
    ]);
    command
}

/// The document of `url` once its scripts ran for a few (virtual) seconds.
pub fn rendered(url: &str) -> String {
    let output = headless()
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A PNG screenshot of `url` (`width` x `height`) at `path`.
pub fn screenshot(url: &str, path: &std::path::Path, (width, height): (u32, u32)) {
    let output = headless()
        .arg(format!("--screenshot={}", path.display()))
        .arg(format!("--window-size={width},{height}"))
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success() && path.exists(),
        "chromium failed on {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
