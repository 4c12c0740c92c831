//! Reading and writing trees: cached loads of ranges and metaranges, a cursor over a tree
//! that can skip whole ranges, and applying a sorted set of changes to a tree so that only
//! the touched ranges are rewritten.

use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::entry::{Entry, PathEntry};
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::Kv;
use crate::metarange::{MetaRange, RangeInfo};
use crate::range::{self, Chunker};

/// A change to apply to a tree: a path and its new entry, or `None` to remove it.
pub(crate) type Change = (String, Option<Entry>);

/// Loads and stores ranges and metaranges; both are immutable, so caching them is safe.
pub(crate) struct TreeStore {
    kv: Arc<dyn Kv>,
    range_average: u64,
    ranges: Cache<String, Arc<Vec<PathEntry>>>,
    metaranges: Cache<String, Arc<MetaRange>>,
}

/// The new tree that [`TreeStore::apply`] built, and the records to store with it.
pub(crate) struct AppliedTree {
    pub id: String,
    /// `(key, value)` records of new ranges and the metarange, for the caller's write batch.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

impl TreeStore {
    pub fn new(kv: Arc<dyn Kv>, range_average: u64) -> Self {
        Self {
            kv,
            range_average,
            ranges: Cache::new(4096),
            metaranges: Cache::new(256),
        }
    }

    pub async fn metarange(&self, repo: &str, id: &str) -> Result<Arc<MetaRange>> {
        if let Some(m) = self.metaranges.get(id) {
            return Ok(m);
        }
        let bytes = self
            .kv
            .get(&keys::metarange(repo, id))
            .await?
            .ok_or_else(|| Error::corrupt(format!("metarange {id} is missing")))?;
        let m = Arc::new(MetaRange::decode(&bytes)?);
        self.metaranges.insert(id.to_string(), m.clone());
        Ok(m)
    }

    pub async fn range(&self, repo: &str, id: &str) -> Result<Arc<Vec<PathEntry>>> {
        if let Some(r) = self.ranges.get(id) {
            return Ok(r);
        }
        let bytes = self
            .kv
            .get(&keys::range(repo, id))
            .await?
            .ok_or_else(|| Error::corrupt(format!("range {id} is missing")))?;
        let r = Arc::new(range::decode_range(&bytes)?);
        self.ranges.insert(id.to_string(), r.clone());
        Ok(r)
    }

    /// The entry at `path` in a tree.
    pub async fn get(&self, repo: &str, tree: &MetaRange, path: &str) -> Result<Option<Entry>> {
        let idx = tree.range_index_for(path.as_bytes());
        let Some(info) = tree.ranges.get(idx) else {
            return Ok(None);
        };
        if info.min_key.as_str() > path {
            return Ok(None);
        }
        let entries = self.range(repo, &info.id).await?;
        Ok(entries
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()
            .map(|i| entries[i].1.clone()))
    }

