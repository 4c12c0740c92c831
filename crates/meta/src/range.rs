//! Ranges: the immutable nodes of a tree, named by the hash of their content, and the
//! content-defined chunker that cuts a sorted sequence into them.
//!
//! A tree is a prolly tree. Level 0 ranges hold entries in path order; a range of level
//! `L > 0` lists level `L - 1` ranges by their key span. A range ends after an item whose
//! key (a path, or a child's last path) hashes to a boundary for its level, so cut points
//! depend on keys alone: a change rewrites the ranges on its path from leaf to root (and
//! at most a neighbour where it adds or removes a boundary), and every other range keeps
//! its name. Commit, diff and merge therefore cost O(change x log(size)), and two trees
//! share every unchanged subtree.

use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::entry::PathEntry;
use crate::error::{Error, Result};

/// One item in this many ends a range, on average (the default).
pub const DEFAULT_AVERAGE_ITEMS: u64 = 32;
/// A range never holds more than this many times the average, whatever the hashes say.
const MAX_OVER_AVERAGE: u64 = 8;

/// A reference to a child range, with the span and totals of its subtree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChildRef {
    /// Content hash of the encoded child range.
    pub id: String,
    /// First path in the subtree.
    pub min_key: String,
    /// Last path in the subtree.
    pub max_key: String,
    /// Entries in the subtree.
    pub count: u64,
    /// Sum of the entries' object sizes.
    pub size: u64,
}

/// A range as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Node {
    /// Level 0: entries in path order.
    Leaf(Vec<PathEntry>),
    /// Level `level >= 1`: child ranges in path order.
    Inner {
        /// The level, 1 for parents of leaves.
        level: u8,
        /// The children.
        children: Vec<ChildRef>,
    },
}

impl Node {
    /// The empty tree's only range.
    pub fn empty() -> Self {
        Node::Leaf(Vec::new())
    }

    /// 0 for leaves.
    pub fn level(&self) -> u8 {
        match self {
            Node::Leaf(_) => 0,
            Node::Inner { level, .. } => *level,
        }
    }

    /// Number of items (entries or children).
    pub fn len(&self) -> usize {
        match self {
            Node::Leaf(e) => e.len(),
            Node::Inner { children, .. } => children.len(),
        }
    }

    /// True when the node has no item (only the empty tree's root).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn encode_with_id(&self) -> (String, Vec<u8>) {
        let bytes = crate::node_codec::encode(self);
        (encoding::content_id(&bytes), bytes)
    }

    /// Decode a stored node and check its shape, so that a damaged node is a `Corrupt`
    /// error here and never a panic in a reader that trusts it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let node = crate::node_codec::decode(bytes)?;
        match &node {
            Node::Inner { level: 0, .. } => Err(Error::corrupt("inner range at level 0")),
            Node::Inner { children, .. } if children.is_empty() => {
                Err(Error::corrupt("inner range without children"))
            }
            Node::Inner { children, .. }
                if children.windows(2).any(|w| w[0].max_key >= w[1].min_key)
                    || children.iter().any(|c| c.min_key > c.max_key) =>
            {
                Err(Error::corrupt("inner range's children are out of order"))
            }
            Node::Leaf(entries) if entries.windows(2).any(|w| w[0].0 >= w[1].0) => {
                Err(Error::corrupt("leaf range's paths are out of order"))
            }
            _ => Ok(node),
        }
    }

    /// A reference to this node, for its parent.
    pub(crate) fn child_ref(&self, id: String) -> Option<ChildRef> {
        let (min_key, max_key, count, size) = match self {
            Node::Leaf(e) => (
                e.first()?.0.clone(),
                e.last()?.0.clone(),
                e.len() as u64,
                e.iter().map(|(_, x)| x.size).sum(),
            ),
            Node::Inner { children: c, .. } => (
                c.first()?.min_key.clone(),
                c.last()?.max_key.clone(),
                c.iter().map(|x| x.count).sum(),
                c.iter().map(|x| x.size).sum(),
            ),
        };
        Some(ChildRef {
            id,
            min_key,
            max_key,
            count,
            size,
        })
    }
}

/// What the chunker needs of an item.
pub(crate) trait Item: Clone {
    /// The key that orders items and decides boundaries.
    fn key(&self) -> &str;
    /// A node made of `items` at `level`.
    fn node(items: Vec<Self>, level: u8) -> Node;
}

impl Item for PathEntry {
    fn key(&self) -> &str {
        &self.0
    }
    fn node(items: Vec<Self>, _level: u8) -> Node {
        Node::Leaf(items)
    }
}

