//! A [`Kv`] in front of another that fails on command, for fault tests: the `n`-th write
//! from now fails, either before it applies (a refused write: nothing of it happened) or
//! after (a lost acknowledgement: it happened, the caller hears it did not). Every write of
//! an operation is a fault point; a test walks them all (`crates/meta/tests/faults.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use super::{KeyValue, Kv, WriteBatch};
use crate::error::{Error, Result};

/// When an injected failure strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultMode {
    /// The write fails before it applies.
    BeforeApply,
    /// The write applies, then the caller gets an error.
    AfterApply,
}

/// The store.
pub struct FaultyKv {
    inner: Arc<dyn Kv>,
    writes: AtomicU64,
    /// The write number that fails (`u64::MAX`: none).
    fail_at: AtomicU64,
    mode: std::sync::Mutex<FaultMode>,
}

impl std::fmt::Debug for FaultyKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyKv")
            .field("writes", &self.writes.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

impl FaultyKv {
    /// A working store in front of `inner`.
    pub fn new(inner: Arc<dyn Kv>) -> Self {
        Self {
            inner,
            writes: AtomicU64::new(0),
            fail_at: AtomicU64::new(u64::MAX),
            mode: std::sync::Mutex::new(FaultMode::BeforeApply),
        }
    }

    /// Writes so far.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::SeqCst)
    }

    /// Fail the write `n` writes from now (0: the next one), in `mode`.
    pub fn fail_in(&self, n: u64, mode: FaultMode) {
        *self.mode.lock().expect("mode lock") = mode;
        self.fail_at.store(self.writes() + n, Ordering::SeqCst);
    }

    /// Fail nothing more.
    pub fn heal(&self) {
        self.fail_at.store(u64::MAX, Ordering::SeqCst);
    }
}

#[async_trait]
impl Kv for FaultyKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key).await
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        self.inner.scan(start, end, limit).await
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        if n != self.fail_at.load(Ordering::SeqCst) {
            return self.inner.write(batch).await;
        }
        let injected = || Error::unavailable(format!("injected fault at write {n}"));
        let mode = *self.mode.lock().expect("mode lock");
        match mode {
            FaultMode::BeforeApply => Err(injected()),
            FaultMode::AfterApply => {
                self.inner.write(batch).await?;
                Err(injected())
            }
        }
    }
}
