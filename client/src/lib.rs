//! The reference client for Unit21's file imports API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), u21_client::Error> {
//! use u21_client::{Client, WaitOptions};
//!
//! let client = Client::builder().base_url("sandbox1").api_key("…").build()?;
//! let form = client.upload_file("transactions", "txns.csv".as_ref(), None).await?;
//! let file = client.wait(&form.file_id, &WaitOptions::default()).await?;
//! println!("{}: {} records, {} failed", file.status, file.successful_count, file.failure_count);
//! # Ok(()) }
//! ```
//!
//! Uploads stream from disk and are retried on S3's 5xx and on connection errors, never after
//! S3 accepted them. Reads are retried on 429 (honouring `Retry-After` or `X-RateLimit-Reset`),
//! 5xx and connection errors; create only when the server surely did nothing (429, 503, no
//! connection). Errors have predicates ([`Error::is_unauthorized`], [`Error::is_rate_limited`],
//! …) and never contain the API key.
//!
//! # Layout
//! - `client`: [`Client`], its builder, the operations.
//! - `model`: the API's types; `environment`: Unit21's hosts; `retry`: the backoff policy;
//!   `error`: [`Error`].

mod client;
mod environment;
mod error;
mod model;
mod retry;

pub use client::{Client, ClientBuilder, OffsetUnit, Progress, WaitOptions};
pub use environment::{resolve_base_url, Environment};
pub use error::{Error, Result};
pub use model::{Datafile, DatafileList, ListRequest, PresignedUpload, Status};
pub use retry::RetryPolicy;
