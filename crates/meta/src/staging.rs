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

    /// Take the current change, stepping past it.
    pub fn take(&mut self) -> Option<(String, StagedValue)> {
        self.buffer.pop_front()
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

/// Several staging areas read as one, in path order. Where more than one holds a path, the
/// first token's change wins (tokens come newest first). It reads the KV a page at a time,
/// so a commit of millions of staged changes never holds them all.
pub(crate) struct MergedStaging<'a> {
    cursors: Vec<StagingCursor<'a>>,
}

impl<'a> MergedStaging<'a> {
    pub fn new(kv: &'a dyn Kv, repo: &str, tokens: &[String]) -> Self {
        Self {
            cursors: tokens
                .iter()
                .map(|t| StagingCursor::new(kv, repo, t))
                .collect(),
        }
    }

    /// Move forward to the first path `>= key`.
    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        for c in &mut self.cursors {
            c.seek(key).await?;
        }
        Ok(())
    }

    /// The smallest staged path, read from the KV if need be.
    pub async fn peek(&mut self) -> Result<Option<&str>> {
        for c in &mut self.cursors {
            c.fill().await?;
        }
        Ok(self
            .cursors
            .iter()
            .filter_map(|c| c.current().map(|(p, _)| p.as_str()))
            .min())
    }

    /// The next change in path order; call after [`peek`](Self::peek) filled the cursors.
    pub fn take(&mut self) -> Option<(String, StagedValue)> {
        // The first cursor at the smallest path holds the newest change there.
        let mut first: Option<(usize, &str)> = None;
        for (i, c) in self.cursors.iter().enumerate() {
            if let Some((p, _)) = c.current()
                && first.is_none_or(|(_, m)| p.as_str() < m)
            {
                first = Some((i, p));
            }
        }
        let first = first?.0;
        let winner = self.cursors[first].take()?;
        for c in &mut self.cursors {
            if c.current().is_some_and(|(p, _)| *p == winner.0) {
                c.advance();
            }
        }
        Some(winner)
    }

    /// The next change in path order, or `None` past the last.
    #[cfg(test)]
    pub async fn next(&mut self) -> Result<Option<(String, StagedValue)>> {
        self.peek().await?;
        Ok(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::WriteBatch;
    use crate::kv::memory::MemoryKv;

    async fn stage(kv: &MemoryKv, token: &str, changes: &[(&str, Option<u64>)]) {
        let mut b = WriteBatch::new();
        for (path, size) in changes {
            let mut key = keys::staging_prefix("r", token);
            key.extend_from_slice(path.as_bytes());
            let value = size.map(|s| Entry::new(format!("{token}-{path}"), s, "e"));
            b.put(key, encode_staged(&value));
        }
        kv.write(b).await.unwrap();
    }

    /// The newest token's change wins where tokens overlap, deletions included, and
    /// every path comes once, in order.
    #[tokio::test]
    async fn merged_staging_takes_the_newest_change() {
        let kv = MemoryKv::new();
        stage(
            &kv,
            "old",
            &[("a", Some(1)), ("b", Some(1)), ("d", Some(1))],
        )
        .await;
        stage(&kv, "new", &[("b", None), ("c", Some(2)), ("d", Some(2))]).await;
        let tokens = ["new".to_string(), "old".to_string()];
        let mut merged = MergedStaging::new(&kv, "r", &tokens);
        let mut seen = Vec::new();
        while let Some((path, value)) = merged.next().await.unwrap() {
            seen.push((path, value.map(|e| e.size)));
        }
        let expected = [("a", Some(1)), ("b", None), ("c", Some(2)), ("d", Some(2))];
        let expected: Vec<_> = expected.iter().map(|(p, v)| (p.to_string(), *v)).collect();
        assert_eq!(seen, expected);

        let mut merged = MergedStaging::new(&kv, "r", &tokens);
        merged.seek(b"c").await.unwrap();
        assert_eq!(merged.next().await.unwrap().unwrap().0, "c");
    }
}
