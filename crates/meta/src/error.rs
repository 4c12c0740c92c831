//! The crate's one public error: a small `kind` that callers map to protocol codes, a message
//! for people, and an optional structured detail for the cases a client must act on.

use std::fmt;

/// What went wrong, coarsely: the S3, HTTP and CLI layers map each kind in one match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A repository, branch, tag, commit, object or upload does not exist.
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// The request conflicts with the current state (merge conflicts, a concurrent update).
    Conflict,
    /// The request is malformed: a bad name, an unusable argument.
    Invalid,
    /// A precondition of the request does not hold (a refused merge, a failed compare-and-swap).
    PreconditionFailed,
    /// The request is not allowed (a direct write to a protected branch).
    Forbidden,
    /// A backend (metadata store or object store) cannot be reached or refused the operation.
    Unavailable,
    /// Stored data failed to decode or is inconsistent.
    Corrupt,
    /// A bug or an unexpected failure.
    Internal,
}

/// Structured detail that some errors carry for clients.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorDetail {
    /// The paths a merge or revert could not reconcile.
    Conflicts(Vec<String>),
    /// A pre-merge check refused the merge; the report says why.
    MergeRefused(serde_json::Value),
}

/// The error of every sluice-meta operation.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    detail: Option<ErrorDetail>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Result alias for sluice-meta.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            detail: None,
            source: None,
        }
    }

    /// Attach the underlying cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attach structured detail.
    pub fn with_detail(mut self, detail: ErrorDetail) -> Self {
        self.detail = Some(detail);
        self
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Structured detail, if any.
    pub fn detail(&self) -> Option<&ErrorDetail> {
        self.detail.as_ref()
    }

    pub(crate) fn not_found(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} not found"))
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub(crate) fn already_exists(what: impl fmt::Display) -> Self {
        Self::new(ErrorKind::AlreadyExists, format!("{what} already exists"))
    }
    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

impl From<object_store::Error> for Error {
    fn from(e: object_store::Error) -> Self {
        let kind = match &e {
            object_store::Error::NotFound { .. } => ErrorKind::NotFound,
            object_store::Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            object_store::Error::Precondition { .. } => ErrorKind::PreconditionFailed,
            object_store::Error::InvalidPath { .. } => ErrorKind::Invalid,
            _ => ErrorKind::Unavailable,
        };
        Error::new(kind, "object store").with_source(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::unavailable("i/o").with_source(e)
    }
}

/// A server's refusal is a bug or a misconfiguration; anything else (no connection, a
/// connection lost) means the database cannot be reached now.
impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.code() {
            Some(_) => Error::internal("PostgreSQL").with_source(e),
            None => Error::unavailable("PostgreSQL").with_source(e),
        }
    }
}
