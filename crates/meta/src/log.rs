//! History: walking commits from a ref, newest first.

use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use crate::commit::{Commit, CommitId};
use crate::diff::TreeDiff;
use crate::engine::Engine;
use crate::error::Result;
use crate::repo::Repository;

/// How to walk history.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Follow only first parents (the branch's own line).
    pub first_parent: bool,
    /// Start after this commit id (paging).
    pub after: Option<CommitId>,
    /// At most this many commits; 0 means 100.
    pub limit: usize,
}

/// Which commits a log answers with (lakeFS's `logCommits` filters). The default keeps all.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only commits that changed one of these paths (against their first parent).
    pub objects: Vec<String>,
    /// Only commits that changed a path under one of these prefixes.
    pub prefixes: Vec<String>,
    /// Only commits created at or after this time (milliseconds since the Unix epoch).
    pub since_ms: Option<i64>,
    /// Stop the walk at this ref's commit (included when it matches).
    pub stop_at: Option<String>,
}

impl LogFilter {
    fn by_paths(&self) -> bool {
        !self.objects.is_empty() || !self.prefixes.is_empty()
    }
}

/// A page of history.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// Commits, newest first.
    pub commits: Vec<(CommitId, Arc<Commit>)>,
    /// More commits follow.
    pub has_more: bool,
}

#[derive(PartialEq, Eq)]
struct Queued {
    generation: u64,
    created_ms: i64,
    id: CommitId,
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.generation, self.created_ms, &self.id).cmp(&(
            other.generation,
            other.created_ms,
            &other.id,
        ))
    }
}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Engine {
    /// Commits reachable from `reference`, children before parents.
    pub async fn log(&self, repo: &str, reference: &str, options: &LogOptions) -> Result<LogPage> {
        self.log_filtered(repo, reference, options, &LogFilter::default())
            .await
    }

    /// [`log`](Self::log) of the commits `filter` keeps; paging (`after`, `limit`) counts
    /// only those.
    pub async fn log_filtered(
        &self,
        repo: &str,
        reference: &str,
        options: &LogOptions,
        filter: &LogFilter,
    ) -> Result<LogPage> {
        let repo = self.repository(repo).await?;
        let stop_at = match &filter.stop_at {
            Some(r) => Some(self.resolve(&repo, r).await?.commit),
            None => None,
        };
        let start = self.resolve(&repo, reference).await?.commit;
        let limit = if options.limit == 0 {
            100
        } else {
            options.limit
        };
        let mut heap = BinaryHeap::new();
        let mut seen = HashSet::new();
        let first = self.commit_record(&repo, &start).await?;
        heap.push(Queued {
            generation: first.generation,
            created_ms: first.created_ms,
            id: start.clone(),
        });
        seen.insert(start);
        let mut skipping = options.after.is_some();
        let mut page = LogPage {
            commits: Vec::new(),
            has_more: false,
        };
        while let Some(q) = heap.pop() {
            let commit = self.commit_record(&repo, &q.id).await?;
            let parents: &[CommitId] = if options.first_parent {
                &commit.parents[..commit.parents.len().min(1)]
            } else {
                &commit.parents
            };
            for p in parents {
                if seen.insert(p.clone()) {
                    let pc = self.commit_record(&repo, p).await?;
                    heap.push(Queued {
                        generation: pc.generation,
                        created_ms: pc.created_ms,
                        id: p.clone(),
                    });
                }
            }
            let last = stop_at.as_deref() == Some(q.id.as_str());
            if skipping {
                if options.after.as_deref() == Some(q.id.as_str()) {
                    skipping = false;
                }
            } else if self.keeps(&repo, filter, &commit).await? {
                if page.commits.len() == limit {
                    page.has_more = true;
                    break;
                }
                page.commits.push((q.id, commit));
            }
            if last {
                break;
            }
        }
        Ok(page)
    }

    /// Whether `filter` keeps `commit`: its time, and whether it changed one of the
    /// filter's paths against its first parent (a root commit against the empty tree).
    async fn keeps(&self, repo: &Repository, filter: &LogFilter, commit: &Commit) -> Result<bool> {
        if filter
            .since_ms
            .is_some_and(|since| commit.created_ms < since)
        {
            return Ok(false);
        }
        if !filter.by_paths() {
            return Ok(true);
        }
        let trees = &self.inner.trees;
        let parent_tree = match commit.parents.first() {
            Some(p) => self.commit_tree(repo, p).await?,
            // Every repository stores the empty tree's range with its first commit.
            None => crate::tree::TreeStore::empty_root().0,
        };
        if parent_tree == commit.tree {
            return Ok(false);
        }
        for path in &filter.objects {
            let before = trees.get(&repo.instance, &parent_tree, path).await?;
            let after = trees.get(&repo.instance, &commit.tree, path).await?;
            if before != after {
                return Ok(true);
            }
        }
        for prefix in &filter.prefixes {
            let mut diff = TreeDiff::new(
                trees,
                &repo.instance,
                &parent_tree,
                &commit.tree,
                prefix,
                None,
            )
            .await?;
            if diff
                .next()
                .await?
                .is_some_and(|d| d.path.starts_with(prefix.as_str()))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }
}
