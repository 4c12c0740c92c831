//! A [`Kv`] in front of another that counts the calls: each is one round trip to a
//! networked store, so tests and benchmarks can say what an operation costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{KeyValue, Kv, WriteBatch};
use crate::error::Result;

/// Calls made so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrips {
    /// `get` calls.
    pub gets: u64,
    /// `scan` calls.
    pub scans: u64,
    /// `write` calls.
    pub writes: u64,
}

impl RoundTrips {
    /// Every call.
    pub fn total(&self) -> u64 {
        self.gets + self.scans + self.writes
    }
}

impl std::ops::Sub for RoundTrips {
    type Output = RoundTrips;
    fn sub(self, earlier: RoundTrips) -> RoundTrips {
        RoundTrips {
            gets: self.gets - earlier.gets,
            scans: self.scans - earlier.scans,
            writes: self.writes - earlier.writes,
        }
    }
}

/// Counts the calls to the store behind it.
pub struct CountingKv {
    inner: Arc<dyn Kv>,
    gets: AtomicU64,
    scans: AtomicU64,
    writes: AtomicU64,
    /// Key and value bytes of every write asked for.
    bytes_written: AtomicU64,
}

impl CountingKv {
    /// Count the calls to `inner`.
    pub fn new(inner: Arc<dyn Kv>) -> Self {
        Self {
            inner,
            gets: AtomicU64::new(0),
            scans: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
        }
    }

    /// Key and value bytes of the writes asked for so far (what an operation sends to the
    /// store, before the store's own overhead).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written.load(Ordering::Relaxed)
    }

    /// The calls so far.
    pub fn round_trips(&self) -> RoundTrips {
        RoundTrips {
            gets: self.gets.load(Ordering::Relaxed),
            scans: self.scans.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

#[async_trait]
impl Kv for CountingKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key).await
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        self.scans.fetch_add(1, Ordering::Relaxed);
        self.inner.scan(start, end, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        let bytes: usize = batch
            .writes
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
            .sum();
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.inner.write(batch).await
    }

    /// One request, which sends the range's two bounds.
    async fn delete_range_step(&self, start: &[u8], end: &[u8], limit: usize) -> Result<usize> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add((start.len() + end.len()) as u64, Ordering::Relaxed);
        self.inner.delete_range_step(start, end, limit).await
    }
}
