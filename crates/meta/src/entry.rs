//! An entry: what a logical path points at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A logical path's metadata and the physical object holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Key of the immutable physical object inside the repository's storage namespace.
    pub address: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes: hex MD5 of the content, or S3's multipart form `md5-N`.
    pub etag: String,
    /// Last modification, milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
    /// MIME type, when known.
    pub content_type: Option<String>,
    /// User metadata (S3 `x-amz-meta-*`, lakeFS user metadata), sorted for a stable hash.
    pub metadata: BTreeMap<String, String>,
    /// Checksums verified at upload, by algorithm (`crc32`, `crc32c`, `crc64nvme`, `sha1`,
    /// `sha256`), base64 as S3 gives them.
    pub checksums: BTreeMap<String, String>,
}

impl Entry {
    /// An entry for `address` with the given size and ETag, and nothing else set.
    pub fn new(address: impl Into<String>, size: u64, etag: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            size,
            etag: etag.into(),
            last_modified_ms: 0,
            content_type: None,
            metadata: BTreeMap::new(),
            checksums: BTreeMap::new(),
        }
    }
}

/// A path and its entry.
pub type PathEntry = (String, Entry);
