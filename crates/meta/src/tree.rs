//! Reading and writing trees: cached loads of ranges, a cursor over a tree's entries that
//! can pass over whole shared subtrees, and applying a sorted set of changes so that only
//! the ranges on the changed paths are rewritten, level by level up to a new root.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::entry::{Entry, PathEntry};
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::Kv;
use crate::kv::WriteBatch;
use crate::range::{BuiltRange, ChildRef, Chunker, Item, Node};
use crate::staging::MergedStaging;

/// A change to apply to a tree: a path and its new entry, or `None` to remove it.
pub(crate) type Change = (String, Option<Entry>);

/// Loads and stores ranges; they are immutable, so caching them is safe.
pub(crate) struct TreeStore {
    kv: Arc<dyn Kv>,
    average: u64,
    nodes: Cache<String, Arc<Node>>,
    /// Write built ranges ahead once they hold this many bytes ([`SPILL_BYTES`]).
    spill_bytes: usize,
}

/// The new tree that [`TreeStore::apply`] built, and the records to store with it.
pub(crate) struct AppliedTree {
    /// The root range's id: the tree's name.
    pub id: String,
    /// `(key, value)` records of the new ranges, for the caller's write batch.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The items of one level that the chunker and the level walk handle.
trait LevelItem: Item + PartialEq {
    fn items(node: &Node) -> Result<&[Self]>;
}

impl LevelItem for PathEntry {
    fn items(node: &Node) -> Result<&[Self]> {
        match node {
            Node::Leaf(e) => Ok(e),
            Node::Inner { .. } => Err(Error::corrupt("expected a leaf range")),
        }
    }
}

impl LevelItem for ChildRef {
    fn items(node: &Node) -> Result<&[Self]> {
        match node {
            Node::Inner { children, .. } => Ok(children),
            Node::Leaf(_) => Err(Error::corrupt("expected an inner range")),
        }
    }
}

/// Ranges built during one `apply`, readable before they are stored.
#[derive(Default)]
struct Built {
    nodes: HashMap<String, Arc<Node>>,
    records: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bytes held in `records`.
    bytes: usize,
    /// Some ranges were written ahead.
    spilled: bool,
    /// An edit added, replaced with something else, or removed an item.
    changed: bool,
}

/// The ids of the empty tree's root in range formats 1 and 2.
static EMPTY_ROOTS: std::sync::LazyLock<[String; 2]> = std::sync::LazyLock::new(|| {
    let format_1 = crate::encoding::content_id(&crate::encoding::encode(&Node::empty()));
    [format_1, TreeStore::empty_root().0]
});

/// Built ranges are written ahead, unreferenced, once they hold this many bytes, so that
/// applying millions of changes holds a bounded amount of them. A range nothing refers to
/// is harmless (a failed commit leaves a few; the garbage collector reads ranges only from
/// the commits it walks).
const SPILL_BYTES: usize = 16 << 20;

/// The sorted edits of one level, handed out one at a time, so that a level's edits need
/// not all be in memory: a commit streams them from its staging areas.
pub(crate) trait Edits<T> {
    /// The key of the next edit, reading it if need be.
    async fn peek(&mut self) -> Result<Option<&str>>;
    /// Consume the edit [`peek`](Self::peek) showed: its new item, or `None` to remove.
    fn take(&mut self) -> Option<T>;
}

/// Edits held in a sorted slice.
struct SliceEdits<'e, T> {
    edits: &'e [(String, Option<T>)],
    at: usize,
}

impl<T: Clone> Edits<T> for SliceEdits<'_, T> {
    async fn peek(&mut self) -> Result<Option<&str>> {
        Ok(self.edits.get(self.at).map(|(k, _)| k.as_str()))
    }
    fn take(&mut self) -> Option<T> {
        self.at += 1;
        self.edits[self.at - 1].1.clone()
    }
}

/// A commit's staged changes, streamed from the KV.
impl Edits<PathEntry> for MergedStaging<'_> {
    async fn peek(&mut self) -> Result<Option<&str>> {
        MergedStaging::peek(self).await
    }
    fn take(&mut self) -> Option<PathEntry> {
        let (path, value) = MergedStaging::take(self)?;
        value.map(|e| (path, e))
    }
}

/// Changes held in a sorted slice, as leaf edits.
struct ChangeEdits<'e> {
    changes: &'e [Change],
    at: usize,
}

impl Edits<PathEntry> for ChangeEdits<'_> {
    async fn peek(&mut self) -> Result<Option<&str>> {
        Ok(self.changes.get(self.at).map(|(k, _)| k.as_str()))
    }
    fn take(&mut self) -> Option<PathEntry> {
        self.at += 1;
        let (path, value) = &self.changes[self.at - 1];
        value.clone().map(|e| (path.clone(), e))
    }
}

