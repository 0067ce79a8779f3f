//! `EDGELESS_TEST_SKIP=docker,redis,netns,chromium,kafka,arm` marks the tests that need those services
//! as ignored (reported as such by the test runner) instead of letting them
//! fail on a machine without them. Without it, every such test runs and
//! fails, naming what to install, when its service is missing.

const SERVICES: [&str; 6] = ["docker", "redis", "netns", "chromium", "kafka", "arm"];

fn main() {
    println!("cargo::rerun-if-env-changed=EDGELESS_TEST_SKIP");
    for service in SERVICES {
        println!("cargo::rustc-check-cfg=cfg(skip_{service})");
    }
    let skip = std::env::var("EDGELESS_TEST_SKIP").unwrap_or_default();
    for name in skip.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if SERVICES.contains(&name) {
            println!("cargo::rustc-cfg=skip_{name}");
        } else {
            println!(
                "cargo::warning=EDGELESS_TEST_SKIP names `{name}`; known: {}",
                SERVICES.join(", ")
            );
        }
    }
}
