//! The reference client for Unit21's file imports API.
//!
//! Not written yet (issue #4): this crate holds its place in the workspace so that the layout
//! shows the architecture. Until then, `u21_mock::MockServer` and any HTTP client will do.
