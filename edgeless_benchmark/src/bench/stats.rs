//! What a scenario measured, and how it is printed.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
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

    /// The samples, shortest first.
    pub fn samples(&self) -> &[Duration] {
        &self.sorted
    }

    /// Every sample divided by `n` (a round trip of `n` hops → per hop).
    pub fn divided(&self, n: u32) -> Self {
        Self {
            sorted: self.sorted.iter().map(|d| *d / n).collect(),
        }
    }
}

/// Times `$once` (an expression giving a future of `anyhow::Result<()>`,
/// evaluated afresh for each run) `$samples` times, one after the other,
/// after a tenth as many untimed runs that warm caches and connections up.
/// A macro rather than a function taking an async closure: the future it
/// gives must be `Send`, so that the scenarios run on the runtime's workers.
macro_rules! time_each {
    ($samples:expr, $once:expr) => {
        async {
            let samples: usize = $samples;
            for _ in 0..samples / 10 + 1 {
                $once.await?;
            }
            let mut taken = Vec::with_capacity(samples);
            for _ in 0..samples {
                let started = std::time::Instant::now();
                $once.await?;
                taken.push(started.elapsed());
            }
            $crate::bench::stats::Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no samples"))
        }
    };
}
pub(crate) use time_each;

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
            "{:<46} {:>11} {:>11} {:>7} {:>12}  {}",
            self.scenario, median, p99, n, throughput, self.note
        )
    }
}

/// The header matching [`Row`]'s columns.
pub fn header() -> String {
    format!(
        "{:<46} {:>11} {:>11} {:>7} {:>12}  {}",
        "scenario", "median", "p99", "n", "throughput", "target / baseline"
    )
}

fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// Writes `<prefix>bench_summary.csv` (one row per scenario) and
/// `<prefix>bench_samples.csv` (every timed event of every scenario, in µs,
/// shortest first); returns their paths.
pub fn write_csv(prefix: &str, rows: &[Row]) -> anyhow::Result<Vec<PathBuf>> {
    let create = |name: &str| -> anyhow::Result<(PathBuf, std::io::BufWriter<std::fs::File>)> {
        let path = PathBuf::from(format!("{prefix}{name}"));
        let file = std::fs::File::create(&path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        Ok((path, std::io::BufWriter::new(file)))
    };
    let (summary_path, mut summary) = create("bench_summary.csv")?;
    let (samples_path, mut samples) = create("bench_samples.csv")?;
    writeln!(
        summary,
        "scenario,median_us,p99_us,samples,throughput_per_s,note"
    )?;
    writeln!(samples, "scenario,latency_us")?;
    let us = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e6);
    for row in rows {
        let scenario = quoted(&row.scenario);
        let (median, p99, n) = match &row.latency {
            Some(l) => (us(l.median()), us(l.p99()), l.count().to_string()),
            None => Default::default(),
        };
        let throughput = row.throughput.map_or(String::new(), |t| format!("{t:.0}"));
        writeln!(
            summary,
            "{scenario},{median},{p99},{n},{throughput},{}",
            quoted(&row.note)
        )?;
        for sample in row.latency.iter().flat_map(|l| l.samples()) {
            writeln!(samples, "{scenario},{}", us(*sample))?;
        }
    }
    summary.flush()?;
    samples.flush()?;
    Ok(vec![summary_path, samples_path])
}

/// Names on stderr the files `written` (or passes on why they were not).
pub fn report_files(written: anyhow::Result<Vec<PathBuf>>) -> anyhow::Result<()> {
    for path in written? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
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

    #[test]
    fn csv_files_hold_the_summary_and_every_sample() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = format!("{}/run-", dir.path().display());
        let rows = [
            Row {
                scenario: "casts, 2 in flight".into(),
                latency: None,
                throughput: Some(1234.4),
                note: "≥ 1 \"ok\"".into(),
            },
            Row {
                scenario: "hop".into(),
                latency: Latencies::new(vec![Duration::from_micros(3), Duration::from_micros(1)]),
                throughput: None,
                note: String::new(),
            },
        ];
        let paths = write_csv(&prefix, &rows).unwrap();
        let summary = std::fs::read_to_string(&paths[0]).unwrap();
        assert_eq!(
            summary,
            "scenario,median_us,p99_us,samples,throughput_per_s,note\n\
             \"casts, 2 in flight\",,,,1234,\"≥ 1 \"\"ok\"\"\"\n\
             \"hop\",3.000,3.000,2,,\"\"\n"
        );
        let samples = std::fs::read_to_string(&paths[1]).unwrap();
        assert_eq!(
            samples,
            "scenario,latency_us\n\"hop\",1.000\n\"hop\",3.000\n"
        );
        assert!(write_csv("/nonexistent/dir/x-", &rows).is_err());
    }
}
