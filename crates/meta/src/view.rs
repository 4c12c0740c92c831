//! What a ref shows: a committed tree, and for a branch its staging areas over it. The
//! merged cursor yields the visible entries in path order; listing builds S3-style pages
//! (prefix, delimiter, start-after) on it, seeking past whole common prefixes.

use crate::entry::{Entry, PathEntry};
use crate::error::Result;
use crate::kv::Kv;
use crate::staging::StagingCursor;
use crate::tree::{TreeCursor, TreeStore};

/// A merged, forward cursor over staging areas (first wins) and a tree.
pub(crate) struct ViewCursor<'a> {
    tree: TreeCursor<'a>,
    staged: Vec<StagingCursor<'a>>,
    /// Scratch: which staging cursors stand at the current smallest path.
    at_min: Vec<bool>,
    /// Paths stepped over because a staged deletion hid them.
    pub hidden: u64,
}

impl<'a> ViewCursor<'a> {
    pub async fn open(
        kv: &'a dyn Kv,
        trees: &'a TreeStore,
        repo: &str,
        tree: &str,
        tokens: &[String],
    ) -> Result<Self> {
        Ok(Self {
            tree: TreeCursor::open(trees, repo, tree).await?,
            staged: tokens
                .iter()
                .map(|t| StagingCursor::new(kv, repo, t))
                .collect(),
            at_min: Vec::with_capacity(tokens.len()),
            hidden: 0,
        })
    }

    pub async fn seek(&mut self, key: &[u8]) -> Result<()> {
        self.tree.seek(key).await?;
        for s in &mut self.staged {
            s.seek(key).await?;
        }
        Ok(())
    }

    /// The next visible entry.
    pub async fn next(&mut self) -> Result<Option<PathEntry>> {
        loop {
            self.tree.fill().await?;
            for s in &mut self.staged {
                s.fill().await?;
            }
            // Find the smallest path and what wins there without allocating: a run of
            // deletions over committed entries costs no more than comparing keys.
            let mut min: Option<&str> = self.tree.current().map(|(p, _)| p.as_str());
            for s in &self.staged {
                if let Some((p, _)) = s.current()
                    && min.is_none_or(|m| p.as_str() < m)
                {
                    min = Some(p);
                }
            }
            let Some(min) = min else { return Ok(None) };
            let mut winner: Option<Option<&Entry>> = None;
            self.at_min.clear();
            for s in &self.staged {
                let hit = s.current().filter(|(p, _)| p == min);
                if let Some((_, v)) = hit
                    && winner.is_none()
                {
                    winner = Some(v.as_ref());
                }
                self.at_min.push(hit.is_some());
            }
            let tree_hit = self.tree.current().filter(|(p, _)| p == min);
            if let Some((_, e)) = tree_hit
                && winner.is_none()
            {
                winner = Some(Some(e));
            }
            let tree_hit = tree_hit.is_some();
            let found = match winner {
                Some(Some(e)) => Some((min.to_string(), e.clone())),
                _ => None,
            };
            for (s, hit) in self.staged.iter_mut().zip(&self.at_min) {
                if *hit {
                    s.advance();
                }
            }
            if tree_hit {
                self.tree.advance();
            }
            if found.is_some() {
                return Ok(found);
            }
            self.hidden += 1;
        }
    }
}

/// How to list.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Only paths that start with this.
    pub prefix: String,
    /// Group paths that contain this after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// Only paths (and common prefixes) strictly after this one.
    pub after: Option<String>,
    /// At most this many items (objects plus common prefixes); 0 means 1000.
    pub limit: usize,
}

/// One item of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListItem {
    /// An object.
    Object(String, Entry),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

impl ListItem {
    /// The path or common prefix.
    pub fn key(&self) -> &str {
        match self {
            ListItem::Object(p, _) => p,
            ListItem::Prefix(p) => p,
        }
    }
}

/// A page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Items in key order.
    pub items: Vec<ListItem>,
    /// More items follow the last one.
    pub has_more: bool,
}

/// The smallest byte string greater than every string that starts with `prefix`.
fn past_prefix(prefix: &str) -> Vec<u8> {
    // UTF-8 never contains 0xff, so incrementing the last byte is always possible.
    let mut k = prefix.as_bytes().to_vec();
    if let Some(last) = k.last_mut() {
        *last += 1;
    }
    k
}

/// Where a page of paths under `prefix` and strictly after `after` starts.
pub(crate) fn page_start(prefix: &str, after: Option<&str>) -> Vec<u8> {
    match after {
        Some(after) if after.as_bytes() >= prefix.as_bytes() => {
            let mut start = after.as_bytes().to_vec();
            start.push(0);
            start
        }
        _ => prefix.as_bytes().to_vec(),
    }
}

pub(crate) async fn list(cursor: &mut ViewCursor<'_>, opts: &ListOptions) -> Result<ListPage> {
    let limit = if opts.limit == 0 { 1000 } else { opts.limit };
    cursor
        .seek(&page_start(&opts.prefix, opts.after.as_deref()))
        .await?;
    let delimiter = opts.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut page = ListPage::default();
    while let Some((path, entry)) = cursor.next().await? {
        if !path.starts_with(&opts.prefix) {
            break;
        }
        let item = match delimiter.and_then(|d| {
            path[opts.prefix.len()..]
                .find(d)
                .map(|i| path[..opts.prefix.len() + i + d.len()].to_string())
        }) {
            Some(common) => {
                cursor.seek(&past_prefix(&common)).await?;
                // A continuation marker that is this common prefix was returned already;
                // a start-after inside it still shows it, as S3 does.
                if opts.after.as_deref() == Some(common.as_str()) {
                    continue;
                }
                ListItem::Prefix(common)
            }
            None => ListItem::Object(path, entry),
        };
        if page.items.len() == limit {
            page.has_more = true;
            break;
        }
        page.items.push(item);
    }
    Ok(page)
}