    /// Apply `changes` (sorted by path, one per path) to `base`. Ranges that no change
    /// touches are kept by name; only touched ranges are decoded and rewritten.
    pub async fn apply(
        &self,
        repo: &str,
        base: &MetaRange,
        changes: &[Change],
    ) -> Result<AppliedTree> {
        let mut chunker = Chunker::new(self.range_average);
        let mut out: Vec<RangeInfo> = Vec::with_capacity(base.ranges.len());
        let mut records = Vec::new();
        let mut ci = 0;
        let mut collect = |chunker: &mut Chunker, out: &mut Vec<RangeInfo>| {
            for built in chunker.take_built() {
                records.push((keys::range(repo, &built.info.id), built.bytes));
                out.push(built.info);
            }
        };
        for (i, info) in base.ranges.iter().enumerate() {
            // The last range is also touched by changes past its end: it has no boundary
            // at its end, and rewriting it keeps the tree's shape a function of its content.
            let is_last = i + 1 == base.ranges.len();
            let touched = changes
                .get(ci)
                .is_some_and(|(p, _)| is_last || p.as_str() <= info.max_key.as_str());
            if !touched && chunker.is_empty() {
                out.push(info.clone());
                continue;
            }
            let entries = self.range(repo, &info.id).await?;
            let mut ei = 0;
            loop {
                let change = changes
                    .get(ci)
                    .filter(|(p, _)| p.as_str() <= info.max_key.as_str());
                match (entries.get(ei), change) {
                    (None, None) => break,
                    (Some(e), None) => {
                        chunker.push(e.clone());
                        ei += 1;
                    }
                    (None, Some((p, v))) => {
                        if let Some(v) = v {
                            chunker.push((p.clone(), v.clone()));
                        }
                        ci += 1;
                    }
                    (Some(e), Some((p, v))) => match e.0.as_str().cmp(p.as_str()) {
                        std::cmp::Ordering::Less => {
                            chunker.push(e.clone());
                            ei += 1;
                        }
                        ordering => {
                            if let Some(v) = v {
                                chunker.push((p.clone(), v.clone()));
                            }
                            ci += 1;
                            if ordering == std::cmp::Ordering::Equal {
                                ei += 1;
                            }
                        }
                    },
                }
                collect(&mut chunker, &mut out);
            }
        }
        for (p, v) in &changes[ci..] {
            if let Some(v) = v {
                chunker.push((p.clone(), v.clone()));
                collect(&mut chunker, &mut out);
            }
        }
        for built in chunker.finish() {
            records.push((keys::range(repo, &built.info.id), built.bytes));
            out.push(built.info);
        }
        let metarange = MetaRange { ranges: out };
        let (id, bytes) = metarange.encode_with_id();
        records.push((keys::metarange(repo, &id), bytes));
        self.metaranges.insert(id.clone(), Arc::new(metarange));
        Ok(AppliedTree { id, records })
    }
}

/// What a [`TreeCursor`] stands at.
pub(crate) enum Peek<'c> {
    Entry(&'c PathEntry),
    Range(&'c RangeInfo),
    End,
}

impl<'c> Peek<'c> {
    /// The smallest path at or after the cursor, if any.
    pub fn key(&self) -> Option<&'c str> {
        match self {
            Peek::Entry((p, _)) => Some(p.as_str()),
            Peek::Range(r) => Some(r.min_key.as_str()),
            Peek::End => None,
        }
    }
}

/// A forward cursor over one tree. Until a range is needed it stays unloaded, so that two
/// cursors walking trees that share ranges can skip them without reading them.
pub(crate) struct TreeCursor<'a> {
    store: &'a TreeStore,
    repo: String,
    tree: Arc<MetaRange>,
    index: usize,
    loaded: Option<Arc<Vec<PathEntry>>>,
    pos: usize,
}

impl<'a> TreeCursor<'a> {
    pub fn new(store: &'a TreeStore, repo: &str, tree: Arc<MetaRange>) -> Self {
        Self {
            store,
            repo: repo.to_string(),
            tree,
            index: 0,
            loaded: None,
            pos: 0,
        }
    }

    /// Pass over the unloaded range the cursor stands at.
    pub fn skip_range(&mut self) {
        debug_assert!(self.loaded.is_none());
        self.index += 1;
        self.pos = 0;
    }

    /// Make [`current`](Self::current) valid: load the range under the cursor, moving past
    /// exhausted ones.
    pub async fn fill(&mut self) -> Result<()> {
        loop {
            let Some(info) = self.tree.ranges.get(self.index) else {
                self.loaded = None;
                return Ok(());
            };
            if self.loaded.is_none() {
                self.loaded = Some(self.store.range(&self.repo, &info.id).await?);
            }
            if self.pos < self.loaded.as_ref().map_or(0, |l| l.len()) {
                return Ok(());
            }
            self.index += 1;
            self.loaded = None;
            self.pos = 0;
        }
    }

    /// Step off an exhausted range without reading the next one.
    pub fn settle(&mut self) {
        if let Some(l) = &self.loaded
            && self.pos >= l.len()
        {
            self.index += 1;
            self.loaded = None;
            self.pos = 0;
        }
    }

