//! Benchmarks for `u21-mock`; the soak is a library function so an ordinary test can run a
//! small version of it.

pub mod soak;
