//! The metadata key-value store: a narrow core trait (get, scan, conditional batch write) that
//! every backend implements, and [`KvExt`] with the conveniences built on it.
//!
//! Correctness of branch-head moves rests on the conditions of [`WriteBatch`], never on an
//! in-process lock, so that several sidecars can share one store.

pub mod conformance;
pub mod counting;
pub mod embedded;
pub mod faulty;
pub mod memory;
pub mod postgres;

use async_trait::async_trait;

use crate::error::{Error, ErrorKind, Result};

/// A key and its value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An atomic group of writes, applied only when every condition holds.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// `(key, expected)`: the key must currently hold exactly `expected` (`None`: be absent).
    pub conditions: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    /// `(key, value)`: set the key, or delete it when `value` is `None`.
    pub writes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Require `key` to hold `expected` (`None`: absent) when the batch applies.
    pub fn require(&mut self, key: impl Into<Vec<u8>>, expected: Option<Vec<u8>>) -> &mut Self {
        self.conditions.push((key.into(), expected));
        self
    }
    /// Set `key` to `value`.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> &mut Self {
        self.writes.push((key.into(), Some(value.into())));
        self
    }
    /// Delete `key`.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) -> &mut Self {
        self.writes.push((key.into(), None));
        self
    }
    /// True when the batch writes nothing and checks nothing.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.writes.is_empty()
    }
}

/// The core of a metadata store. Keys and values are bytes; keys sort bytewise.
#[async_trait]
pub trait Kv: Send + Sync + 'static {
    /// The value of `key`.
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Up to `limit` pairs with `start <= key < end`, in ascending key order.
    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>>;

    /// Apply `batch` atomically and durably: when this returns `Ok`, the writes survive a crash.
    /// Fails with [`ErrorKind::PreconditionFailed`] (and writes nothing) when a condition
    /// does not hold.
    async fn write(&self, batch: WriteBatch) -> Result<()>;

    /// Delete the first `limit` keys with `start <= key < end` (all of them when there are
    /// fewer), atomically and durably. Returns how many it deleted. This reads the keys and
    /// deletes them by key; a backend that can drop a key range in place overrides it.
    async fn delete_range_step(&self, start: &[u8], end: &[u8], limit: usize) -> Result<usize> {
        let batch = self.scan(start, end, limit).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let mut w = WriteBatch::new();
        for (k, _) in &batch {
            w.delete(k.clone());
        }
        self.write(w).await?;
        Ok(batch.len())
    }
}

/// The end of the key range that holds every key starting with `prefix`.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): no finite bound; the largest key we ever write is far below this.
    vec![0xff; prefix.len() + 1]
}

/// Conveniences over [`Kv`].
#[async_trait]
pub trait KvExt: Kv {
    /// Set one key unconditionally.
    async fn put(&self, key: &[u8], value: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b).await
    }

    /// Delete one key unconditionally.
    async fn delete(&self, key: &[u8]) -> Result<()> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b).await
    }

    /// Set `key` to `new` when it holds `expected`; `Ok(false)` when it does not.
    async fn compare_and_swap(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool> {
        let mut b = WriteBatch::new();
        b.require(key, expected.map(<[u8]>::to_vec));
        b.writes.push((key.to_vec(), new.map(<[u8]>::to_vec)));
        match self.write(b).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every pair under `prefix`, read in pages of `page` keys.
    async fn scan_prefix(&self, prefix: &[u8], page: usize) -> Result<Vec<KeyValue>> {
        let end = prefix_end(prefix);
        let mut start = prefix.to_vec();
        let mut out = Vec::new();
        loop {
            let batch = self.scan(&start, &end, page).await?;
            let full = batch.len() == page;
            if let Some((k, _)) = batch.last() {
                start = k.clone();
                start.push(0);
            }
            out.extend(batch);
            if !full {
                return Ok(out);
            }
        }
    }

    /// Delete every key with `start <= key < end`, in steps of at most `step` keys, each
    /// atomic and durable (the whole is not). Returns how many keys were deleted.
    async fn delete_range(&self, start: &[u8], end: &[u8], step: usize) -> Result<usize> {
        if start >= end {
            return Ok(0);
        }
        let step = step.max(1);
        let mut deleted = 0;
        loop {
            let n = self.delete_range_step(start, end, step).await?;
            deleted += n;
            if n < step {
                return Ok(deleted);
            }
        }
    }

    /// Delete every key under `prefix`, in batches of `page` keys. Not atomic as a whole.
    async fn delete_prefix(&self, prefix: &[u8], page: usize) -> Result<usize> {
        self.delete_range(prefix, &prefix_end(prefix), page).await
    }
}

impl<T: Kv + ?Sized> KvExt for T {}

pub(crate) fn precondition_failed() -> Error {
    Error::new(
        ErrorKind::PreconditionFailed,
        "a condition of the write did not hold",
    )
}