/// Where a level walk puts the ranges it builds.
enum Parents {
    /// Collected, for the walk of the level above.
    Collect(Vec<ChildRef>),
    /// Fed into the levels above at once: the walk of the root's level.
    Root(RootBuilder),
}

/// One level above the walked one, being built.
struct Rising {
    chunker: Chunker<ChildRef>,
    /// Ranges of the level below pushed in.
    pushed: u64,
    /// The first of them, kept while it may be the only one (then it is the root).
    first: Option<ChildRef>,
}

/// The levels above a stream of ranges of level `base`, each fed as the one below cuts a
/// range, so that building a tree of millions of entries holds a few ranges per level.
struct RootBuilder {
    base: u8,
    average: u64,
    /// `levels[i]` takes ranges of level `base + i` and cuts ranges of level `base + i + 1`.
    levels: Vec<Rising>,
}

impl RootBuilder {
    fn new(base: u8, average: u64) -> Self {
        Self {
            base,
            average,
            levels: Vec::new(),
        }
    }

    /// Push a range of level `base + at`; returns the ranges this cut one level up.
    fn push(&mut self, at: usize, r: ChildRef) -> Vec<BuiltRange> {
        while self.levels.len() <= at {
            let level = self.base + self.levels.len() as u8 + 1;
            self.levels.push(Rising {
                chunker: Chunker::new(level, self.average),
                pushed: 0,
                first: None,
            });
        }
        let rising = &mut self.levels[at];
        rising.pushed += 1;
        rising.first = (rising.pushed == 1).then(|| r.clone());
        rising.chunker.push(r);
        rising.chunker.take_built()
    }
}

/// What the level walk does next.
enum Step {
    /// Keep the range's next item.
    Keep,
    /// Apply the next edit before the range's next item.
    Insert,
    /// Apply the next edit in place of the range's next item.
    Replace,
    /// The range and the edits that fall in it are done.
    Done,
}

impl TreeStore {
    pub fn new(kv: Arc<dyn Kv>, average: u64) -> Self {
        Self {
            kv,
            average,
            nodes: Cache::new(16_384),
            spill_bytes: SPILL_BYTES,
        }
    }

    /// The id and bytes of the empty tree's root.
    pub fn empty_root() -> (String, Vec<u8>) {
        Node::empty().encode_with_id()
    }

    pub async fn node(&self, repo: &str, id: &str) -> Result<Arc<Node>> {
        if let Some(n) = self.nodes.get(id) {
            return Ok(n);
        }
        // The empty tree in either range format: a repository made before format 2 stored
        // only the format-1 one, and readers name the current one (a first commit's parent
        // tree), so neither needs to be in the store.
        if EMPTY_ROOTS.iter().any(|e| e == id) {
            return Ok(Arc::new(Node::empty()));
        }
        let bytes = self
            .kv
            .get(&keys::range(repo, id))
            .await?
            .ok_or_else(|| Error::corrupt(format!("range {id} is missing")))?;
        let n = Arc::new(Node::decode(&bytes)?);
        self.nodes.insert(id.to_string(), n.clone());
        Ok(n)
    }

    async fn node_or_built(&self, repo: &str, id: &str, built: &Built) -> Result<Arc<Node>> {
        match built.nodes.get(id) {
            Some(n) => Ok(n.clone()),
            None => self.node(repo, id).await,
        }
    }

    /// The entry at `path` in the tree rooted at `root`.
    pub async fn get(&self, repo: &str, root: &str, path: &str) -> Result<Option<Entry>> {
        let mut node = self.node(repo, root).await?;
        loop {
            let next = match &*node {
                Node::Leaf(entries) => {
                    return Ok(entries
                        .binary_search_by(|(p, _)| p.as_str().cmp(path))
                        .ok()
                        .map(|i| entries[i].1.clone()));
                }
                Node::Inner { children, .. } => {
                    let i = children.partition_point(|c| c.max_key.as_str() < path);
                    match children.get(i) {
                        Some(c) if c.min_key.as_str() <= path => c.id.clone(),
                        _ => return Ok(None),
                    }
                }
            };
            node = self.node(repo, &next).await?;
        }
    }

    /// Apply `changes` (sorted by path, one per path) to the tree rooted at `root`.
    pub async fn apply(&self, repo: &str, root: &str, changes: &[Change]) -> Result<AppliedTree> {
        if changes.is_empty() {
            return Ok(AppliedTree {
                id: root.to_string(),
                records: Vec::new(),
            });
        }
        self.apply_edits(repo, root, ChangeEdits { changes, at: 0 })
            .await
    }

