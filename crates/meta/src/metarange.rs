//! Metaranges: the ordered list of ranges that makes up one tree, named by its content hash.

use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::error::Result;

/// One range of a tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeInfo {
    /// Content hash of the encoded range.
    pub id: String,
    /// First path in the range.
    pub min_key: String,
    /// Last path in the range.
    pub max_key: String,
    /// Number of entries.
    pub count: u64,
    /// Sum of the entries' object sizes.
    pub size: u64,
}

/// A tree: ranges in path order, none overlapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRange {
    /// The ranges, sorted by path.
    pub ranges: Vec<RangeInfo>,
}

impl MetaRange {
    pub(crate) fn encode_with_id(&self) -> (String, Vec<u8>) {
        let bytes = encoding::encode(self);
        (encoding::content_id(&bytes), bytes)
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        encoding::decode(bytes, "metarange")
    }

    /// Number of entries in the tree.
    pub fn count(&self) -> u64 {
        self.ranges.iter().map(|r| r.count).sum()
    }

    /// Index of the first range that may hold `key` or a later path.
    pub(crate) fn range_index_for(&self, key: &[u8]) -> usize {
        self.ranges.partition_point(|r| r.max_key.as_bytes() < key)
    }
}
