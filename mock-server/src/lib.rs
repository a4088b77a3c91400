//! A faithful local fake of Unit21's file imports API.
//!
//! It serves the three Unit21 endpoints (`POST /v1/imports/pre-signed-url/create`,
//! `GET /v1/imports/{file_id}`, `POST /v1/imports/list`) and an S3-style form-POST endpoint that
//! checks the policy and signature, stores the upload on disk, reads it as CSV, JSON or JSONL,
//! and moves the file through Unit21's lifecycle on a clock that tests control.
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
//! # Layout
//! - [`server`]: [`MockServer`], its builder, the router.
//! - `api`: the Unit21 JSON routes: errors, the key and rate-limit checks, body validation.
//! - `s3`: the form-POST endpoint: XML errors, SigV2/SigV4, the POST policy, streaming upload,
//!   and the pre-signed form the create route hands out.
//! - `store`: imports, the per-organisation list index, due lifecycle steps, objects.
//! - `lifecycle`: when each timing profile moves a file on.
//! - `processing`: streaming CSV/JSON/JSONL readers and stream schemas.
//! - `control`: the control plane: reset, seed, clock, forced transitions, ADDED files, streams,
//!   faults, the request journal, snapshots and `--data-dir` persistence; `openapi`.
//! - `dashboard`: the page at `/` (the part of Unit21's UI that shows imports) and the
//!   server-rendered fragments it loads from `/_mock/dashboard/`.
//! - [`clock`], [`config`], [`model`].

pub mod clock;
pub mod config;
mod control;
mod dashboard;
mod lifecycle;
pub mod model;
mod openapi;
mod processing;
mod server;
mod state;
mod store;

mod api;
mod s3;

pub use clock::Clock;
pub use config::{
    ColumnType, Config, Fidelity, KeyConfig, OffsetUnit, Permission, StreamConfig, Timing,
};
pub use control::{Fault, FaultAction, JournalEntry, JournalQuery};
pub use model::FailureCode;
pub use server::{MockServer, MockServerBuilder, StartError};
pub use store::{ControlError, StoredObject, Transition};
