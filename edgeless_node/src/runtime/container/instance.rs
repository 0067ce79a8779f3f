//! The life of one container instance once it is ready: one event at a time
//! from the mailbox to the container, until it is stopped or fails. Whatever
//! ends it, the container is removed and its token forgotten.

use std::sync::Arc;
use std::time::Duration;

use edgeless_api::event::{Event, EventKind};
use edgeless_api::proto::{Empty, GuestEvent, call_result::Kind};
use edgeless_dataplane::{CallOutcome, DataplaneHandle};
use tokio::sync::oneshot;

use super::GuestClient;
use super::docker::Engine;
use super::host_service::Guests;
use crate::metrics::InstanceMeter;
use crate::runtime::instance_host::InstanceHost;

/// How long the container may take to handle one event.
const EVENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `handle_stop` may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a container that failed an event may take to end, so that
/// its end (rather than the lost connection) is reported.
const EXIT_GRACE: Duration = Duration::from_secs(2);

pub struct Instance {
    pub engine: Engine,
    pub name: String,
    pub guest: GuestClient,
    pub host: Arc<InstanceHost>,
    pub token: String,
    pub guests: Guests,
    pub dataplane: DataplaneHandle,
    pub meter: InstanceMeter,
    pub stop: oneshot::Receiver<()>,
}

/// Serves the instance; returns why it failed, if it did.
pub async fn run(mut instance: Instance) -> Option<String> {
    let id = instance.host.id;
    let engine = instance.engine.clone();
    let name = instance.name.clone();
    let exited = engine.wait(&name);
    tokio::pin!(exited);
    // What the container prints is kept with its log lines.
    let output = {
        let (engine, name, host) = (engine.clone(), name.clone(), instance.host.clone());
        tokio::spawn(async move {
            engine
                .follow_output(&name, |stderr, line| {
                    let (level, stream) = if stderr { (2, "stderr") } else { (3, "stdout") };
                    host.log(level, stream, line);
                })
                .await;
        })
    };
    let mut failed = None;
    loop {
        tokio::select! {
            biased;
            _ = &mut instance.stop => {
                if tokio::time::timeout(STOP_TIMEOUT, instance.guest.stop(Empty {})).await.is_err() {
                    tracing::warn!(instance = %id, "handle_stop did not finish within {STOP_TIMEOUT:?}");
                }
                break;
            }
            () = &mut exited => {
                failed = Some(instance.exit_reason().await);
                break;
            }
            event = instance.dataplane.receive_next() => {
                let Some(event) = event else { break };
                let started = std::time::Instant::now();
                let result = instance.handle(event).await;
                instance.meter.handled(started.elapsed());
                if let Err(error) = result {
                    failed = Some(instance.failure_reason(&error).await);
                    break;
                }
            }
        }
    }
    if let Some(reason) = &failed {
        tracing::error!(instance = %id, %reason, "container function failed; instance stopped");
    }
    output.abort();
    instance.guests.remove(&instance.token);
    instance.host.cancel_timers();
    engine.remove(&instance.name).await;
    tracing::info!(instance = %id, "instance ended");
    failed
}

impl Instance {
    /// Hands one event to the container. An error means the container no
    /// longer serves its function.
    async fn handle(&mut self, event: Event) -> Result<(), String> {
        let request = GuestEvent {
            source: Some(event.source.into()),
            payload: event.payload.clone(),
        };
        match event.kind {
            EventKind::Cast => {
                let result = tokio::time::timeout(EVENT_TIMEOUT, self.guest.cast(request)).await;
                answered(result).map(|_| ())
            }
            EventKind::Call => {
                let result = tokio::time::timeout(EVENT_TIMEOUT, self.guest.call(request)).await;
                let (outcome, result) = match answered(result) {
                    Ok(answer) => {
                        let answer = answer.into_inner();
                        let outcome = match Kind::try_from(answer.kind) {
                            Ok(Kind::Reply) => CallOutcome::Reply(answer.payload),
                            Ok(Kind::NoReply) => CallOutcome::NoReply,
                            _ => CallOutcome::Err(format!(
                                "the callee returned an error: {}",
                                answer.error
                            )),
                        };
                        (outcome, Ok(()))
                    }
                    Err(error) => (CallOutcome::Err("the callee failed".into()), Err(error)),
                };
                if let Err(error) = self.dataplane.sender().reply(&event, outcome) {
                    tracing::warn!(instance = %event.target, %error, "reply not delivered");
                }
                result
            }
            // Replies are routed to their waiting caller by the dataplane.
            _ => Ok(()),
        }
    }

    /// Why handing an event failed. A lost connection usually means the
    /// container is dying (its memory, a crash): when it ends within a
    /// moment, its end is the reason; otherwise the error is.
    async fn failure_reason(&self, error: &str) -> String {
        let ended = tokio::time::timeout(EXIT_GRACE, self.engine.wait(&self.name))
            .await
            .is_ok();
        if ended {
            self.exit_reason().await
        } else {
            format!("{error}; the container is still running")
        }
    }

    /// Why the container stopped serving, in words.
    async fn exit_reason(&self) -> String {
        let status = self.engine.status(&self.name).await;
        let output = self.engine.last_output(&self.name).await;
        if output.is_empty() {
            format!("{status}")
        } else {
            format!("{status}; its last output: {output}")
        }
    }
}

fn answered<T>(
    result: Result<Result<tonic::Response<T>, tonic::Status>, tokio::time::error::Elapsed>,
) -> Result<tonic::Response<T>, String> {
    match result {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(status)) => Err(format!(
            "the container did not take the event: {}",
            status.message()
        )),
        Err(_) => Err(format!(
            "the container did not handle an event within {EVENT_TIMEOUT:?}"
        )),
    }
}
