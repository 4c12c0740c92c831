//! # sluice-query
//!
//! DataFusion over a Sluice ref: row counts from Parquet footers, verification, duplicate
//! detection and the pre-merge checks. Not built yet: this crate is a placeholder so that
//! the workspace has its final shape.
