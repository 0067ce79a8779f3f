//! A TCP proxy on loopback in front of a node's dataplane, for fault tests:
//! it can cut the link silently (a partition: bytes are held, nothing is
//! refused) and slow it down (a slow peer).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
struct State {
    cut: AtomicBool,
    delay_ms: AtomicU64,
    /// Chunks of bytes that were held back by a delay.
    delayed: AtomicU64,
    /// Chunks of bytes forwarded in all.
    forwarded: AtomicU64,
}

/// The proxy; it runs until the test process ends.
pub struct LinkProxy {
    state: Arc<State>,
    port: u16,
    target: tokio::sync::watch::Sender<Option<String>>,
}

impl LinkProxy {
    /// Listens on a loopback port of the system's choice (see
    /// [`LinkProxy::port`]); connections wait until [`LinkProxy::forward_to`]
    /// names the target.
    pub fn bind() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let port = listener.local_addr().expect("a bound address").port();
        let state = Arc::new(State::default());
        let shared = state.clone();
        let (target, targets) = tokio::sync::watch::channel(None::<String>);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("a tokio listener");
                while let Ok((inbound, _)) = listener.accept().await {
                    let (state, mut targets) = (shared.clone(), targets.clone());
                    tokio::spawn(async move {
                        let target = match targets.wait_for(Option::is_some).await {
                            Ok(target) => target.clone().expect("waited for a target"),
                            Err(_) => return,
                        };
                        if let Ok(outbound) = TcpStream::connect(&target).await {
                            let _ = inbound.set_nodelay(true);
                            let _ = outbound.set_nodelay(true);
                            let (a_read, a_write) = inbound.into_split();
                            let (b_read, b_write) = outbound.into_split();
                            tokio::join!(
                                pump(a_read, b_write, state.clone()),
                                pump(b_read, a_write, state)
                            );
                        }
                    });
                }
            });
        });
        Self {
            state,
            port,
            target,
        }
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Forwards connections to `target` (`host:port`) from now on.
    pub fn forward_to(&self, target: &str) {
        self.target.send_replace(Some(target.to_string()));
    }

    /// How many chunks of bytes were held back by [`LinkProxy::slow`] so far.
    pub fn delayed_chunks(&self) -> u64 {
        self.state.delayed.load(Ordering::SeqCst)
    }

    /// How many chunks of bytes went through so far.
    pub fn forwarded_chunks(&self) -> u64 {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Holds every byte from now on, in both directions (a partition).
    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
    }

    /// Lets bytes through again.
    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }

    /// Delays every chunk of bytes by `delay` (zero: no delay).
    pub fn slow(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    state: Arc<State>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while state.cut.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            state.delayed.fetch_add(1, Ordering::SeqCst);
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
        state.forwarded.fetch_add(1, Ordering::SeqCst);
    }
}