impl Item for ChildRef {
    fn key(&self) -> &str {
        &self.max_key
    }
    fn node(items: Vec<Self>, level: u8) -> Node {
        Node::Inner {
            level,
            children: items,
        }
    }
}

/// FNV-1a over the level and the key: stable across versions and platforms, as a boundary
/// rule must be, and independent between levels.
fn boundary_hash(level: u8, key: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in std::iter::once(level).chain(key.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    // FNV's low bits mix poorly for short inputs; fold the high half in.
    h ^ (h >> 29)
}

/// A range the chunker finished: its reference and its encoded bytes.
pub(crate) struct BuiltRange {
    pub child: ChildRef,
    pub node: std::sync::Arc<Node>,
    pub bytes: Vec<u8>,
}

/// Cuts a sorted sequence of items of one level into ranges.
pub(crate) struct Chunker<T: Item> {
    level: u8,
    average: u64,
    pending: Vec<T>,
    built: Vec<BuiltRange>,
}

impl<T: Item> Chunker<T> {
    /// A chunker for `level` that ends a range after one item in `average`, on average.
    pub fn new(level: u8, average: u64) -> Self {
        Self {
            level,
            average: average.max(2),
            pending: Vec::new(),
            built: Vec::new(),
        }
    }

    /// True when no item waits for a boundary.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Add the next item; keys must arrive in strictly increasing order.
    pub fn push(&mut self, item: T) {
        debug_assert!(self.pending.last().is_none_or(|p| p.key() < item.key()));
        let boundary = boundary_hash(self.level, item.key()).is_multiple_of(self.average);
        self.pending.push(item);
        if boundary || self.pending.len() as u64 >= MAX_OVER_AVERAGE * self.average {
            self.cut();
        }
    }

    /// Ranges finished since the last call.
    pub fn take_built(&mut self) -> Vec<BuiltRange> {
        std::mem::take(&mut self.built)
    }

    /// Close the last range and return every range not yet taken.
    pub fn finish(mut self) -> Vec<BuiltRange> {
        self.take_remaining()
    }

    /// Close the last range and take every range not yet taken.
    pub fn take_remaining(&mut self) -> Vec<BuiltRange> {
        self.cut();
        std::mem::take(&mut self.built)
    }

    fn cut(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let node = T::node(std::mem::take(&mut self.pending), self.level);
        let (id, bytes) = node.encode_with_id();
        let child = node.child_ref(id).expect("a cut range is not empty");
        self.built.push(BuiltRange {
            child,
            node: std::sync::Arc::new(node),
            bytes,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Entry;

    fn entries(n: usize) -> Vec<PathEntry> {
        (0..n)
            .map(|i| {
                (
                    format!("k/{i:08}"),
                    Entry::new(format!("a{i}"), i as u64, "e"),
                )
            })
            .collect()
    }

    fn chunk(items: Vec<PathEntry>) -> Vec<BuiltRange> {
        let mut c = Chunker::new(0, DEFAULT_AVERAGE_ITEMS);
        for e in items {
            c.push(e);
        }
        c.finish()
    }

    #[test]
    fn cuts_are_content_defined() {
        let all = entries(20_000);
        let ranges = chunk(all.clone());
        let n = ranges.len() as u64;
        assert!(
            n > 20_000 / DEFAULT_AVERAGE_ITEMS / 2 && n < 20_000 / DEFAULT_AVERAGE_ITEMS * 2,
            "{n} ranges"
        );
        let total: u64 = ranges.iter().map(|r| r.child.count).sum();
        assert_eq!(total, 20_000);

        // Remove one entry in the middle: all but one or two ranges keep their ids.
        let mut fewer = all;
        fewer.remove(10_000);
        let other = chunk(fewer);
        let ids: std::collections::HashSet<_> = ranges.iter().map(|r| &r.child.id).collect();
        let changed = other.iter().filter(|r| !ids.contains(&r.child.id)).count();
        assert!(changed <= 2, "{changed} ranges changed");
    }

    #[test]
    fn node_round_trip() {
        let n = Node::Leaf(entries(3));
        let (id, bytes) = n.encode_with_id();
        assert_eq!(Node::decode(&bytes).unwrap(), n);
        let r = n.child_ref(id).unwrap();
        assert_eq!(
            (r.min_key.as_str(), r.max_key.as_str(), r.count),
            ("k/00000000", "k/00000002", 3)
        );
        assert!(Node::empty().child_ref("x".into()).is_none());
    }
}
