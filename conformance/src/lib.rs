//! Conformance scenarios that check a client of Unit21's file imports API, and the server it
//! talks to, against the documented behaviour.
//!
//! Not written yet (issue #6): this crate holds its place in the workspace. The decided points
//! it will settle against the real sandbox are listed in the repository's `FIDELITY.md`.
