//! What the node tells its orchestrator besides capabilities: its health
//! (memory, CPU, load, network, read from /proc) and the execution times of
//! its functions since the last registration.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use edgeless_api::proto;
use uuid::Uuid;

/// The most samples kept per instance between two registrations.
const MAX_SAMPLES: usize = 1024;

/// Function execution times, by physical function id. Cheap to clone.
///
/// Each instance records into its own [`SampleSlot`], so instances do not
/// contend for one lock (or hash a map) per event; the registration loop
/// takes what every slot gathered.
#[derive(Clone, Default)]
pub struct PerformanceSamples {
    slots: Arc<Mutex<HashMap<Uuid, SampleSlot>>>,
}

/// The execution times of one instance since the last drain.
#[derive(Clone, Default)]
pub struct SampleSlot(Arc<Mutex<Vec<f64>>>);

impl SampleSlot {
    /// Records one execution that took `seconds` (at most [`MAX_SAMPLES`]
    /// are kept between two drains).
    pub fn record(&self, seconds: f64) {
        let mut samples = lock(&self.0);
        if samples.len() < MAX_SAMPLES {
            samples.push(seconds);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl PerformanceSamples {
    /// The slot `function_id` records into (the same one for every caller).
    pub fn slot(&self, function_id: Uuid) -> SampleSlot {
        lock(&self.slots).entry(function_id).or_default().clone()
    }

    /// Takes every sample recorded so far. Slots no instance holds any more
    /// are forgotten once drained.
    pub fn drain(&self) -> proto::NodePerformanceSamples {
        let mut slots = lock(&self.slots);
        let mut function_execution_times = Vec::new();
        for (id, slot) in slots.iter() {
            let samples = std::mem::take(&mut *lock(&slot.0));
            if !samples.is_empty() {
                function_execution_times.push(proto::Samples {
                    id: id.to_string(),
                    samples,
                });
            }
        }
        slots.retain(|_, slot| Arc::strong_count(&slot.0) > 1);
        proto::NodePerformanceSamples {
            function_execution_times,
        }
    }
}

/// Measures the node process's CPU usage between two readings.
#[derive(Default)]
pub struct CpuMeter {
    last: Option<(u64, std::time::Instant)>,
}

/// Clock ticks per second of /proc/self/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

impl CpuMeter {
    /// Percent of one CPU used by this process since the previous call
    /// (-1 on the first call or where /proc is missing).
    pub fn usage(&mut self) -> i32 {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name (which may contain spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = match (fields.get(11), fields.get(12)) {
            (Some(user), Some(system)) => {
                user.parse::<u64>().unwrap_or(0) + system.parse::<u64>().unwrap_or(0)
            }
            _ => return -1,
        };
        let now = std::time::Instant::now();
        let usage = match self.last {
            Some((last_ticks, at)) if now > at => {
                let cpu_seconds = ticks.saturating_sub(last_ticks) as f64 / TICKS_PER_SECOND;
                (100.0 * cpu_seconds / now.duration_since(at).as_secs_f64()).round() as i32
            }
            _ => -1,
        };
        self.last = Some((ticks, now));
        usage
    }
}

/// Reads the node's health now.
pub fn health(num_instances: usize, cpu: &mut CpuMeter) -> proto::NodeHealthStatus {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = |key: &str| -> i64 {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    let (total, free, available) = (kb("MemTotal:"), kb("MemFree:"), kb("MemAvailable:"));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = |i: usize| -> i32 {
        loadavg
            .split_whitespace()
            .nth(i)
            .and_then(|v| v.parse::<f64>().ok())
            .map(|v| (v * 100.0) as i32)
            .unwrap_or(-1)
    };
    let (rx, tx) = network_bytes(&std::fs::read_to_string("/proc/net/dev").unwrap_or_default());
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    proto::NodeHealthStatus {
        mem_free: free,
        mem_used: if total >= 0 && available >= 0 {
            total - available
        } else {
            -1
        },
        mem_available: available,
        proc_cpu_usage: cpu.usage(),
        proc_memory: rss,
        load_avg_1: load(0),
        load_avg_5: load(1),
        load_avg_15: load(2),
        tot_rx_bytes: rx,
        tot_tx_bytes: tx,
        num_instances: num_instances as u32,
        function_events: Vec::new(),
    }
}

/// Received and sent bytes over every interface but loopback.
fn network_bytes(netdev: &str) -> (i64, i64) {
    netdev
        .lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .map(|(_, counters)| {
            let fields: Vec<i64> = counters
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (
                fields.first().copied().unwrap_or(0),
                fields.get(8).copied().unwrap_or(0),
            )
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_drained_once() {
        let samples = PerformanceSamples::default();
        let id = Uuid::new_v4();
        samples.slot(id).record(0.5);
        samples.slot(id).record(0.25);
        let drained = samples.drain();
        assert_eq!(drained.function_execution_times.len(), 1);
        assert_eq!(drained.function_execution_times[0].samples, vec![0.5, 0.25]);
        assert!(samples.drain().function_execution_times.is_empty());
    }

    #[test]
    fn an_instance_s_slot_lives_as_long_as_the_instance_holds_it() {
        let samples = PerformanceSamples::default();
        let id = Uuid::new_v4();
        let slot = samples.slot(id);
        slot.record(0.5);
        samples.slot(id).record(0.25);
        assert_eq!(
            samples.drain().function_execution_times[0].samples,
            vec![0.5, 0.25]
        );
        // Still held: later samples are still reported.
        slot.record(0.125);
        assert_eq!(
            samples.drain().function_execution_times[0].samples,
            vec![0.125]
        );
        // Dropped: the last samples are reported, then the slot is gone.
        slot.record(1.0);
        drop(slot);
        assert_eq!(samples.drain().function_execution_times.len(), 1);
        assert!(lock(&samples.slots).is_empty());
    }

    /// A `/proc/meminfo` value in kB, read independently of `health`.
    fn meminfo_kb(key: &str) -> i64 {
        std::fs::read_to_string("/proc/meminfo")
            .unwrap()
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    #[test]
    fn health_reads_memory_and_load_from_proc() {
        let health = health(0, &mut CpuMeter::default());
        let total = meminfo_kb("MemTotal:");
        assert!(
            health.mem_available > 0 && health.mem_available <= total,
            "{health:?}"
        );
        assert_eq!(health.mem_used + health.mem_available, total, "{health:?}");
        assert!(
            health.mem_free > 0 && health.mem_free <= total,
            "{health:?}"
        );
        // This process's resident memory: more than nothing, less than all.
        assert!(
            health.proc_memory > 0 && health.proc_memory < total,
            "{health:?}"
        );
        let loads = std::fs::read_to_string("/proc/loadavg").unwrap();
        let first: f64 = loads.split_whitespace().next().unwrap().parse().unwrap();
        // The load may change between the two readings, by little.
        assert!(
            (health.load_avg_1 - (first * 100.0) as i32).abs() <= 100,
            "{} vs {loads}",
            health.load_avg_1
        );
    }

    #[test]
    fn cpu_usage_counts_this_process_between_readings() {
        let mut cpu = CpuMeter::default();
        assert_eq!(cpu.usage(), -1, "no usage before a second reading");
        // Burn CPU until the kernel has counted some ticks for it.
        let mut usage = 0;
        for _ in 0..20 {
            let busy = std::time::Instant::now();
            while busy.elapsed() < std::time::Duration::from_millis(50) {
                std::hint::black_box(busy.elapsed());
            }
            usage = cpu.usage();
            if usage > 0 {
                break;
            }
        }
        assert!(usage > 0, "a busy process used no CPU: {usage}");
    }

    #[test]
    fn network_counters_skip_loopback() {
        let netdev = "Inter-|   Receive\n face |bytes\n    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  eth0: 10 1 0 0 0 0 0 0 20 1 0 0 0 0 0 0\n";
        assert_eq!(network_bytes(netdev), (10, 20));
    }
}