    /// What the cursor stands at, without reading anything: a loaded entry, the start of an
    /// unread range, or the end. Call [`settle`](Self::settle) first.
    pub fn peek(&self) -> Peek<'_> {
        match &self.loaded {
            Some(l) => l.get(self.pos).map_or(Peek::End, Peek::Entry),
            None => self
                .tree
                .ranges
                .get(self.index)
                .map_or(Peek::End, Peek::Range),
        }
    }

    /// The entry under the cursor; valid after [`fill`](Self::fill).
    pub fn current(&self) -> Option<&PathEntry> {
        self.loaded.as_ref().and_then(|l| l.get(self.pos))
    }

    /// Step past the current entry; call [`fill`](Self::fill) before reading again.
    pub fn advance(&mut self) {
        self.pos += 1;
    }

    /// Move forward to the first path `>= key` (never backward).
    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        if let Some((p, _)) = self.current()
            && p.as_bytes() >= key
        {
            return Ok(());
        }
        let target = self.tree.range_index_for(key).max(self.index);
        if target != self.index || self.loaded.is_none() {
            self.index = target;
            self.loaded = None;
            self.pos = 0;
        }
        if let Some(info) = self.tree.ranges.get(self.index) {
            if self.loaded.is_none() {
                self.loaded = Some(self.store.range(&self.repo, &info.id).await?);
            }
            let entries = self.loaded.as_ref().expect("loaded above");
            self.pos = self
                .pos
                .max(entries.partition_point(|(p, _)| p.as_bytes() < key));
        }
        self.fill().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::memory::MemoryKv;
    use crate::kv::{KvExt, WriteBatch};

    async fn store_records(kv: &dyn Kv, records: &[(Vec<u8>, Vec<u8>)]) {
        let mut b = WriteBatch::new();
        for (k, v) in records {
            b.put(k.clone(), v.clone());
        }
        kv.write(b).await.unwrap();
    }

    fn put(p: &str, n: u64) -> Change {
        (
            p.to_string(),
            Some(Entry::new(format!("addr-{p}-{n}"), n, "e")),
        )
    }

    async fn all(store: &TreeStore, tree: Arc<MetaRange>) -> Vec<PathEntry> {
        let mut c = TreeCursor::new(store, "r", tree);
        let mut out = Vec::new();
        loop {
            c.fill().await.unwrap();
            let Some(e) = c.current() else { break };
            out.push(e.clone());
            c.advance();
        }
        out
    }

    #[tokio::test]
    async fn apply_reuses_untouched_ranges() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let store = TreeStore::new(kv.clone(), crate::range::DEFAULT_AVERAGE_ENTRIES);
        let changes: Vec<Change> = (0..10_000).map(|i| put(&format!("p/{i:06}"), 1)).collect();
        let t1 = store
            .apply("r", &MetaRange::default(), &changes)
            .await
            .unwrap();
        store_records(kv.as_ref(), &t1.records).await;
        let m1 = store.metarange("r", &t1.id).await.unwrap();
        assert_eq!(m1.count(), 10_000);

        let edits = vec![
            put("p/000500", 2),
            ("p/005000".to_string(), None),
            put("p/005000x", 3),
            put("q/new", 4),
        ];
        let t2 = store.apply("r", &m1, &edits).await.unwrap();
        store_records(kv.as_ref(), &t2.records).await;
        let m2 = store.metarange("r", &t2.id).await.unwrap();
        assert_eq!(m2.count(), 10_000 + 1);
        let old: std::collections::HashSet<_> = m1.ranges.iter().map(|r| &r.id).collect();
        let new_ranges = m2.ranges.iter().filter(|r| !old.contains(&r.id)).count();
        assert!(new_ranges <= 6, "{new_ranges} ranges rewritten");

        let listed = all(&store, m2.clone()).await;
        assert_eq!(listed.len(), 10_001);
        assert!(listed.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            store.get("r", &m2, "p/000500").await.unwrap().unwrap().size,
            2
        );
        assert!(store.get("r", &m2, "p/005000").await.unwrap().is_none());
        assert_eq!(store.get("r", &m2, "q/new").await.unwrap().unwrap().size, 4);

        // Removing everything gives the empty tree.
        let removals: Vec<Change> = listed.iter().map(|(p, _)| (p.clone(), None)).collect();
        let t3 = store.apply("r", &m2, &removals).await.unwrap();
        assert!(
            store
                .metarange("r", &t3.id)
                .await
                .unwrap()
                .ranges
                .is_empty()
        );
        let (empty_id, _) = MetaRange::default().encode_with_id();
        assert_eq!(t3.id, empty_id);

        // Applying the same content the other way round gives the same tree id.
        let t1_again = store
            .apply("r", &MetaRange::default(), &changes)
            .await
            .unwrap();
        assert_eq!(t1_again.id, t1.id);
        kv.delete(b"unused").await.unwrap();
    }

    #[tokio::test]
    async fn cursor_seek() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let store = TreeStore::new(kv.clone(), crate::range::DEFAULT_AVERAGE_ENTRIES);
        let changes: Vec<Change> = (0..5_000)
            .map(|i| put(&format!("k{:05}", i * 2), 1))
            .collect();
        let t = store
            .apply("r", &MetaRange::default(), &changes)
            .await
            .unwrap();
        store_records(kv.as_ref(), &t.records).await;
        let mut c = TreeCursor::new(&store, "r", store.metarange("r", &t.id).await.unwrap());
        c.seek(b"k03001").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k03002");
        c.seek(b"k03002").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k03002");
        c.seek(b"k09998").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k09998");
        c.seek(b"k09999").await.unwrap();
        assert!(c.current().is_none());
    }
}
