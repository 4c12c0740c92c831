//! Staging areas: a branch's uncommitted writes and tombstones, stored in the KV under a
//! staging token. A branch has one open token, plus sealed tokens while a commit of them is
//! under way; a read sees the open token first, then the sealed ones, then the tree.

use std::collections::VecDeque;

use crate::encoding;
use crate::entry::Entry;
use crate::error::Result;
use crate::keys;
use crate::kv::{Kv, prefix_end};

/// What a staging area holds for a path: a new entry, or `None` for a deletion.
pub(crate) type StagedValue = Option<Entry>;

pub(crate) fn encode_staged(value: &StagedValue) -> Vec<u8> {
    encoding::encode(value)
}

pub(crate) fn decode_staged(bytes: &[u8]) -> Result<StagedValue> {
    encoding::decode(bytes, "staged entry")
}

/// A new, unique staging token.
pub(crate) fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A forward cursor over one staging area, read from the KV in growing pages.
pub(crate) struct StagingCursor<'a> {
    kv: &'a dyn Kv,
    prefix: Vec<u8>,
    end: Vec<u8>,
    next_start: Vec<u8>,
    buffer: VecDeque<(String, StagedValue)>,
    exhausted: bool,
    page: usize,
}

impl<'a> StagingCursor<'a> {
    pub fn new(kv: &'a dyn Kv, repo: &str, token: &str) -> Self {
        let prefix = keys::staging_prefix(repo, token);
        Self {
            kv,
            end: prefix_end(&prefix),
            next_start: prefix.clone(),
            prefix,
            buffer: VecDeque::new(),
            exhausted: false,
            page: 64,
        }
    }

    pub async fn fill(&mut self) -> Result<()> {
        if !self.buffer.is_empty() || self.exhausted {
            return Ok(());
        }
        let rows = self.kv.scan(&self.next_start, &self.end, self.page).await?;
        self.exhausted = rows.len() < self.page;
        self.page = (self.page * 2).min(4096);
        if let Some((k, _)) = rows.last() {
            self.next_start = k.clone();
            self.next_start.push(0);
        }
        for (k, v) in rows {
            let path = String::from_utf8(k[self.prefix.len()..].to_vec())
                .map_err(|_| crate::error::Error::corrupt("staged path is not UTF-8"))?;
            self.buffer.push_back((path, decode_staged(&v)?));
        }
        Ok(())
    }

    pub fn current(&self) -> Option<&(String, StagedValue)> {
        self.buffer.front()
    }

    pub fn advance(&mut self) {
        self.buffer.pop_front();
    }

    /// Move forward to the first path `>= key`.
    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        while self.buffer.front().is_some_and(|(p, _)| p.as_bytes() < key) {
            self.buffer.pop_front();
        }
        if self.buffer.is_empty() {
            let mut start = self.prefix.clone();
            start.extend_from_slice(key);
            if start > self.next_start {
                self.next_start = start;
                self.exhausted = false;
                self.page = 64;
            }
        }
        self.fill().await
    }
}
