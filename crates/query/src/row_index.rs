//! Row-hash indexes of immutable Parquet files, so that a duplicate check's cost follows the
//! change rather than the destination: for one file and one set of hashed columns, the
//! file's sorted 128-bit row hashes cut into [`BLOCKS`] blocks by their top bits, and a
//! binary fuse filter (16-bit fingerprints, about 2.3 bytes per row) of them in front.
//!
//! A small change probes each file's filter and reads only the blocks where a filter said
//! "maybe", to confirm; a change as large as the file reads the blocks whole. A file's
//! filter and blocks are stored in one write (`Engine::put_file_indexes`), so a reader
//! that finds the filter finds every block.

use sluice_meta::Engine;
use xorf::{BinaryFuse16, Filter};

use crate::error::Result;

/// Blocks per file, by the top bits of the hash.
pub const BLOCKS: usize = 64;
const BLOCK_SHIFT: u32 = 128 - BLOCKS.trailing_zeros();

/// Format bytes of the stored values.
const FILTER_FORMAT: u8 = 2;
const BLOCK_FORMAT: u8 = 1;

/// The block of a hash.
pub fn block_of(hash: u128) -> usize {
    (hash >> BLOCK_SHIFT) as usize
}

/// The key the filter looks up: the hash's low 64 bits (xxh3's bits are uniform).
fn filter_key(hash: u128) -> u64 {
    hash as u64
}

/// Which index serves these columns (the hash covers exactly them, in order).
pub fn kind(columns: &[String]) -> String {
    format!("rowhash-v2:{}", columns.join("\u{1f}"))
}

fn filter_kind(kind: &str) -> String {
    format!("{kind}:filter")
}

fn block_kind(kind: &str, block: usize) -> String {
    format!("{kind}:block:{block:02x}")
}

/// A file's filter: says "no" for hashes the file surely lacks.
pub struct RowFilter {
    filter: BinaryFuse16,
    /// Rows of the file it was built from.
    rows: u64,
    /// Its stored size.
    bytes: u64,
}

impl RowFilter {
    /// Whether the file may hold a row with this hash.
    pub fn may_contain(&self, hash: u128) -> bool {
        self.filter.contains(&filter_key(hash))
    }

    /// Bytes read to load it.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    fn encode(&self) -> Vec<u8> {
        let d = &self.filter.descriptor;
        let mut out = Vec::with_capacity(33 + self.filter.fingerprints.len() * 2);
        out.push(FILTER_FORMAT);
        out.extend_from_slice(&self.rows.to_le_bytes());
        out.extend_from_slice(&d.seed.to_le_bytes());
        out.extend_from_slice(&d.segment_length.to_le_bytes());
        out.extend_from_slice(&d.segment_length_mask.to_le_bytes());
        out.extend_from_slice(&d.segment_count_length.to_le_bytes());
        for f in self.filter.fingerprints.iter() {
            out.extend_from_slice(&f.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let (&FILTER_FORMAT, body) = bytes.split_first()? else {
            return None;
        };
        let u64_at = |at: usize| Some(u64::from_le_bytes(body.get(at..at + 8)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?));
        let rows = u64_at(0)?;
        let descriptor = xorf::Descriptor {
            seed: u64_at(8)?,
            segment_length: u32_at(16)?,
            segment_length_mask: u32_at(20)?,
            segment_count_length: u32_at(24)?,
        };
        let fingerprints = body.get(28..)?;
        if fingerprints.len() % 2 != 0 {
            return None;
        }
        let fingerprints: Box<[u16]> = fingerprints
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        // A filter whose fingerprints do not fill its segments would index out of bounds.
        let needed =
            descriptor.segment_count_length as usize + 2 * descriptor.segment_length as usize;
        if fingerprints.len() < needed {
            return None;
        }
        Some(Self {
            filter: BinaryFuse16 {
                descriptor,
                fingerprints,
            },
            rows,
            bytes: bytes.len() as u64,
        })
    }
}

fn encode_block(hashes: &[u128]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + hashes.len() * 16);
    out.push(BLOCK_FORMAT);
    for h in hashes {
        out.extend_from_slice(&h.to_le_bytes());
    }
    out
}

fn decode_block(bytes: &[u8]) -> Option<Vec<u128>> {
    let (&BLOCK_FORMAT, body) = bytes.split_first()? else {
        return None;
    };
    if body.len() % 16 != 0 {
        return None;
    }
    Some(
        body.chunks_exact(16)
            .map(|c| u128::from_le_bytes(c.try_into().expect("16 bytes")))
            .collect(),
    )
}

