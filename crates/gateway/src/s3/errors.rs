//! Engine errors as S3 errors: one exhaustive match on the engine's error kind, with the
//! resource the request was about deciding which "not found" S3 means.

use s3s::{S3Error, S3ErrorCode};
use sluice_meta::{Error, ErrorKind};

/// What a request was about, for "not found" and "already exists".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// A repository (bucket) or a ref in it.
    Bucket,
    /// An object.
    Object,
    /// A multipart upload.
    Upload,
}

pub(crate) fn s3_error(e: Error, resource: Resource) -> S3Error {
    let code = match (e.kind(), resource) {
        (ErrorKind::NotFound, Resource::Bucket) => S3ErrorCode::NoSuchBucket,
        (ErrorKind::NotFound, Resource::Object) => S3ErrorCode::NoSuchKey,
        (ErrorKind::NotFound, Resource::Upload) => S3ErrorCode::NoSuchUpload,
        (ErrorKind::AlreadyExists, Resource::Bucket) => S3ErrorCode::BucketAlreadyOwnedByYou,
        (ErrorKind::AlreadyExists, _) => S3ErrorCode::PreconditionFailed,
        (ErrorKind::Conflict, _) => S3ErrorCode::OperationAborted,
        (ErrorKind::Invalid, _) => S3ErrorCode::InvalidArgument,
        (ErrorKind::PreconditionFailed, _) => S3ErrorCode::PreconditionFailed,
        (ErrorKind::Forbidden, _) => S3ErrorCode::AccessDenied,
        (ErrorKind::Unavailable, _) => S3ErrorCode::ServiceUnavailable,
        (ErrorKind::Corrupt, _) | (ErrorKind::Internal, _) => S3ErrorCode::InternalError,
    };
    if matches!(e.kind(), ErrorKind::Corrupt | ErrorKind::Internal) {
        tracing::error!(error = %e, "internal failure");
    }
    S3Error::with_message(code, e.to_string())
}

/// A shorthand for `map_err` at call sites.
pub(crate) fn on(resource: Resource) -> impl Fn(Error) -> S3Error {
    move |e| s3_error(e, resource)
}
