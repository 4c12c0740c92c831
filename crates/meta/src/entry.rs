//! An entry: what a logical path points at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One physical piece of an object assembled from several (a completed multipart upload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSpan {
    /// Key of the piece's physical object.
    pub address: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A logical path's metadata and the physical object holding its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Key of the immutable physical object inside the repository's storage namespace;
    /// empty when the object is made of `parts`.
    pub address: String,
    /// The physical pieces, in order, of an object completed from a multipart upload: its
    /// bytes are their concatenation, so completion moves no bytes (as in S3). Empty for an
    /// object written whole.
    pub parts: Vec<PartSpan>,
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
            parts: Vec::new(),
            size,
            etag: etag.into(),
            last_modified_ms: 0,
            content_type: None,
            metadata: BTreeMap::new(),
            checksums: BTreeMap::new(),
        }
    }
}

impl Entry {
    /// Every physical object this entry reaches.
    pub fn addresses(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.address.as_str())
            .filter(|a| !a.is_empty())
            .chain(self.parts.iter().map(|p| p.address.as_str()))
    }

    /// Where each physical piece's bytes sit in the object: `(address, start, end)`.
    pub fn spans(&self) -> Vec<(&str, u64, u64)> {
        if self.parts.is_empty() {
            return vec![(self.address.as_str(), 0, self.size)];
        }
        let mut at = 0;
        self.parts
            .iter()
            .map(|p| {
                let span = (p.address.as_str(), at, at + p.size);
                at += p.size;
                span
            })
            .collect()
    }
}

/// A path and its entry.
pub type PathEntry = (String, Entry);
