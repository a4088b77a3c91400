//! The mock server's integration tests, in one test binary (one link, one run): each module
//! drives a real fake over sockets, in-process or as the `u21-mock` binary. The HTTP tables
//! that need no socket run on the router itself, in `src/http/tests.rs`.

mod common;

mod binary_curl_flow;
mod control;
mod dashboard;
mod handle;
mod layout;
mod lifecycle;
mod persistence;
mod s3_fuzz;
mod s3_rules;
mod s3_upload;
mod sdk_boto3;
mod tls;
mod unit21_api;
mod wrapper_contract;
