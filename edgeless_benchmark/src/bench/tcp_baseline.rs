//! The floor under every network hop: a bare TCP connection on loopback
//! echoing fixed-size messages, no framing, no HTTP/2.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::stats::Latencies;

/// `samples` round trips of `size`-byte messages over a fresh connection.
pub async fn round_trips(size: usize, samples: usize) -> anyhow::Result<Latencies> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let mut buffer = vec![0u8; size];
        while socket.read_exact(&mut buffer).await.is_ok() {
            socket.write_all(&buffer).await?;
        }
        anyhow::Ok(())
    });
    let mut client = TcpStream::connect(address).await?;
    client.set_nodelay(true)?;
    let message = vec![7u8; size];
    let mut buffer = vec![0u8; size];
    let mut taken = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        client.write_all(&message).await?;
        client.read_exact(&mut buffer).await?;
        taken.push(started.elapsed());
    }
    drop(client);
    server.await??;
    Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no samples"))
}
