//! # sluice-gateway
//!
//! The sidecar: S3 API, REST API under `/api/v1` and the web UI on one hyper server.
//! Not built yet: this crate is a placeholder so that the workspace has its final shape.
