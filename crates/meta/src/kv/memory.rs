//! An in-memory [`Kv`], for tests and for the reference model. Not durable.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{KeyValue, Kv, WriteBatch, precondition_failed};
use crate::error::Result;

/// A [`Kv`] held in a `BTreeMap` behind a mutex.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Kv for MemoryKv {
    async fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.lock().expect("kv lock").get(key).cloned())
    }

    async fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if start >= end {
            return Ok(Vec::new());
        }
        let map = self.map.lock().expect("kv lock");
        Ok(map
            .range(start.to_vec()..end.to_vec())
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    async fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut map = self.map.lock().expect("kv lock");
        for (key, expected) in &batch.conditions {
            if map.get(key) != expected.as_ref() {
                return Err(precondition_failed());
            }
        }
        for (key, value) in batch.writes {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }
}