    /// Apply a branch's staged changes, streamed from its staging areas, to the tree rooted
    /// at `root`. Memory stays bounded whatever the number of changes: ranges are written
    /// ahead as they pile up, and only the references to new leaves are held.
    pub async fn apply_staged(
        &self,
        repo: &str,
        root: &str,
        mut staged: MergedStaging<'_>,
    ) -> Result<AppliedTree> {
        if staged.peek().await?.is_none() {
            return Ok(AppliedTree {
                id: root.to_string(),
                records: Vec::new(),
            });
        }
        self.apply_edits(repo, root, staged).await
    }

    async fn apply_edits(
        &self,
        repo: &str,
        root: &str,
        leaf_edits: impl Edits<PathEntry>,
    ) -> Result<AppliedTree> {
        let root_node = self.node(repo, root).await?;
        let mut built = Built::default();
        let mut level = 0u8;
        // The last level walked (the root's) feeds its new ranges straight into the
        // levels above it, so no level is held whole; lower levels are collected for the
        // walk of the level above.
        let sink = |level: u8| {
            if root_node.level() == level {
                Parents::Root(RootBuilder::new(level, self.average))
            } else {
                Parents::Collect(Vec::new())
            }
        };
        let (mut removed, mut added) = self
            .apply_level::<PathEntry>(
                repo,
                root,
                &root_node,
                level,
                leaf_edits,
                sink(level),
                &mut built,
            )
            .await?;
        if !built.changed {
            // Every edit restated what the tree holds: the tree is unchanged, whatever
            // range format its ranges were written in (re-encoding would rename them).
            return Ok(AppliedTree {
                id: root.to_string(),
                records: Vec::new(),
            });
        }
        while root_node.level() > level {
            let Parents::Collect(collected) = added else {
                unreachable!("only the root's level builds the root")
            };
            // The parents see a replaced range as its old key removed and the new keys added.
            let mut edits: BTreeMap<String, Option<ChildRef>> =
                removed.into_iter().map(|k| (k, None)).collect();
            for r in collected {
                edits.insert(r.max_key.clone(), Some(r));
            }
            let edits: Vec<(String, Option<ChildRef>)> = edits.into_iter().collect();
            level += 1;
            let edits = SliceEdits {
                edits: &edits,
                at: 0,
            };
            (removed, added) = self
                .apply_level::<ChildRef>(
                    repo,
                    root,
                    &root_node,
                    level,
                    edits,
                    sink(level),
                    &mut built,
                )
                .await?;
        }
        let Parents::Root(builder) = added else {
            unreachable!("the root's level builds the root")
        };
        let id = self.finish_root(repo, builder, &mut built).await?;
        // A small change's new ranges are what the next diff, merge or commit of this
        // branch reads first: cache them now. Ranges are named by content, so a cached
        // range is right even if this tree is never stored (nothing then names it). Large
        // applies would only push the hot upper ranges out.
        if !built.spilled {
            for (id, node) in built.nodes {
                self.nodes.insert(id, node);
            }
        }
        Ok(AppliedTree {
            id,
            records: built.records,
        })
    }

