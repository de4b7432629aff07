//! The ceiling: the least an HTTP/2 server on this stack can do per request.
//! `hello-ceiling [ADDR]` answers GET and POST on every path with a short JSON body.

use axum::{routing::any, Router};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8089".to_string());
    let app = Router::new().fallback(any(|| async { r#"{"hello":"world"}"# }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "hello-ceiling listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await
}
