//! The crate's error: one enum, with a coarse kind that the API maps to HTTP statuses.

use sluice_meta::ErrorKind;

/// Everything that can go wrong while reading a ref as a table or checking a merge.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The metadata engine refused or failed (a missing ref, a backend down).
    #[error(transparent)]
    Meta(#[from] sluice_meta::Error),
    /// The caller asked for something unusable (a bad prefix, an unknown key column).
    #[error("{0}")]
    Invalid(String),
    /// An action file under `_sluice_actions/` does not parse or names unknown settings.
    #[error("action file {path}: {message}")]
    ActionFile {
        /// The action file's path on the source ref.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A Parquet file could not be read where every file must be (duplicate detection).
    #[error("{path}: {message}")]
    File {
        /// The logical path of the file on its ref.
        path: String,
        /// What the reader said.
        message: String,
    },
    /// A Delta table's log could not be replayed, or the table needs something Sluice does not
    /// read yet (for the rows it asked for).
    #[error("Delta table {root:?}: {message}")]
    Delta {
        /// The table's folder.
        root: String,
        /// What the kernel said, or what is not supported.
        message: String,
    },
    /// DataFusion refused or failed a query.
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    /// Arrow failed to convert or hash rows.
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    /// A background task died.
    #[error("internal: {0}")]
    Internal(String),
}

/// Result alias for sluice-query.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;

impl QueryError {
    /// The coarse kind, shared with sluice-meta so that every layer maps errors in one place.
    pub fn kind(&self) -> ErrorKind {
        use datafusion::error::DataFusionError as D;
        match self {
            QueryError::Meta(e) => e.kind(),
            QueryError::Invalid(_) | QueryError::ActionFile { .. } | QueryError::Delta { .. } => {
                ErrorKind::Invalid
            }
            QueryError::File { .. } => ErrorKind::Corrupt,
            // DataFusion wraps errors in context; the root says what happened.
            QueryError::DataFusion(e) => match e.find_root() {
                D::SQL(..) | D::Plan(_) | D::SchemaError(..) => ErrorKind::Invalid,
                D::ObjectStore(e) if matches!(**e, object_store::Error::NotFound { .. }) => {
                    ErrorKind::NotFound
                }
                _ => ErrorKind::Internal,
            },
            QueryError::Arrow(_) | QueryError::Internal(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        QueryError::Invalid(message.into())
    }

    pub(crate) fn delta(root: &str, message: impl std::fmt::Display) -> Self {
        QueryError::Delta {
            root: root.to_string(),
            message: message.to_string(),
        }
    }

    pub(crate) fn file(path: &str, message: impl std::fmt::Display) -> Self {
        QueryError::File {
            path: path.to_string(),
            message: message.to_string(),
        }
    }
}
