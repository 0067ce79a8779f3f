//! The floor under every network hop: a bare TCP connection on loopback
//! echoing fixed-size messages, no framing, no HTTP/2.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::stats::{Latencies, time_each};

/// Hops: `samples` round trips of `size`-byte messages over a fresh
/// connection, halved.
pub async fn hops(size: usize, samples: usize) -> anyhow::Result<Latencies> {
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
    let round_trips = time_each(samples, async || {
        client.write_all(&message).await?;
        client.read_exact(&mut buffer).await?;
        Ok(())
    })
    .await?;
    drop(client);
    server.await??;
    Ok(round_trips.divided(2))
}
