//! What the node reports about itself: detected hardware, overridden by
//! `[user_node_capabilities]`.

use edgeless_api::proto::NodeCapabilities;

use crate::Config;

/// The capabilities of this node.
pub fn detect(config: &Config) -> NodeCapabilities {
    let user = &config.user_node_capabilities;
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mut runtimes = Vec::new();
    if config.wasm_runtime.enabled {
        runtimes.push(edgeless_api::RUST_WASM.to_string());
    }
    if config.container_runtime.enabled {
        runtimes.push(edgeless_api::CONTAINER.to_string());
    }
    NodeCapabilities {
        num_cpus: user.num_cpus.unwrap_or(cpus),
        num_cores: user.num_cores.unwrap_or(cpus),
        model_name_cpu: user
            .model_name_cpu
            .clone()
            .unwrap_or_else(|| field(&cpuinfo, "model name").unwrap_or_default()),
        mem_size: user.mem_size.unwrap_or_else(|| {
            field(&meminfo, "MemTotal")
                .and_then(|v| v.trim_end_matches(" kB").trim().parse::<u64>().ok())
                .map(|kb| kb / 1024)
                .unwrap_or(0)
        }),
        clock_freq_cpu: user.clock_freq_cpu.unwrap_or_else(|| {
            field(&cpuinfo, "cpu MHz")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        }),
        labels: with_arch_label(&user.labels),
        arch: ARCH.to_string(),
        is_tee_running: user.is_tee_running,
        has_tpm: user.has_tpm,
        runtimes,
        disk_tot_space: user.disk_tot_space.unwrap_or(0),
        num_gpus: user.num_gpus.unwrap_or(0),
        model_name_gpu: user.model_name_gpu.clone().unwrap_or_default(),
        mem_size_gpu: user.mem_size_gpu.unwrap_or(0),
    }
}

/// The architecture this node runs on (the one it was built for).
pub const ARCH: &str = std::env::consts::ARCH;

/// `labels` with `arch=<ARCH>` added, unless one names an architecture.
fn with_arch_label(labels: &[String]) -> Vec<String> {
    let mut labels = labels.to_vec();
    if !labels.iter().any(|l| l.starts_with("arch=")) {
        labels.push(format!("arch={ARCH}"));
    }
    labels
}

/// The value of the first `key: value` line of a /proc file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines()
        .find(|line| line.starts_with(key))
        .and_then(|line| line.split_once(':'))
        .map(|(_, value)| value.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_override_detection() {
        let mut config = Config::default();
        config.user_node_capabilities.num_cpus = Some(64);
        config.user_node_capabilities.labels = vec!["gpu".into()];
        config.user_node_capabilities.num_gpus = Some(2);
        config.user_node_capabilities.model_name_gpu = Some("A2".into());
        config.user_node_capabilities.mem_size_gpu = Some(16384);
        config.user_node_capabilities.disk_tot_space = Some(500);
        config.user_node_capabilities.clock_freq_cpu = Some(1500.0);
        let caps = detect(&config);
        assert_eq!(caps.num_cpus, 64);
        assert_eq!((caps.num_gpus, caps.model_name_gpu.as_str()), (2, "A2"));
        assert_eq!((caps.mem_size_gpu, caps.disk_tot_space), (16384, 500));
        assert_eq!(caps.clock_freq_cpu, 1500.0);
        // The architecture is a label too, for `label_match_all`.
        assert_eq!(caps.labels, vec!["gpu".to_string(), format!("arch={ARCH}")]);
        assert_eq!(caps.arch, ARCH);
        assert_eq!(caps.runtimes, vec!["RUST_WASM"]);
        // An `arch=` label of the user's own is kept as it is.
        config.user_node_capabilities.labels = vec!["arch=armv7".into()];
        assert_eq!(detect(&config).labels, vec!["arch=armv7"]);
        assert!(caps.num_cores >= 1);
    }

    #[test]
    fn proc_fields_are_read() {
        assert_eq!(
            field("MemTotal:  2048 kB\n", "MemTotal").as_deref(),
            Some("2048 kB")
        );
        assert_eq!(field("x: 1\n", "y"), None);
    }
}
