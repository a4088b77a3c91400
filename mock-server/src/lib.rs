//! A faithful local fake of Unit21's file imports API.
//!
//! It serves the three Unit21 endpoints (`POST /v1/imports/pre-signed-url/create`,
//! `GET /v1/imports/{file_id}`, `POST /v1/imports/list`) and an S3-style form-POST endpoint that
//! checks the policy and signature, stores the upload on disk, reads it as CSV, JSON, JSONL or
//! Parquet, and moves the file through Unit21's lifecycle on a clock that tests control.
//!
//! # In a test
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = u21_mock::MockServer::start().await;
//! let response = reqwest::Client::new()
//!     .post(format!("{}/v1/imports/pre-signed-url/create", server.uri()))
//!     .header("u21-key", server.api_key())
//!     .json(&serde_json::json!({"stream_name": "txns", "file_name": "a.csv"}))
//!     .send()
//!     .await?;
//! assert_eq!(response.status(), 200);
//! # Ok(()) }
//! ```
//!
//! # Layout: one engine, thin adapters
//!
//! ```text
//!   server (MockServer, builder, accept loop)
//!     │                     │
//!     ▼                     ▼
//!   http ───────────────▶ engine ──▶ processing, lifecycle
//!   (routes, errors,      (state, locks, rules, persistence)
//!    journal layer)         │
//!     │                     ▼
//!     ▼                   clock, config, model, error
//!   s3 (form, verify, policy, sign, XML errors)
//! ```
//!
//! - `engine`: the one owner of the state, as parts that each own their lock (or need none),
//!   as mini-redis's `Db` does: `files` (imports, lifecycle, timing and streams under one
//!   lock; readings; export, import, load), `objects` (the upload directories and slots),
//!   `access` (keys and the rate limiter), `traffic` (the journal and faults), `settings`
//!   (read-only configuration), `persist` (the database every acknowledged change is
//!   committed to before it is answered). No part takes another's lock; what spans parts
//!   (reset, seed, files that arrive with bytes) is in `engine/mod.rs`, which takes none.
//! - `http`: thin adapters, one route one engine call, each handler taking the parts it uses
//!   (`State<Arc<Files>>`, …, through axum's `FromRef`): the Unit21 routes, S3's form POST, the
//!   control plane and its guard, the dashboard, OpenAPI, and the journal-and-faults layer;
//!   `http::support` holds the one Unit21 JSON error type.
//! - `s3`: S3's form POST as a protocol, with no state: fields, their verification (the
//!   signing scheme handed explicitly to the policy check), SigV2/SigV4, XML errors, framing
//!   bounds, the pre-signed form.
//! - `processing`: streaming CSV/JSON/JSONL/Parquet readers and stream schemas; `lifecycle`:
//!   when each timing profile moves a file on.
//! - [`server`](MockServer): [`MockServer`], its builder, the accept loop.
//! - [`clock`], [`config`], [`model`], [`Error`].

pub mod clock;
pub mod config;
mod engine;
mod error;
mod http;
mod lifecycle;
pub mod model;
mod processing;
pub mod ready;
mod s3;
mod server;
#[cfg(test)]
mod test_support;
mod tls;

pub use clock::Clock;
pub use config::{
    ColumnType, Config, Fidelity, KeyConfig, OffsetUnit, Permission, StreamConfig, Timing,
};
pub use engine::{Fault, FaultAction, JournalEntry, JournalQuery, StoredObject, Transition};
pub use error::Error;
pub use model::FailureCode;
pub use server::{ClockControl, Faults, Files, Journal, MockServer, MockServerBuilder};
pub use tls::TlsFiles;