    /// Rewrite the ranges of `level` that `edits` touch. Returns the keys of the replaced
    /// ranges, and `added` with references to their replacements.
    #[allow(clippy::too_many_arguments)]
    async fn apply_level<T: LevelItem>(
        &self,
        repo: &str,
        root: &str,
        root_node: &Arc<Node>,
        level: u8,
        mut edits: impl Edits<T>,
        mut added: Parents,
        built: &mut Built,
    ) -> Result<(Vec<String>, Parents)> {
        let mut chunker = Chunker::<T>::new(level, self.average);
        let mut removed = Vec::new();
        let only_root = root_node.level() == level;
        let mut cursor = if only_root {
            None
        } else {
            Some(LevelCursor::new(self, repo, root_node.clone(), level))
        };
        let mut root_done = only_root && root_node.is_empty();
        loop {
            // The next range to rewrite: where the next edit falls, or, while the chunker
            // waits for a boundary, the range right after the last one.
            let (id, max_key, is_last) = match cursor.as_mut() {
                None => {
                    if root_done {
                        break;
                    }
                    root_done = true;
                    let r = root_node.child_ref(root.to_string()).expect("not empty");
                    (r.id, r.max_key, true)
                }
                Some(c) => {
                    if chunker.is_empty() {
                        let Some(key) = edits.peek().await? else {
                            break;
                        };
                        let key = key.to_string();
                        c.seek(&key).await?;
                    } else if !c.next().await? {
                        break;
                    }
                    let r = c.current();
                    (r.id.clone(), r.max_key.clone(), c.is_last())
                }
            };
            removed.push(max_key.clone());
            let node = self.node_or_built(repo, &id, built).await?;
            let items = T::items(&node)?;
            let mut ii = 0;
            loop {
                let step = {
                    let edit = edits
                        .peek()
                        .await?
                        .filter(|k| is_last || *k <= max_key.as_str());
                    match (items.get(ii), edit) {
                        (None, None) => Step::Done,
                        (Some(_), None) => Step::Keep,
                        (None, Some(_)) => Step::Insert,
                        (Some(item), Some(k)) => match item.key().cmp(k) {
                            std::cmp::Ordering::Less => Step::Keep,
                            std::cmp::Ordering::Equal => Step::Replace,
                            std::cmp::Ordering::Greater => Step::Insert,
                        },
                    }
                };
                match step {
                    Step::Done => break,
                    Step::Keep => {
                        chunker.push(items[ii].clone());
                        ii += 1;
                    }
                    Step::Insert | Step::Replace => {
                        let replaced = matches!(step, Step::Replace).then(|| &items[ii]);
                        let new = edits.take();
                        // Removing an absent path, or restating an item, changes nothing.
                        built.changed |= match (&new, replaced) {
                            (Some(v), Some(old)) => v != old,
                            (None, None) => false,
                            _ => true,
                        };
                        if let Some(v) = new {
                            chunker.push(v);
                        }
                        if replaced.is_some() {
                            ii += 1;
                        }
                    }
                }
                self.emit(chunker.take_built(), &mut added, built, repo)
                    .await?;
            }
            if is_last {
                break;
            }
        }
        while edits.peek().await?.is_some() {
            if let Some(v) = edits.take() {
                built.changed = true;
                chunker.push(v);
            }
            self.emit(chunker.take_built(), &mut added, built, repo)
                .await?;
        }
        self.emit(chunker.finish(), &mut added, built, repo).await?;
        Ok((removed, added))
    }

    /// Hand finished ranges of one level to `parents`, keeping their records in `built`.
    async fn emit(
        &self,
        ranges: Vec<BuiltRange>,
        parents: &mut Parents,
        built: &mut Built,
        repo: &str,
    ) -> Result<()> {
        match parents {
            Parents::Collect(refs) => self.collect_spilling(ranges, refs, built, repo).await,
            Parents::Root(builder) => {
                let mut refs = Vec::new();
                self.collect_spilling(ranges, &mut refs, built, repo)
                    .await?;
                for r in refs {
                    self.build_up(builder, r, 0, built, repo).await?;
                }
                Ok(())
            }
        }
    }

    /// Push `r` (a range of level `base + at`) into the level above, and every range that
    /// cuts into the level above that, and so on.
    async fn build_up(
        &self,
        builder: &mut RootBuilder,
        r: ChildRef,
        at: usize,
        built: &mut Built,
        repo: &str,
    ) -> Result<()> {
        let mut work = vec![(r, at)];
        while let Some((r, at)) = work.pop() {
            let ranges = builder.push(at, r);
            let mut refs = Vec::new();
            self.collect_spilling(ranges, &mut refs, built, repo)
                .await?;
            work.extend(refs.into_iter().rev().map(|p| (p, at + 1)));
        }
        Ok(())
    }

    /// The root of what `builder` was fed: the first level, from the bottom, that holds one
    /// range, after which single-child roots are dropped, so that a tree's shape depends on
    /// its entries alone.
    async fn finish_root(
        &self,
        repo: &str,
        mut builder: RootBuilder,
        built: &mut Built,
    ) -> Result<String> {
        let mut at = 0;
        let top = loop {
            let Some(level) = builder.levels.get_mut(at) else {
                break None;
            };
            if level.pushed == 1 {
                break level.first.take();
            }
            let ranges = level.chunker.take_remaining();
            let mut refs = Vec::new();
            self.collect_spilling(ranges, &mut refs, built, repo)
                .await?;
            for r in refs {
                self.build_up(&mut builder, r, at + 1, built, repo).await?;
            }
            at += 1;
        };
        let Some(top) = top else {
            let (id, bytes) = Self::empty_root();
            built.records.push((keys::range(repo, &id), bytes));
            built.nodes.insert(id.clone(), Arc::new(Node::empty()));
            return Ok(id);
        };
        let mut root = top.id;
        loop {
            let node = self.node_or_built(repo, &root, built).await?;
            match &*node {
                Node::Inner { children, .. } if children.len() == 1 => {
                    root = children[0].id.clone();
                }
                _ => return Ok(root),
            }
        }
    }

