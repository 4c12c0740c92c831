//! The typed HTTP layer shared by the REST API ([`crate::rest`]), the `sluice` CLI and the
//! web UI: the request and response bodies ([`types`]). Their JSON field names are contracts
//! with lakeFS clients; a test checks them against the OpenAPI document.

pub mod types;

pub use types::*;
