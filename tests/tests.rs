//! End-to-end tests that cross crates, one module per theme.

mod docs;
mod flows;
