//! The baseline: a bare tonic bidirectional stream on loopback that echoes
//! every message. Half its round trip is the least a node-to-node hop over
//! gRPC can cost on this machine.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::stats::{Latencies, time_each};

mod proto {
    tonic::include_proto!("edgeless_benchmark");
}

use proto::Ping;
use proto::echo_client::EchoClient;
use proto::echo_server::{Echo, EchoServer};

struct EchoService;

#[tonic::async_trait]
impl Echo for EchoService {
    type EchoStream = Streaming<Ping>;

    async fn echo(
        &self,
        request: Request<Streaming<Ping>>,
    ) -> Result<Response<Self::EchoStream>, Status> {
        // The inbound stream is the outbound stream: nothing in between.
        Ok(Response::new(request.into_inner()))
    }
}

/// An echo server on a free loopback port and a client stream to it.
pub struct EchoLink {
    outbound: mpsc::Sender<Ping>,
    inbound: Streaming<Ping>,
    server: tokio::task::JoinHandle<()>,
}

impl EchoLink {
    /// Starts the server and opens the stream.
    pub async fn open() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            let served = tonic::transport::Server::builder()
                .add_service(EchoServer::new(EchoService))
                .serve_with_incoming(edgeless_api::server::incoming(listener))
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "echo server failed");
            }
        });
        let channel = edgeless_api::client::stream_channel(&url)?;
        let mut client = EchoClient::new(channel);
        let (outbound, rx) = mpsc::channel(4096);
        let inbound = client
            .echo(ReceiverStream::new(rx))
            .await
            .map_err(|s| anyhow::anyhow!("echo stream refused: {}", s.message()))?
            .into_inner();
        Ok(Self {
            outbound,
            inbound,
            server,
        })
    }

    async fn send(&self, payload: &Bytes) -> anyhow::Result<()> {
        self.outbound
            .send(Ping {
                payload: payload.clone(),
            })
            .await
            .map_err(|_| anyhow::anyhow!("echo stream closed"))
    }

    async fn receive(&mut self) -> anyhow::Result<()> {
        match self.inbound.message().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => anyhow::bail!("echo stream ended"),
            Err(status) => anyhow::bail!("echo stream failed: {}", status.message()),
        }
    }

    /// Hops: `samples` round trips of `payload`, one at a time, halved.
    pub async fn hops(&mut self, payload: &Bytes, samples: usize) -> anyhow::Result<Latencies> {
        let round_trips = time_each!(samples, async {
            self.send(payload).await?;
            self.receive().await
        })
        .await?;
        Ok(round_trips.divided(2))
    }

    /// Messages echoed per second with `in_flight` of them on the way at
    /// all times, over `period`.
    pub async fn throughput(
        &mut self,
        payload: &Bytes,
        in_flight: usize,
        period: Duration,
    ) -> anyhow::Result<f64> {
        for _ in 0..in_flight {
            self.send(payload).await?;
        }
        let started = Instant::now();
        let mut echoed = 0u64;
        while started.elapsed() < period {
            self.receive().await?;
            echoed += 1;
            self.send(payload).await?;
        }
        let rate = echoed as f64 / started.elapsed().as_secs_f64();
        for _ in 0..in_flight {
            self.receive().await?;
        }
        Ok(rate)
    }
}

impl Drop for EchoLink {
    fn drop(&mut self) {
        self.server.abort();
    }
}
