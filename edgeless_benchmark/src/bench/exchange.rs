//! Events between the benchmark's driver mailbox and a `bounce` instance,
//! which sends every cast straight back to its source and answers every
//! call with its payload.

use std::time::{Duration, Instant};

use bytes::Bytes;
use edgeless_api::InstanceId;
use edgeless_dataplane::{CallOutcome, DataplaneHandle};

use super::stats::{Latencies, time_each};

/// How long one event may take before the scenario fails.
const PATIENCE: Duration = Duration::from_secs(10);

async fn bounced(driver: &mut DataplaneHandle) -> anyhow::Result<()> {
    match tokio::time::timeout(PATIENCE, driver.receive_next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => anyhow::bail!("the driver's mailbox closed"),
        Err(_) => anyhow::bail!("no event came back within {PATIENCE:?}"),
    }
}

fn cast(driver: &DataplaneHandle, target: InstanceId, payload: &Bytes) -> anyhow::Result<()> {
    driver
        .sender()
        .cast(target, payload.clone())
        .map_err(|e| anyhow::anyhow!("cast refused: {e}"))
}

/// Hops to `target`: `samples` casts, one at a time, each timed until it is
/// back, halved (there and back are two hops).
pub async fn cast_hops(
    driver: &mut DataplaneHandle,
    target: InstanceId,
    payload: &Bytes,
    samples: usize,
) -> anyhow::Result<Latencies> {
    let round_trips = time_each!(samples, async {
        cast(driver, target, payload)?;
        bounced(driver).await
    })
    .await?;
    Ok(round_trips.divided(2))
}

/// Events per second (each bounce is two: there and back) with `in_flight`
/// casts on their way at all times, over `period`.
pub async fn cast_throughput(
    driver: &mut DataplaneHandle,
    target: InstanceId,
    payload: &Bytes,
    in_flight: usize,
    period: Duration,
) -> anyhow::Result<f64> {
    for _ in 0..in_flight {
        cast(driver, target, payload)?;
    }
    let started = Instant::now();
    let mut bounces = 0u64;
    while started.elapsed() < period {
        bounced(driver).await?;
        bounces += 1;
        cast(driver, target, payload)?;
    }
    let rate = 2.0 * bounces as f64 / started.elapsed().as_secs_f64();
    for _ in 0..in_flight {
        bounced(driver).await?;
    }
    Ok(rate)
}

/// `samples` calls to `target`, one at a time.
pub async fn call_round_trips(
    driver: &DataplaneHandle,
    target: InstanceId,
    payload: &Bytes,
    samples: usize,
) -> anyhow::Result<Latencies> {
    time_each!(samples, call(driver, target, payload)).await
}

/// One call, answered with a reply.
pub async fn call(
    driver: &DataplaneHandle,
    target: InstanceId,
    payload: &Bytes,
) -> anyhow::Result<()> {
    match driver
        .sender()
        .call(target, payload.clone(), PATIENCE)
        .await
    {
        CallOutcome::Reply(_) => Ok(()),
        other => anyhow::bail!("call to {target} failed: {other:?}"),
    }
}
