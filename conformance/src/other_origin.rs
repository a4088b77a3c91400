//! A second listener of the kit's own, at another origin than the API: a scenario redirects a
//! client here and sees whether its key followed. It answers every request with one decoy
//! JSON body, so a client that takes another origin's answer as Unit21's is seen too.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::Json;
use parking_lot::Mutex;
use serde_json::Value;

/// At most this many requests are recorded (a client in a redirect loop cannot grow it).
const MAX_RECORDED: usize = 64;

/// One request that reached the other origin.
#[derive(Clone, Debug)]
pub struct Arrived {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Whether it carried a `u21-key` header.
    pub had_key_header: bool,
    /// Whether any header value held the key itself.
    pub had_key: bool,
}

struct Shared {
    key: String,
    answer: Value,
    arrived: Mutex<Vec<Arrived>>,
}

/// The listener; it stops when dropped.
pub struct OtherOrigin {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl OtherOrigin {
    /// Listens on a free loopback port; answers 200 with `answer` to anything, and records
    /// whether `key` arrived.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start(key: &str, answer: Value) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            answer,
            arrived: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(record)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, shared, task })
    }

    /// What arrived so far, oldest first.
    pub fn arrived(&self) -> Vec<Arrived> {
        self.shared.arrived.lock().clone()
    }
}

impl Drop for OtherOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(State(shared): State<Arc<Shared>>, request: Request) -> Json<Value> {
    let headers = request.headers();
    let arrived = Arrived {
        method: request.method().to_string(),
        path: request
            .uri()
            .path_and_query()
            .map_or_else(String::new, |p| p.to_string()),
        had_key_header: headers.contains_key("u21-key"),
        had_key: !shared.key.is_empty()
            && headers
                .values()
                .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(&shared.key)),
    };
    let mut recorded = shared.arrived.lock();
    if recorded.len() < MAX_RECORDED {
        recorded.push(arrived);
    }
    drop(recorded);
    Json(shared.answer.clone())
}
