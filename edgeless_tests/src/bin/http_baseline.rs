//! A plain HTTP server answering `World` to every request: the baseline the
//! HTTP ingress path (ingress → function → response) is measured against.
//!
//! `http_baseline [PORT]` (default 0: a free port the system chooses); the
//! address it listens on is printed on the first line of stdout.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("http://{}", listener.local_addr()?);
    let router = axum::Router::new().fallback(|| async { "World" });
    axum::serve(listener, router).await
}
