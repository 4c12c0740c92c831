//! Branches: a name pointing at a head commit, plus the staging tokens of its uncommitted
//! changes and, once they have been folded (`fold.rs`), the tree that holds the older ones.
//! Creating a branch writes one record, whatever the repository's size. The head moves only
//! by compare-and-swap of the whole record.

use serde::{Deserialize, Serialize};

use crate::commit::CommitId;
use crate::encoding;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::{KvExt, WriteBatch};
use crate::page::{Page, PageRequest, scan_page};
use crate::repo::{Repository, validate_ref_name};
use crate::staging::{StagingCursor, new_token};

/// A branch as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BranchRecord {
    /// The head commit.
    pub head: CommitId,
    /// The open staging area: new writes go here.
    pub staging: String,
    /// Staging areas a commit (or a fold) is turning into a tree, newest first.
    pub sealed: Vec<String>,
    /// The head's tree with older uncommitted changes folded in: reads see the staging
    /// areas over this tree instead of the head's. `None`: nothing folded.
    pub workspace: Option<String>,
    /// Resets under a prefix so far. Each changes the record, so that a fold or commit in
    /// flight (whose last write requires the record it sealed) cannot bring back what the
    /// reset dropped.
    pub resets: u64,
}

/// The format byte of branch records with a workspace (format 1 records have none). An
/// older sidecar refuses a format-2 record rather than read it without its workspace.
const RECORD_V2: u8 = 2;

/// A branch record as written before folds existed (format 1: no workspace, no resets).
#[derive(Deserialize)]
struct BranchRecordV1 {
    head: CommitId,
    staging: String,
    sealed: Vec<String>,
}

impl BranchRecord {
    /// A branch at `head` with nothing uncommitted.
    pub fn clean(head: CommitId) -> Self {
        Self {
            head,
            staging: new_token(),
            sealed: vec![],
            workspace: None,
            resets: 0,
        }
    }

    /// Encode in format 2.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = encoding::encode(self);
        out[0] = RECORD_V2;
        out
    }

    /// Decode a record of format 1 (written before folds) or 2. An older sidecar reads only
    /// format 1, so every sidecar of a store must be upgraded together.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        match bytes.split_first() {
            Some((&RECORD_V2, body)) => postcard::from_bytes(body)
                .map_err(|e| Error::corrupt("cannot decode branch").with_source(e)),
            _ => {
                let old: BranchRecordV1 = encoding::decode(bytes, "branch")?;
                Ok(Self {
                    head: old.head,
                    staging: old.staging,
                    sealed: old.sealed,
                    workspace: None,
                    resets: 0,
                })
            }
        }
    }

    /// Every staging area a read must consult, in precedence order.
    pub fn tokens(&self) -> Vec<String> {
        let mut t = vec![self.staging.clone()];
        t.extend(self.sealed.iter().cloned());
        t
    }
}

/// A branch as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// Its name.
    pub name: String,
    /// Its head commit.
    pub head: CommitId,
}

/// Attempts of an operation that lost a compare-and-swap race before it reports a conflict.
/// With [`backoff`] between them, about four seconds of losing in a row.
pub(crate) const CAS_ATTEMPTS: usize = 64;

/// Wait before retry `attempt` (0-based) of a lost compare-and-swap: exponential up to
/// 64 ms, with jitter so that the racers spread out.
pub(crate) async fn backoff(attempt: usize) {
    if attempt == 0 {
        tokio::task::yield_now().await;
        return;
    }
    let cap_us = 1000u64 << attempt.min(6);
    let jitter = fastrand::u64(0..=cap_us);
    tokio::time::sleep(std::time::Duration::from_micros(cap_us / 2 + jitter / 2)).await;
}

