//! History: walking commits from a ref, newest first.

use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use crate::commit::{Commit, CommitId};
use crate::engine::Engine;
use crate::error::Result;

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
        let repo = self.repository(repo).await?;
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
            if skipping {
                if options.after.as_deref() == Some(q.id.as_str()) {
                    skipping = false;
                }
                continue;
            }
            if page.commits.len() == limit {
                page.has_more = true;
                break;
            }
            page.commits.push((q.id, commit));
        }
        Ok(page)
    }
}
