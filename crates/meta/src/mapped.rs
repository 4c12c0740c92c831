//! Large reads of local object files through memory maps, so that their bytes go from the
//! page cache to the socket (or the Parquet decoder) without a copy into a fresh buffer.
//!
//! This module holds the project's one `unsafe` call. A map shows whatever the file holds
//! while it lives, and touching a page past a truncation faults (SIGBUS). Both are
//! impossible for Sluice's object files:
//! - a write goes to a temporary name, is synced, and is renamed into place (see
//!   `storage`): a visible object file is never written again, nor truncated;
//! - a deletion (garbage collection, an aborted upload) unlinks the name, and the inode
//!   stays whole until the last map of it is dropped;
//! - callers map only bytes below the length they read from the open file.
//!
//! Something outside Sluice that rewrites files under its data directory in place breaks
//! this, as it would break every reader.
#![allow(unsafe_code)]

use bytes::Bytes;
use memmap2::MmapOptions;

/// Reads at least this long are mapped; shorter ones are cheaper to copy than to map.
pub(crate) const MAP_MIN: u64 = 256 * 1024;

/// The bytes `start..start + len` of `file`, mapped and paged in. `start + len` must not
/// pass the file's length. Paging in may read from disk: run this on the blocking pool.
pub(crate) fn map_range(file: &std::fs::File, start: u64, len: usize) -> std::io::Result<Bytes> {
    // SAFETY: the file is an object file, immutable and never truncated while visible, and
    // the range lies inside it (the module's comment gives the whole argument).
    let map = unsafe {
        MmapOptions::new()
            .offset(start)
            .len(len)
            .populate()
            .map(file)?
    };
    Ok(Bytes::from_owner(map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A map at an offset that is not page-aligned reads the right bytes, and stays
    /// readable after the file is unlinked (as garbage collection does).
    #[test]
    fn mapped_ranges_read_the_file_and_outlive_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let bytes = map_range(&file, 12_345, 1_000_000).unwrap();
        assert_eq!(&bytes[..], &data[12_345..1_012_345]);
        let tail = map_range(&file, 2_999_000, 1_000).unwrap();
        std::fs::remove_file(&path).unwrap();
        drop(file);
        assert_eq!(&tail[..], &data[2_999_000..]);
        assert_eq!(&bytes.slice(10..20)[..], &data[12_355..12_365]);
    }
}