    /// Take finished ranges into `built`, and write them ahead once they pile up.
    async fn collect_spilling(
        &self,
        ranges: Vec<BuiltRange>,
        out: &mut Vec<ChildRef>,
        built: &mut Built,
        repo: &str,
    ) -> Result<()> {
        if ranges.is_empty() {
            return Ok(());
        }
        collect(ranges, out, built, repo);
        if built.bytes >= self.spill_bytes {
            let mut batch = WriteBatch::new();
            for (k, v) in built.records.drain(..) {
                batch.put(k, v);
            }
            // The written ranges are read back from the KV (or the cache) from now on.
            built.nodes.clear();
            built.bytes = 0;
            built.spilled = true;
            self.kv.write(batch).await?;
        }
        Ok(())
    }
}

fn collect(ranges: Vec<BuiltRange>, out: &mut Vec<ChildRef>, built: &mut Built, repo: &str) {
    for r in ranges {
        built.bytes += r.bytes.len();
        built
            .records
            .push((keys::range(repo, &r.child.id), r.bytes));
        built.nodes.insert(r.child.id.clone(), r.node);
        out.push(r.child);
    }
}

struct Frame {
    node: Arc<Node>,
    pos: usize,
}

/// Walks the ranges of one level below the root, in key order.
struct LevelCursor<'a> {
    store: &'a TreeStore,
    repo: &'a str,
    root: Arc<Node>,
    /// Frames from the root down to a range of `level + 1`.
    stack: Vec<Frame>,
    level: u8,
}

impl<'a> LevelCursor<'a> {
    fn new(store: &'a TreeStore, repo: &'a str, root: Arc<Node>, level: u8) -> Self {
        Self {
            store,
            repo,
            root,
            stack: Vec::new(),
            level,
        }
    }

    fn children(node: &Node) -> &[ChildRef] {
        match node {
            Node::Inner { children, .. } => children,
            Node::Leaf(_) => &[],
        }
    }

    /// Stand at the range of `level` that holds `key`, or where it would go (the last
    /// range when the key is past the end).
    async fn seek(&mut self, key: &str) -> Result<()> {
        self.stack.clear();
        let mut node = self.root.clone();
        loop {
            let children = Self::children(&node);
            let pos = children
                .partition_point(|c| c.max_key.as_str() < key)
                .min(children.len() - 1);
            let at_parent_level = node.level() == self.level + 1;
            let next = children[pos].id.clone();
            self.stack.push(Frame { node, pos });
            if at_parent_level {
                return Ok(());
            }
            node = self.store.node(self.repo, &next).await?;
        }
    }

    fn current(&self) -> &ChildRef {
        let top = self.stack.last().expect("positioned");
        &Self::children(&top.node)[top.pos]
    }

    fn is_last(&self) -> bool {
        self.stack
            .iter()
            .all(|f| f.pos + 1 == Self::children(&f.node).len())
    }

    /// Move to the next range of the level; false at the end.
    async fn next(&mut self) -> Result<bool> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                return Ok(false);
            };
            top.pos += 1;
            if top.pos < Self::children(&top.node).len() {
                break;
            }
            self.stack.pop();
        }
        while self.stack.last().expect("non-empty").node.level() > self.level + 1 {
            let id = self.current().id.clone();
            let node = self.store.node(self.repo, &id).await?;
            self.stack.push(Frame { node, pos: 0 });
        }
        Ok(true)
    }
}

/// What a [`TreeCursor`] stands at.
pub(crate) enum Peek<'c> {
    /// An entry of a loaded leaf.
    Entry(&'c PathEntry),
    /// The start of a subtree not read yet, and the level of its root range.
    Subtree(&'c ChildRef, u8),
    /// Past the last entry.
    End,
}

impl<'c> Peek<'c> {
    /// The smallest path at or after the cursor, if any.
    pub fn key(&self) -> Option<&'c str> {
        match self {
            Peek::Entry((p, _)) => Some(p.as_str()),
            Peek::Subtree(r, _) => Some(r.min_key.as_str()),
            Peek::End => None,
        }
    }
}

/// A forward cursor over the entries of one tree. It reads ranges only when it must, so
/// two cursors walking trees that share subtrees can pass over them unread.
pub(crate) struct TreeCursor<'a> {
    store: &'a TreeStore,
    repo: String,
    root: Arc<Node>,
    stack: Vec<Frame>,
}

