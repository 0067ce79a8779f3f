//! The floor under every network hop: a bare TCP connection on loopback
//! echoing fixed-size messages, no framing, no HTTP/2 — on tokio tasks, and
//! on two plain blocking threads (no runtime between the socket and the
//! code, the lowest a hop costs on this machine).

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
    let round_trips = time_each!(samples, async {
        client.write_all(&message).await?;
        client.read_exact(&mut buffer).await?;
        anyhow::Ok(())
    })
    .await?;
    drop(client);
    server.await??;
    Ok(round_trips.divided(2))
}

/// [`hops`] between two blocking threads (`std::net`, `TCP_NODELAY`).
pub async fn blocking_hops(size: usize, samples: usize) -> anyhow::Result<Latencies> {
    tokio::task::spawn_blocking(move || blocking(size, samples)).await?
}

fn blocking(size: usize, samples: usize) -> anyhow::Result<Latencies> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut buffer = vec![0u8; size];
        while socket.read_exact(&mut buffer).is_ok() {
            socket.write_all(&buffer)?;
        }
        Ok(())
    });
    let mut client = std::net::TcpStream::connect(address)?;
    client.set_nodelay(true)?;
    let message = vec![7u8; size];
    let mut buffer = vec![0u8; size];
    let mut once = || -> std::io::Result<()> {
        client.write_all(&message)?;
        client.read_exact(&mut buffer)
    };
    // A tenth of the samples first, untimed (as `time_each` does).
    for _ in 0..samples / 10 {
        once()?;
    }
    let mut taken = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = std::time::Instant::now();
        once()?;
        taken.push(started.elapsed());
    }
    drop(client);
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the echo thread panicked"))??;
    let round_trips = Latencies::new(taken).ok_or_else(|| anyhow::anyhow!("no samples"))?;
    Ok(round_trips.divided(2))
}
