//! What a scenario measured, and how it is printed.

use std::fmt;
use std::time::Duration;

/// Latency samples of one scenario.
#[derive(Debug, Clone)]
pub struct Latencies {
    sorted: Vec<Duration>,
}

impl Latencies {
    /// Takes the samples (in any order). `None` when there are none.
    pub fn new(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        Some(Self { sorted: samples })
    }

    /// The sample below which a fraction `q` (0..=1) of the samples lie.
    pub fn quantile(&self, q: f64) -> Duration {
        let last = self.sorted.len() - 1;
        self.sorted[((last as f64) * q.clamp(0.0, 1.0)).round() as usize]
    }

    /// The median.
    pub fn median(&self) -> Duration {
        self.quantile(0.5)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// How many samples there are (never none).
    pub fn count(&self) -> usize {
        self.sorted.len()
    }

    /// Every sample divided by `n` (a round trip of `n` hops → per hop).
    pub fn divided(&self, n: u32) -> Self {
        Self {
            sorted: self.sorted.iter().map(|d| *d / n).collect(),
        }
    }
}

/// One printed line: a scenario, its figures and its target.
pub struct Row {
    /// What was measured.
    pub scenario: String,
    /// Latency, if the scenario measures it.
    pub latency: Option<Latencies>,
    /// Events (or operations) per second, if measured.
    pub throughput: Option<f64>,
    /// Free text: the target and the comparison with the baseline.
    pub note: String,
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (median, p99, n) = match &self.latency {
            Some(l) => (micros(l.median()), micros(l.p99()), l.count().to_string()),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let throughput = self
            .throughput
            .map_or("-".to_string(), |t| format!("{t:.0}/s"));
        write!(
            f,
            "{:<44} {:>11} {:>11} {:>7} {:>12}  {}",
            self.scenario, median, p99, n, throughput, self.note
        )
    }
}

/// The header matching [`Row`]'s columns.
pub fn header() -> String {
    format!(
        "{:<44} {:>11} {:>11} {:>7} {:>12}  {}",
        "scenario", "median", "p99", "n", "throughput", "target / baseline"
    )
}

/// `✓` when `ok`, else `✗`.
pub fn mark(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_sorted_samples() {
        let l = Latencies::new((1..=100).rev().map(Duration::from_micros).collect()).unwrap();
        assert_eq!(l.median(), Duration::from_micros(51));
        assert_eq!(l.p99(), Duration::from_micros(99));
        assert_eq!(l.quantile(0.0), Duration::from_micros(1));
        assert_eq!(l.divided(2).median(), Duration::from_nanos(25_500));
        assert!(Latencies::new(Vec::new()).is_none());
    }
}
