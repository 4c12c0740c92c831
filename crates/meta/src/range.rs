//! Ranges: sorted, immutable runs of entries named by the hash of their content, and the
//! content-defined chunker that cuts a sorted stream of entries into them.
//!
//! A range ends after an entry whose path hashes to a boundary, so the cut points depend on
//! the paths alone: a change rewrites the range it falls in (and at most its neighbour when
//! it adds or removes a boundary path), and every other range keeps its name. That is what
//! lets commit, diff and merge skip unchanged ranges.

use crate::encoding;
use crate::entry::PathEntry;
use crate::error::Result;
use crate::metarange::RangeInfo;

/// One entry in this many ends a range, on average (the default).
pub const DEFAULT_AVERAGE_ENTRIES: u64 = 512;
/// A range never holds more than this many times the average, whatever the hashes say.
const MAX_OVER_AVERAGE: u64 = 8;

/// FNV-1a: stable across versions and platforms, which a boundary rule must be.
fn path_hash(path: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in path.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(crate) fn encode_range(entries: &[PathEntry]) -> Vec<u8> {
    encoding::encode(&entries)
}

pub(crate) fn decode_range(bytes: &[u8]) -> Result<Vec<PathEntry>> {
    encoding::decode(bytes, "range")
}

/// A range the chunker finished: its description and its encoded bytes.
pub(crate) struct BuiltRange {
    pub info: RangeInfo,
    pub bytes: Vec<u8>,
}

/// Cuts a sorted stream of entries into ranges.
pub(crate) struct Chunker {
    average: u64,
    pending: Vec<PathEntry>,
    built: Vec<BuiltRange>,
}

impl Chunker {
    /// A chunker that ends a range after one entry in `average`, on average.
    pub fn new(average: u64) -> Self {
        Self {
            average: average.max(1),
            pending: Vec::new(),
            built: Vec::new(),
        }
    }

    /// True when no entry waits for a boundary: the next range of an old tree can be reused.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Add the next entry; paths must arrive in strictly increasing order.
    pub fn push(&mut self, entry: PathEntry) {
        debug_assert!(self.pending.last().is_none_or(|(p, _)| *p < entry.0));
        let boundary = path_hash(&entry.0).is_multiple_of(self.average);
        self.pending.push(entry);
        if boundary || self.pending.len() as u64 >= MAX_OVER_AVERAGE * self.average {
            self.cut();
        }
    }

    /// Ranges finished since the last call.
    pub fn take_built(&mut self) -> Vec<BuiltRange> {
        std::mem::take(&mut self.built)
    }

    /// Close the last range.
    pub fn finish(mut self) -> Vec<BuiltRange> {
        self.cut();
        self.built
    }

    fn cut(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let entries = std::mem::take(&mut self.pending);
        let bytes = encode_range(&entries);
        let info = RangeInfo {
            id: encoding::content_id(&bytes),
            min_key: entries[0].0.clone(),
            max_key: entries[entries.len() - 1].0.clone(),
            count: entries.len() as u64,
            size: entries.iter().map(|(_, e)| e.size).sum(),
        };
        self.built.push(BuiltRange { info, bytes });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;

    fn entries(n: usize) -> Vec<PathEntry> {
        (0..n)
            .map(|i| {
                (
                    format!("k/{i:08}"),
                    Entry::new(format!("a{i}"), i as u64, "e"),
                )
            })
            .collect()
    }

    #[test]
    fn cuts_are_content_defined() {
        let all = entries(20_000);
        let mut c = Chunker::new(DEFAULT_AVERAGE_ENTRIES);
        for e in all.clone() {
            c.push(e);
        }
        let ranges = c.finish();
        assert!(ranges.len() > 10, "{} ranges", ranges.len());
        let total: u64 = ranges.iter().map(|r| r.info.count).sum();
        assert_eq!(total, 20_000);
        assert!(
            ranges
                .iter()
                .all(|r| r.info.count <= MAX_OVER_AVERAGE * DEFAULT_AVERAGE_ENTRIES)
        );

        // Remove one entry in the middle: all but one or two ranges keep their ids.
        let mut fewer = all.clone();
        fewer.remove(10_000);
        let mut c = Chunker::new(DEFAULT_AVERAGE_ENTRIES);
        for e in fewer {
            c.push(e);
        }
        let other = c.finish();
        let ids: std::collections::HashSet<_> = ranges.iter().map(|r| &r.info.id).collect();
        let changed = other.iter().filter(|r| !ids.contains(&r.info.id)).count();
        assert!(changed <= 2, "{changed} ranges changed");
    }

    #[test]
    fn range_round_trip() {
        let e = entries(3);
        assert_eq!(decode_range(&encode_range(&e)).unwrap(), e);
    }
}
