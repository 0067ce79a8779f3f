//! Runs an experiment against a live cluster: starts and stops workflows at
//! the scheduled times (wall clock), records how each start went, and
//! writes one CSV row per workflow.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use edgeless_api::proto::WorkflowId;
use edgeless_api::proto::workflow_instance_client::WorkflowInstanceClient;

use crate::arrival::Lifespan;
use crate::workflows::WorkflowType;

/// What happened to one scheduled workflow.
#[derive(Debug, Clone)]
pub struct WorkflowRecord {
    pub index: usize,
    pub span: Lifespan,
    /// The workflow id, when it started.
    pub id: Option<String>,
    /// From the start request to the controller's answer.
    pub start_latency: Duration,
    /// Why it did not start.
    pub error: String,
}

/// The result of an experiment.
#[derive(Debug, Default)]
pub struct Outcome {
    pub records: Vec<WorkflowRecord>,
}

impl Outcome {
    pub fn requested(&self) -> usize {
        self.records.len()
    }

    pub fn started(&self) -> usize {
        self.records.iter().filter(|r| r.id.is_some()).count()
    }

    /// 1 − started / requested (0 when nothing was requested).
    pub fn blocking_probability(&self) -> f64 {
        if self.records.is_empty() {
            0.0
        } else {
            1.0 - self.started() as f64 / self.requested() as f64
        }
    }
}

/// Where and how rows are written.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Prefix of the file: `<prefix>workflows.csv`; `None`: no file.
    pub prefix: Option<String>,
    /// Add to an existing file instead of replacing it.
    pub append: bool,
    /// Extra leading columns: (header, value) pairs.
    pub additional: Vec<(String, String)>,
    /// Written in every row.
    pub seed: u64,
}

enum Step {
    Start(usize),
    Stop(usize),
}

/// Runs the schedule; every workflow still running at the end is stopped.
pub async fn run(
    controller_url: &str,
    spans: &[Lifespan],
    workflow: &WorkflowType,
) -> anyhow::Result<Outcome> {
    let channel = edgeless_api::client::channel(controller_url)?;
    let mut client = WorkflowInstanceClient::new(channel)
        .max_encoding_message_size(edgeless_api::limits::MAX_CONTROL_MESSAGE);
    let mut steps: Vec<(Duration, Step)> = Vec::with_capacity(spans.len() * 2);
    for (index, span) in spans.iter().enumerate() {
        steps.push((span.arrival, Step::Start(index)));
        steps.push((span.end, Step::Stop(index)));
    }
    // By time; at the same time stops go first (they free room).
    steps.sort_by_key(|(at, step)| (*at, matches!(step, Step::Start(_))));
    let mut outcome = Outcome {
        records: spans
            .iter()
            .enumerate()
            .map(|(index, span)| WorkflowRecord {
                index,
                span: *span,
                id: None,
                start_latency: Duration::ZERO,
                error: String::new(),
            })
            .collect(),
    };
    let began = tokio::time::Instant::now();
    for (at, step) in steps {
        tokio::time::sleep_until(began + at).await;
        match step {
            Step::Start(index) => {
                let Some(request) = workflow.request(index) else {
                    continue;
                };
                let sent = Instant::now();
                let result = client.start(request).await;
                let record = &mut outcome.records[index];
                record.start_latency = sent.elapsed();
                match result {
                    Ok(status) => record.id = Some(status.into_inner().workflow_id),
                    Err(status) => {
                        record.error = status.message().to_string();
                        tracing::warn!(workflow = index, error = %record.error, "workflow not started");
                    }
                }
            }
            Step::Stop(index) => {
                if let Some(id) = outcome.records[index].id.clone() {
                    let request = WorkflowId { workflow_id: id };
                    if let Err(status) = client.stop(request).await {
                        tracing::warn!(workflow = index, error = %status.message(), "workflow not stopped");
                    }
                }
            }
        }
    }
    Ok(outcome)
}

/// Writes `<prefix>workflows.csv`: one row per scheduled workflow.
pub fn write_csv(dataset: &Dataset, outcome: &Outcome) -> anyhow::Result<Option<PathBuf>> {
    let Some(prefix) = &dataset.prefix else {
        return Ok(None);
    };
    let path = PathBuf::from(format!("{prefix}workflows.csv"));
    let exists = path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(dataset.append)
        .truncate(!dataset.append)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let extra_header: String = dataset
        .additional
        .iter()
        .map(|(h, _)| format!("{h},"))
        .collect();
    let extra_values: String = dataset
        .additional
        .iter()
        .map(|(_, v)| format!("{v},"))
        .collect();
    if !(dataset.append && exists) {
        writeln!(
            file,
            "{extra_header}seed,workflow,arrival_s,end_s,started,start_latency_ms,error"
        )?;
    }
    for r in &outcome.records {
        writeln!(
            file,
            "{extra_values}{},{},{:.3},{:.3},{},{:.3},{}",
            dataset.seed,
            r.index,
            r.span.arrival.as_secs_f64(),
            r.span.end.as_secs_f64(),
            u8::from(r.id.is_some()),
            r.start_latency.as_secs_f64() * 1000.0,
            r.error.replace([',', '\n'], " ")
        )?;
    }
    Ok(Some(path))
}
