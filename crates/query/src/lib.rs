//! # sluice-query
//!
//! Reads a ref of a Sluice repository as a table and checks what a merge would bring:
//! row counts from Parquet footers ([`count`]), verification by decoding, duplicate
//! detection whose cost follows the change ([`duplicates`]), comparisons of two refs
//! ([`compare`]), ad-hoc SQL on DataFusion ([`sql`]), and the pre-merge quality gate that
//! runs the action files under `_sluice_actions/` ([`gate`]).

pub mod actions;
pub mod compare;
pub mod count;
pub mod delta;
pub mod duplicates;
pub mod error;
pub mod files;
pub mod gate;
pub mod parquet_file;
pub mod ref_store;
pub mod row_diff;
pub mod row_index;
pub mod rowhash;
pub mod sql;
pub mod stats;

pub use compare::{CompareOptions, CompareReport, compare};
pub use count::{CountReport, count};
pub use duplicates::{DuplicateOptions, DuplicateReport};
pub use error::{QueryError, Result};
pub use gate::QualityGate;
pub use ref_store::RefStore;
pub use row_diff::{RowDiff, RowDiffOptions, row_diff};
pub use sql::{SqlResult, run_sql, run_sql_in};
