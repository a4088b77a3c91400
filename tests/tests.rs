//! End-to-end tests that cross crates, one module per theme.

mod compose;
mod docs;
mod flows;
