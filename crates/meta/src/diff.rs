//! Differences between trees, and a branch's uncommitted changes. Two trees are walked
//! side by side; a range that both share by name is passed over unread, so the cost
//! follows the size of the change, not of the trees.

use crate::engine::Engine;
use crate::entry::Entry;
use crate::error::Result;
use crate::staging::MergedStaging;
use crate::tree::{Peek, TreeCursor, TreeStore};

/// How a path differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Only on the right.
    Added,
    /// Only on the left.
    Removed,
    /// On both, different.
    Changed,
}

/// One differing path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffEntry {
    /// The path.
    pub path: String,
    /// How it differs.
    pub kind: ChangeKind,
    /// The entry on the left (the old side), if any.
    pub left: Option<Entry>,
    /// The entry on the right (the new side), if any.
    pub right: Option<Entry>,
}

/// How to diff.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Only paths under this prefix.
    pub prefix: String,
    /// Only paths strictly after this one (paging).
    pub after: Option<String>,
    /// At most this many; 0 means 1000.
    pub limit: usize,
}

/// A page of differences.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffPage {
    /// Differences in path order.
    pub changes: Vec<DiffEntry>,
    /// More follow.
    pub has_more: bool,
}

/// Walks two trees and yields their differences in path order.
pub(crate) struct TreeDiff<'a> {
    left: TreeCursor<'a>,
    right: TreeCursor<'a>,
    prefix: String,
}

impl<'a> TreeDiff<'a> {
    pub async fn new(
        store: &'a TreeStore,
        repo: &str,
        left: &str,
        right: &str,
        prefix: &str,
        after: Option<&str>,
    ) -> Result<Self> {
        let mut d = Self {
            left: TreeCursor::open(store, repo, left).await?,
            right: TreeCursor::open(store, repo, right).await?,
            prefix: prefix.to_string(),
        };
        if left == right {
            // Same tree: nothing differs. Skipping both roots ends both walks.
            d.left.skip();
            d.right.skip();
            return Ok(d);
        }
        let mut start = prefix.as_bytes().to_vec();
        if let Some(a) = after
            && a.as_bytes() >= start.as_slice()
        {
            start = a.as_bytes().to_vec();
            start.push(0);
        }
        if !start.is_empty() {
            d.left.seek(&start).await?;
            d.right.seek(&start).await?;
        }
        Ok(d)
    }

    pub async fn next(&mut self) -> Result<Option<DiffEntry>> {
        loop {
            let (lp, rp) = (self.left.peek(), self.right.peek());
            // A subtree both sides share by name holds no difference.
            if let (Peek::Subtree(a, la), Peek::Subtree(b, lb)) = (&lp, &rp)
                && la == lb
                && a.id == b.id
            {
                self.left.skip();
                self.right.skip();
                continue;
            }
            let min = match (lp.key(), rp.key()) {
                (None, None) => return Ok(None),
                (Some(l), None) => l,
                (None, Some(r)) => r,
                (Some(l), Some(r)) => l.min(r),
            }
            .to_string();
            if !min.starts_with(&self.prefix) && min.as_str() > self.prefix.as_str() {
                return Ok(None);
            }
            // Read a subtree only when its first path is the next one to compare, and then
            // one level at a time (the higher one first), so that equal subtrees further
            // down can still be passed over.
            let level = |p: &Peek<'_>| match p {
                Peek::Subtree(r, level) if r.min_key == min => Some(*level),
                _ => None,
            };
            match (level(&lp), level(&rp)) {
                (Some(l), Some(r)) => {
                    if l >= r {
                        self.left.descend().await?;
                    }
                    if r >= l {
                        self.right.descend().await?;
                    }
                    continue;
                }
                (Some(_), None) => {
                    self.left.descend().await?;
                    continue;
                }
                (None, Some(_)) => {
                    self.right.descend().await?;
                    continue;
                }
                (None, None) => {}
            }
            let l = match lp {
                Peek::Entry(e) if e.0 == min => Some(e.1.clone()),
                _ => None,
            };
            let r = match rp {
                Peek::Entry(e) if e.0 == min => Some(e.1.clone()),
                _ => None,
            };
            if l.is_some() {
                self.left.advance();
            }
            if r.is_some() {
                self.right.advance();
            }
            let kind = match (&l, &r) {
                (Some(a), Some(b)) if a == b => continue,
                (Some(_), Some(_)) => ChangeKind::Changed,
                (Some(_), None) => ChangeKind::Removed,
                (None, Some(_)) => ChangeKind::Added,
                (None, None) => unreachable!("min came from one side"),
            };
            if !min.starts_with(&self.prefix) {
                continue;
            }
            return Ok(Some(DiffEntry {
                path: min,
                kind,
                left: l,
                right: r,
            }));
        }
    }
}