/// The stored values of a file's index: its filter and blocks, from its sorted hashes.
/// `None` when no filter can be built (no rows).
pub fn build(sorted: &[u128]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut keys: Vec<u64> = sorted.iter().map(|h| filter_key(*h)).collect();
    keys.sort_unstable();
    keys.dedup();
    let filter = BinaryFuse16::try_from(&keys).ok()?;
    let filter = RowFilter {
        filter,
        rows: sorted.len() as u64,
        bytes: 0,
    };
    let mut values = vec![(String::new(), filter.encode())];
    let mut from = 0;
    for block in 0..BLOCKS {
        let to = from + sorted[from..].partition_point(|h| block_of(*h) == block);
        values.push((block_kind("", block), encode_block(&sorted[from..to])));
        from = to;
    }
    Some(values)
}

/// Store `built` (from [`build`]) as the index `kind` of the object at `address`.
pub async fn store(
    engine: &Engine,
    repo: &str,
    address: &str,
    kind: &str,
    built: Vec<(String, Vec<u8>)>,
) -> Result<()> {
    let named: Vec<(String, Vec<u8>)> = built
        .into_iter()
        .map(|(suffix, bytes)| {
            let name = if suffix.is_empty() {
                filter_kind(kind)
            } else {
                format!("{kind}{suffix}")
            };
            (name, bytes)
        })
        .collect();
    engine.put_file_indexes(repo, address, &named).await?;
    Ok(())
}

/// The filter of the object at `address`, if its index was stored for a file of `rows` rows
/// (anything else is ignored, and the file decoded and indexed again).
pub async fn load_filter(
    engine: &Engine,
    repo: &str,
    address: &str,
    kind: &str,
    rows: u64,
) -> Result<Option<RowFilter>> {
    let bytes = engine.file_index(repo, address, &filter_kind(kind)).await?;
    Ok(bytes
        .as_deref()
        .and_then(RowFilter::decode)
        .filter(|f| f.rows == rows))
}

/// Whether the object at `address` has the index `kind` (its filter and blocks are stored
/// together).
pub async fn is_stored(engine: &Engine, repo: &str, address: &str, kind: &str) -> Result<bool> {
    Ok(engine
        .file_index(repo, address, &filter_kind(kind))
        .await?
        .is_some())
}

/// Block `block` of the index (sorted hashes), if stored.
pub async fn load_block(
    engine: &Engine,
    repo: &str,
    address: &str,
    kind: &str,
    block: usize,
) -> Result<Option<Vec<u128>>> {
    let bytes = engine
        .file_index(repo, address, &block_kind(kind, block))
        .await?;
    Ok(bytes.as_deref().and_then(decode_block))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` distinct well-spread hashes, disjoint for distinct `from` ranges.
    fn hashes(n: u128, from: u128) -> Vec<u128> {
        let mut h: Vec<u128> = (from..from + n)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .collect();
        h.sort_unstable();
        h
    }

    #[test]
    fn filters_and_blocks_round_trip() {
        let sorted = hashes(50_000, 0);
        let built = build(&sorted).expect("a filter");
        assert_eq!(built.len(), 1 + BLOCKS);
        let filter = RowFilter::decode(&built[0].1).expect("decodes");
        assert_eq!(filter.rows, 50_000);
        assert!(
            sorted.iter().all(|h| filter.may_contain(*h)),
            "no false negative"
        );
        let others = hashes(50_000, 1_000_000);
        let false_positives = others.iter().filter(|h| filter.may_contain(**h)).count();
        assert!(false_positives < 20, "{false_positives} false positives");
        let mut joined = Vec::new();
        for (b, (_, bytes)) in built[1..].iter().enumerate() {
            let block = decode_block(bytes).unwrap();
            assert!(block.iter().all(|h| block_of(*h) == b));
            joined.extend(block);
        }
        assert_eq!(joined, sorted);
        assert!(RowFilter::decode(&built[0].1[..40]).is_none(), "truncated");
    }

    #[test]
    fn repeated_rows_and_tiny_files_index_too() {
        let sorted = vec![7u128 << 100, 7u128 << 100, 7u128 << 100, 9u128 << 120];
        let built = build(&sorted).expect("a filter");
        let filter = RowFilter::decode(&built[0].1).expect("decodes");
        assert_eq!(filter.rows, 4);
        assert!(sorted.iter().all(|h| filter.may_contain(*h)));
    }
}