impl<'a> TreeCursor<'a> {
    pub async fn open(store: &'a TreeStore, repo: &str, root: &str) -> Result<Self> {
        let root = store.node(repo, root).await?;
        let mut c = Self {
            store,
            repo: repo.to_string(),
            stack: vec![Frame {
                node: root.clone(),
                pos: 0,
            }],
            root,
        };
        c.normalize();
        Ok(c)
    }

    /// Pop frames whose items are exhausted, moving their parents on.
    fn normalize(&mut self) {
        while let Some(top) = self.stack.last() {
            if top.pos < top.node.len() {
                return;
            }
            self.stack.pop();
            if let Some(parent) = self.stack.last_mut() {
                parent.pos += 1;
            }
        }
    }

    /// What the cursor stands at, without reading anything.
    pub fn peek(&self) -> Peek<'_> {
        match self.stack.last() {
            None => Peek::End,
            Some(Frame { node, pos }) => match &**node {
                Node::Leaf(e) => Peek::Entry(&e[*pos]),
                Node::Inner { children, level } => Peek::Subtree(&children[*pos], level - 1),
            },
        }
    }

    /// Read the subtree the cursor stands at, one level down.
    pub async fn descend(&mut self) -> Result<()> {
        if let Peek::Subtree(r, _) = self.peek() {
            let id = r.id.clone();
            let node = self.store.node(&self.repo, &id).await?;
            self.stack.push(Frame { node, pos: 0 });
            self.normalize();
        }
        Ok(())
    }

    /// Pass over the subtree the cursor stands at, unread.
    pub fn skip(&mut self) {
        if let Some(top) = self.stack.last_mut() {
            top.pos += 1;
        }
        self.normalize();
    }

    /// Read down to the next entry, so that [`current`](Self::current) is valid.
    pub async fn fill(&mut self) -> Result<()> {
        while let Peek::Subtree(..) = self.peek() {
            self.descend().await?;
        }
        Ok(())
    }

    /// The entry under the cursor, when it stands at one.
    pub fn current(&self) -> Option<&PathEntry> {
        match self.peek() {
            Peek::Entry(e) => Some(e),
            _ => None,
        }
    }

    /// Step past the current entry.
    pub fn advance(&mut self) {
        if let Some(top) = self.stack.last_mut()
            && matches!(*top.node, Node::Leaf(_))
        {
            top.pos += 1;
        }
        self.normalize();
    }

    /// Move to the first entry whose path is `>= key`. Only forward: callers seek to keys
    /// past everything they consumed.
    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        if let Some((p, _)) = self.current()
            && p.as_bytes() >= key
        {
            return Ok(());
        }
        self.stack.clear();
        let mut node = self.root.clone();
        loop {
            match &*node {
                Node::Leaf(e) => {
                    let pos = e.partition_point(|(p, _)| p.as_bytes() < key);
                    self.stack.push(Frame { node, pos });
                    break;
                }
                Node::Inner { children, .. } => {
                    let pos = children.partition_point(|c| c.max_key.as_bytes() < key);
                    let next = children.get(pos).map(|c| c.id.clone());
                    self.stack.push(Frame { node, pos });
                    match next {
                        Some(id) => node = self.store.node(&self.repo, &id).await?,
                        None => break,
                    }
                }
            }
        }
        self.normalize();
        self.fill().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::WriteBatch;
    use crate::kv::memory::MemoryKv;

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

    async fn all(store: &TreeStore, root: &str) -> Vec<PathEntry> {
        let mut c = TreeCursor::open(store, "r", root).await.unwrap();
        let mut out = Vec::new();
        loop {
            c.fill().await.unwrap();
            let Some(e) = c.current() else { break };
            out.push(e.clone());
            c.advance();
        }
        out
    }

    /// A damaged node (an inner node with no children, here the root) is a `Corrupt`
    /// error for every reader, never a panic.
    #[tokio::test]
    async fn an_empty_inner_node_is_corrupt_not_a_panic() {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let store = TreeStore::new(kv.clone(), 4);
        let bad = Node::Inner {
            level: 1,
            children: Vec::new(),
        };
        let (id, bytes) = bad.encode_with_id();
        store_records(kv.as_ref(), &[(keys::range("r", &id), bytes)]).await;
        let err = store.get("r", &id, "a").await.unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        let err = match TreeCursor::open(&store, "r", &id).await {
            Ok(mut c) => c.seek(b"a").await.unwrap_err(),
            Err(e) => e,
        };
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
        let Err(err) = store.apply("r", &id, &[put("a", 1)]).await else {
            panic!("applying a change to a damaged tree succeeded");
        };
        assert_eq!(err.kind(), crate::ErrorKind::Corrupt, "{err}");
    }

    async fn setup(average: u64) -> (Arc<dyn Kv>, TreeStore, String) {
        let kv: Arc<dyn Kv> = Arc::new(MemoryKv::new());
        let store = TreeStore::new(kv.clone(), average);
        let (id, bytes) = TreeStore::empty_root();
        store_records(kv.as_ref(), &[(keys::range("r", &id), bytes)]).await;
        (kv, store, id)
    }

    #[tokio::test]
    async fn apply_rewrites_only_changed_paths() {
        let (kv, store, empty) = setup(8).await;
        let changes: Vec<Change> = (0..10_000).map(|i| put(&format!("p/{i:06}"), 1)).collect();
        let t1 = store.apply("r", &empty, &changes).await.unwrap();
        store_records(kv.as_ref(), &t1.records).await;
        assert!(store.node("r", &t1.id).await.unwrap().level() >= 3);
        assert_eq!(all(&store, &t1.id).await.len(), 10_000);

        let edits = vec![
            put("p/000500", 2),
            ("p/005000".to_string(), None),
            put("p/005000x", 3),
            put("q/new", 4),
        ];
        let t2 = store.apply("r", &t1.id, &edits).await.unwrap();
        assert!(
            t2.records.len() < 40,
            "{} ranges rewritten",
            t2.records.len()
        );
        store_records(kv.as_ref(), &t2.records).await;
        let listed = all(&store, &t2.id).await;
        assert_eq!(listed.len(), 10_001);
        assert!(listed.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(
            store
                .get("r", &t2.id, "p/000500")
                .await
                .unwrap()
                .unwrap()
                .size,
            2
        );
        assert!(store.get("r", &t2.id, "p/005000").await.unwrap().is_none());
        assert_eq!(
            store.get("r", &t2.id, "q/new").await.unwrap().unwrap().size,
            4
        );
        assert_eq!(
            store
                .get("r", &t2.id, "p/000001")
                .await
                .unwrap()
                .unwrap()
                .size,
            1
        );
        assert!(store.get("r", &t2.id, "a").await.unwrap().is_none());

        // The shape depends on the content only: the same entries built at once give the
        // same root.
        let mut direct: BTreeMap<String, Option<Entry>> = changes.into_iter().collect();
        for (k, v) in edits {
            direct.insert(k, v);
        }
        let direct: Vec<Change> = direct.into_iter().filter(|(_, v)| v.is_some()).collect();
        let t2_direct = store.apply("r", &empty, &direct).await.unwrap();
        assert_eq!(t2_direct.id, t2.id);

        // Removing everything gives the empty tree.
        let removals: Vec<Change> = listed.iter().map(|(p, _)| (p.clone(), None)).collect();
        let t3 = store.apply("r", &t2.id, &removals).await.unwrap();
        assert_eq!(t3.id, empty);
        // Removing nearly everything collapses the levels.
        let keep_one: Vec<Change> = removals[1..].to_vec();
        let t4 = store.apply("r", &t2.id, &keep_one).await.unwrap();
        store_records(kv.as_ref(), &t4.records).await;
        assert_eq!(store.node("r", &t4.id).await.unwrap().level(), 0);
        assert_eq!(all(&store, &t4.id).await.len(), 1);
    }

    /// Ranges written ahead while applying many changes give the same tree, and the
    /// caller's batch holds only the rest.
    #[tokio::test]
    async fn spilled_ranges_give_the_same_tree() {
        let (kv, mut store, empty) = setup(8).await;
        let changes: Vec<Change> = (0..20_000).map(|i| put(&format!("s/{i:06}"), 1)).collect();
        let whole = store.apply("r", &empty, &changes).await.unwrap();
        let whole_bytes: usize = whole.records.iter().map(|(_, v)| v.len()).sum();

        let (kv2, _, _) = setup(8).await;
        store = TreeStore::new(kv2.clone(), 8);
        store.spill_bytes = 4096;
        let spilled = store.apply("r", &empty, &changes).await.unwrap();
        assert_eq!(spilled.id, whole.id);
        let kept: usize = spilled.records.iter().map(|(_, v)| v.len()).sum();
        assert!(
            kept < whole_bytes / 10,
            "{kept} of {whole_bytes} bytes kept"
        );
        store_records(kv2.as_ref(), &spilled.records).await;
        // Every range of the tree is readable: the spilled ones from the KV.
        let fresh = TreeStore::new(kv2.clone(), 8);
        assert_eq!(all(&fresh, &spilled.id).await.len(), 20_000);

        // Spilling while rewriting an existing tree.
        store_records(kv.as_ref(), &whole.records).await;
        let edits: Vec<Change> = (0..20_000)
            .step_by(7)
            .map(|i| put(&format!("s/{i:06}"), 2))
            .collect();
        let plain = TreeStore::new(kv.clone(), 8)
            .apply("r", &whole.id, &edits)
            .await
            .unwrap();
        let mut small = TreeStore::new(kv.clone(), 8);
        small.spill_bytes = 4096;
        let spilled = small.apply("r", &whole.id, &edits).await.unwrap();
        assert_eq!(spilled.id, plain.id);
    }

    /// Trees of every small size have one shape whatever history built them: all at once
    /// on the empty tree (the root's level builds every level above), or in two steps
    /// (the second walks the levels of the first).
    #[tokio::test]
    async fn root_building_depends_on_entries_alone() {
        let (kv, store, empty) = setup(3).await;
        for n in 1..90usize {
            let all: Vec<Change> = (0..n).map(|i| put(&format!("t/{i:04}"), 1)).collect();
            let whole = store.apply("r", &empty, &all).await.unwrap();
            let evens: Vec<Change> = all.iter().step_by(2).cloned().collect();
            let odds: Vec<Change> = all.iter().skip(1).step_by(2).cloned().collect();
            let first = store.apply("r", &empty, &evens).await.unwrap();
            store_records(kv.as_ref(), &first.records).await;
            let second = store.apply("r", &first.id, &odds).await.unwrap();
            assert_eq!(second.id, whole.id, "{n} entries");
            store_records(kv.as_ref(), &whole.records).await;
            assert_eq!(all_entries(&store, &whole.id).await, n, "{n} entries");
        }
    }

    /// Edits that restate the tree (identical entries, removals of absent paths) leave
    /// its id as it was, also for a tree written in range format 1, which re-encoding
    /// would rename; the format-1 empty tree reads without being stored.
    #[tokio::test]
    async fn restating_edits_keep_the_tree_whatever_its_format() {
        let (kv, store, _) = setup(8).await;
        let entries: Vec<PathEntry> = (0..5)
            .map(|i| {
                (
                    format!("f/{i}"),
                    Entry::new(format!("addr-f/{i}-1"), 1, "e"),
                )
            })
            .collect();
        let leaf = Node::Leaf(entries.clone());
        let old_bytes = crate::encoding::encode(&leaf);
        let old_id = crate::encoding::content_id(&old_bytes);
        store_records(kv.as_ref(), &[(keys::range("r", &old_id), old_bytes)]).await;

        let restate = vec![put("f/1", 1), put("f/3", 1), ("f/9".to_string(), None)];
        let same = store.apply("r", &old_id, &restate).await.unwrap();
        assert_eq!(same.id, old_id);
        assert!(same.records.is_empty());

        let changed = store.apply("r", &old_id, &[put("f/2", 2)]).await.unwrap();
        assert_ne!(changed.id, old_id);
        store_records(kv.as_ref(), &changed.records).await;
        assert_eq!(all(&store, &changed.id).await.len(), 5);

        let empty_v1 = crate::encoding::content_id(&crate::encoding::encode(&Node::empty()));
        let fresh = TreeStore::new(kv.clone(), 8);
        assert!(all(&fresh, &empty_v1).await.is_empty());
        let grown = fresh.apply("r", &empty_v1, &[put("a", 1)]).await.unwrap();
        store_records(kv.as_ref(), &grown.records).await;
        assert_eq!(all(&fresh, &grown.id).await.len(), 1);
    }

    async fn all_entries(store: &TreeStore, root: &str) -> usize {
        all(store, root).await.len()
    }

    #[tokio::test]
    async fn cursor_seek() {
        let (kv, store, empty) = setup(8).await;
        let changes: Vec<Change> = (0..5_000)
            .map(|i| put(&format!("k{:05}", i * 2), 1))
            .collect();
        let t = store.apply("r", &empty, &changes).await.unwrap();
        store_records(kv.as_ref(), &t.records).await;
        let mut c = TreeCursor::open(&store, "r", &t.id).await.unwrap();
        c.seek(b"k03001").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k03002");
        c.seek(b"k03002").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k03002");
        c.seek(b"k09998").await.unwrap();
        assert_eq!(c.current().unwrap().0, "k09998");
        c.seek(b"k09999").await.unwrap();
        assert!(c.current().is_none());
        let mut c = TreeCursor::open(&store, "r", &empty).await.unwrap();
        c.fill().await.unwrap();
        assert!(c.current().is_none());
    }
}