impl Engine {
    /// Create `name` at the commit `source` resolves to. One write.
    pub async fn create_branch(&self, repo: &str, name: &str, source: &str) -> Result<Branch> {
        validate_ref_name("branch", name)?;
        let repo = self.repository(repo).await?;
        let head = self.resolve(&repo, source).await?.commit;
        let record = BranchRecord::clean(head.clone());
        let key = keys::branch(&repo.instance, name);
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), None);
        batch.put(key, record.encode());
        match self.inner.kv.write(batch).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                Err(Error::already_exists(format!("branch {name:?}")))
            }
            Err(e) => Err(e),
            Ok(()) => Ok(Branch {
                name: name.to_string(),
                head,
            }),
        }
    }

    /// A branch.
    pub async fn branch(&self, repo: &str, name: &str) -> Result<Branch> {
        let repo = self.repository(repo).await?;
        let (_, record) = self.branch_record(&repo, name).await?;
        Ok(Branch {
            name: name.to_string(),
            head: record.head,
        })
    }

    /// A page of branches in name order, the prefix applied while scanning.
    pub async fn list_branches(&self, repo: &str, request: &PageRequest) -> Result<Page<Branch>> {
        let repo = self.repository(repo).await?;
        let page = scan_page(
            self.inner.kv.as_ref(),
            &keys::branch_prefix(&repo.instance),
            request,
            |_, _| Ok(true),
        )
        .await?;
        let mut items = Vec::with_capacity(page.items.len());
        for (name, value) in page.items {
            let record = BranchRecord::decode(&value)?;
            items.push(Branch {
                name,
                head: record.head,
            });
        }
        Ok(Page {
            items,
            has_more: page.has_more,
        })
    }

    /// Delete a branch (never the default one) and its uncommitted changes.
    pub async fn delete_branch(&self, repo: &str, name: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        if name == repo.default_branch {
            return Err(Error::invalid(format!(
                "branch {name:?} is the repository's default branch and cannot be deleted"
            )));
        }
        self.check_unprotected(&repo, name, "delete").await?;
        let (bytes, record) = self.branch_record(&repo, name).await?;
        let key = keys::branch(&repo.instance, name);
        if !self
            .inner
            .kv
            .compare_and_swap(&key, Some(&bytes), None)
            .await?
        {
            return Err(Error::conflict(format!(
                "branch {name:?} changed while being deleted; try again"
            )));
        }
        self.drop_staging(&repo, &record.tokens()).await
    }

    /// Drop every uncommitted change of a branch.
    pub async fn reset_branch(&self, repo: &str, branch: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, "reset").await?;
        let key = keys::branch(&repo.instance, branch);
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo, branch).await?;
            let fresh = BranchRecord::clean(record.head.clone());
            if self
                .inner
                .kv
                .compare_and_swap(&key, Some(&bytes), Some(&fresh.encode()))
                .await?
            {
                return self.drop_staging(&repo, &record.tokens()).await;
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during reset; try again"
        )))
    }

    /// Drop the uncommitted changes of a branch under `prefix`: folded ones, by restoring
    /// the head's entries there in the workspace tree, and staged ones. The record changes
    /// first, so that a fold or commit in flight cannot land what is being dropped; and the
    /// whole is done again when one landed before the staged ones were gone.
    pub async fn reset_prefix(&self, repo: &str, branch: &str, prefix: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, "reset").await?;
        let key = keys::branch(&repo.instance, branch);
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo, branch).await?;
            let mut batch = WriteBatch::new();
            let mut workspace = record.workspace.clone();
            if let Some(tree) = &record.workspace {
                let head_tree = self.commit_tree(&repo, &record.head).await?;
                let restored = self
                    .replay_tree_diff(&repo, tree, &head_tree, tree, prefix)
                    .await?;
                workspace = (restored.id != head_tree).then(|| restored.id.clone());
                for (k, v) in restored.records {
                    batch.put(k, v);
                }
            }
            let fresh = BranchRecord {
                workspace,
                resets: record.resets + 1,
                ..record
            };
            let fresh_bytes = fresh.encode();
            batch.require(key.clone(), Some(bytes));
            batch.put(key.clone(), fresh_bytes.clone());
            match self.inner.kv.write(batch).await {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            for token in fresh.tokens() {
                let mut staged = keys::staging_prefix(&repo.instance, &token);
                staged.extend_from_slice(prefix.as_bytes());
                self.inner.kv.delete_prefix(&staged, 10_000).await?;
            }
            if self.branch_record(&repo, branch).await?.0 == fresh_bytes {
                return Ok(());
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during reset; try again"
        )))
    }

    /// Move a branch's head to `target` and drop its uncommitted changes (`git reset --hard`).
    pub async fn reset_branch_to(&self, repo: &str, branch: &str, target: &str) -> Result<Branch> {
        let repo_rec = self.repository(repo).await?;
        self.check_unprotected(&repo_rec, branch, "reset").await?;
        let head = self.resolve(&repo_rec, target).await?.commit;
        let key = keys::branch(&repo_rec.instance, branch);
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo_rec, branch).await?;
            let fresh = BranchRecord::clean(head.clone());
            if self
                .inner
                .kv
                .compare_and_swap(&key, Some(&bytes), Some(&fresh.encode()))
                .await?
            {
                self.drop_staging(&repo_rec, &record.tokens()).await?;
                return Ok(Branch {
                    name: branch.to_string(),
                    head,
                });
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during reset; try again"
        )))
    }

    /// True when the branch has no uncommitted change: nothing folded, nothing staged.
    pub(crate) async fn nothing_uncommitted(
        &self,
        repo: &Repository,
        record: &BranchRecord,
    ) -> Result<bool> {
        if let Some(tree) = &record.workspace
            && *tree != self.commit_tree(repo, &record.head).await?
        {
            return Ok(false);
        }
        self.staged_nothing(repo, record).await
    }

    /// True when none of the branch's staging areas holds a change.
    pub(crate) async fn staged_nothing(
        &self,
        repo: &Repository,
        record: &BranchRecord,
    ) -> Result<bool> {
        for token in record.tokens() {
            let mut c = StagingCursor::new(self.inner.kv.as_ref(), &repo.instance, &token);
            c.fill().await?;
            if c.current().is_some() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Delete staging areas that no branch record points at any more.
    pub(crate) async fn drop_staging(&self, repo: &Repository, tokens: &[String]) -> Result<()> {
        for token in tokens {
            self.inner
                .kv
                .delete_prefix(&keys::staging_prefix(&repo.instance, token), 10_000)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records written before folds existed still read, with nothing folded.
    #[test]
    fn records_of_the_first_layout_still_decode() {
        #[derive(Serialize)]
        struct Old {
            head: String,
            staging: String,
            sealed: Vec<String>,
        }
        let old = encoding::encode(&Old {
            head: "c1".into(),
            staging: "t1".into(),
            sealed: vec!["t0".into()],
        });
        let record = BranchRecord::decode(&old).unwrap();
        assert_eq!(record.head, "c1");
        assert_eq!(record.tokens(), ["t1", "t0"]);
        assert_eq!(record.workspace, None);
        let new = BranchRecord {
            workspace: Some("tree".into()),
            ..record
        };
        assert_eq!(new.encode()[0], RECORD_V2, "older sidecars refuse it");
        assert_eq!(BranchRecord::decode(&new.encode()).unwrap(), new);
        assert!(BranchRecord::decode(&[1, 0xff]).is_err());
    }
}
