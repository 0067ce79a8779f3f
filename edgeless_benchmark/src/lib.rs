//! `edgeless_benchmark`: drives a live cluster (through its controller) with
//! a seeded population of workflows — when they arrive and how long they
//! live follow an [`arrival::ArrivalModel`], what they are follows a
//! [`workflows::WorkflowType`] — and records, per workflow, whether and how
//! fast it started (`<dataset>workflows.csv`) and the blocking probability.
//!
//! [`bench`] measures the platform's fast paths inside one process;
//! [`scale`] how it behaves as domains, workflows and instances grow.

pub mod arrival;
pub mod bench;
pub mod experiment;
pub mod scale;
pub mod workflows;