impl Engine {
    /// Differences from `left` to `right` (committed states of both refs).
    pub async fn diff(
        &self,
        repo: &str,
        left: &str,
        right: &str,
        options: &DiffOptions,
    ) -> Result<DiffPage> {
        let repo = self.repository(repo).await?;
        let l = self.resolve(&repo, left).await?.commit;
        let r = self.resolve(&repo, right).await?.commit;
        let lt = self.commit_tree(&repo, &l).await?;
        let rt = self.commit_tree(&repo, &r).await?;
        self.diff_trees(&repo.instance, &lt, &rt, options).await
    }

    /// Differences between two trees by root range id (for checks that see a would-be tree).
    pub async fn diff_tree_ids(
        &self,
        repo: &str,
        left_tree: &str,
        right_tree: &str,
        options: &DiffOptions,
    ) -> Result<DiffPage> {
        let repo = self.repository(repo).await?;
        self.diff_trees(&repo.instance, left_tree, right_tree, options)
            .await
    }

    async fn diff_trees(
        &self,
        instance: &str,
        left: &str,
        right: &str,
        options: &DiffOptions,
    ) -> Result<DiffPage> {
        let limit = if options.limit == 0 {
            1000
        } else {
            options.limit
        };
        let mut walk = TreeDiff::new(
            &self.inner.trees,
            instance,
            left,
            right,
            &options.prefix,
            options.after.as_deref(),
        )
        .await?;
        let mut page = DiffPage::default();
        while let Some(d) = walk.next().await? {
            if page.changes.len() == limit {
                page.has_more = true;
                break;
            }
            page.changes.push(d);
        }
        Ok(page)
    }

    /// A branch's uncommitted changes against its head: those folded into its workspace
    /// tree (a diff of two trees), with the staged ones over them.
    pub async fn diff_uncommitted(
        &self,
        repo: &str,
        branch: &str,
        options: &DiffOptions,
    ) -> Result<DiffPage> {
        let repo = self.repository(repo).await?;
        let (bytes, record) = self.branch_record(&repo, branch).await?;
        let mut resolved = crate::refs::ResolvedRef::of_record(branch, &record, bytes);
        for _ in 0..crate::branch::CAS_ATTEMPTS {
            let page = self.uncommitted_page(&repo, &resolved, options).await?;
            // The staging areas read may have been emptied into a tree meanwhile.
            match self.re_resolved(&repo, &resolved).await? {
                None => return Ok(page),
                Some(next) => resolved = next,
            }
        }
        Err(crate::object::changing())
    }

    async fn uncommitted_page(
        &self,
        repo: &crate::repo::Repository,
        branch: &crate::refs::ResolvedRef,
        options: &DiffOptions,
    ) -> Result<DiffPage> {
        let limit = if options.limit == 0 {
            1000
        } else {
            options.limit
        };
        let mut staged = MergedStaging::new(self.inner.kv.as_ref(), &repo.instance, &branch.tokens);
        staged
            .seek(&crate::view::page_start(
                &options.prefix,
                options.after.as_deref(),
            ))
            .await?;
        let tree = self.commit_tree(repo, &branch.commit).await?;
        let mut folded = match &branch.workspace {
            Some(workspace) => Some(
                TreeDiff::new(
                    &self.inner.trees,
                    &repo.instance,
                    &tree,
                    workspace,
                    &options.prefix,
                    options.after.as_deref(),
                )
                .await?,
            ),
            None => None,
        };
        let mut next_folded = next_of(&mut folded).await?;
        let mut cursor = TreeCursor::open(&self.inner.trees, &repo.instance, &tree).await?;
        let mut page = DiffPage::default();
        loop {
            let staged_path = staged
                .peek()
                .await?
                .filter(|p| p.starts_with(&options.prefix))
                .map(str::to_string);
            let change = match (next_folded.take(), staged_path) {
                (None, None) => break,
                (Some(f), s) if s.as_ref().is_none_or(|s| f.path < *s) => {
                    next_folded = next_of(&mut folded).await?;
                    f
                }
                (f, _) => {
                    let (path, value) = staged.take().expect("peeked a staged change");
                    // A staged change overrides a folded one at its path.
                    next_folded = match f {
                        Some(f) if f.path == path => next_of(&mut folded).await?,
                        other => other,
                    };
                    cursor.seek(path.as_bytes()).await?;
                    let committed = cursor
                        .current()
                        .filter(|(p, _)| *p == path)
                        .map(|(_, e)| e.clone());
                    let kind = match (&committed, &value) {
                        (None, None) => continue,
                        (Some(a), Some(b)) if a == b => continue,
                        (Some(_), Some(_)) => ChangeKind::Changed,
                        (Some(_), None) => ChangeKind::Removed,
                        (None, Some(_)) => ChangeKind::Added,
                    };
                    DiffEntry {
                        path,
                        kind,
                        left: committed,
                        right: value,
                    }
                }
            };
            if page.changes.len() == limit {
                page.has_more = true;
                break;
            }
            page.changes.push(change);
        }
        Ok(page)
    }
}

/// The next difference of an optional tree walk.
async fn next_of(walk: &mut Option<TreeDiff<'_>>) -> Result<Option<DiffEntry>> {
    match walk {
        Some(w) => w.next().await,
        None => Ok(None),
    }
}
