//! Branches: a name pointing at a head commit, plus the staging tokens of its uncommitted
//! changes. Creating a branch writes one record, whatever the repository's size. The head
//! moves only by compare-and-swap of the whole record.

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
    /// Staging areas a commit is turning into a commit, newest first.
    pub sealed: Vec<String>,
}

impl BranchRecord {
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
        let record = BranchRecord {
            head: head.clone(),
            staging: new_token(),
            sealed: vec![],
        };
        let key = keys::branch(&repo.instance, name);
        let mut batch = WriteBatch::new();
        batch.require(key.clone(), None);
        batch.put(key, encoding::encode(&record));
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
            let record: BranchRecord = encoding::decode(&value, "branch")?;
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
            let fresh = BranchRecord {
                head: record.head.clone(),
                staging: new_token(),
                sealed: vec![],
            };
            if self
                .inner
                .kv
                .compare_and_swap(&key, Some(&bytes), Some(&encoding::encode(&fresh)))
                .await?
            {
                return self.drop_staging(&repo, &record.tokens()).await;
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during reset; try again"
        )))
    }

    /// Drop the uncommitted changes of a branch under `prefix`.
    pub async fn reset_prefix(&self, repo: &str, branch: &str, prefix: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, "reset").await?;
        let (_, record) = self.branch_record(&repo, branch).await?;
        for token in record.tokens() {
            let mut key = keys::staging_prefix(&repo.instance, &token);
            key.extend_from_slice(prefix.as_bytes());
            self.inner.kv.delete_prefix(&key, 10_000).await?;
        }
        Ok(())
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
            let fresh = BranchRecord {
                head: head.clone(),
                staging: new_token(),
                sealed: vec![],
            };
            if self
                .inner
                .kv
                .compare_and_swap(&key, Some(&bytes), Some(&encoding::encode(&fresh)))
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

    /// True when the branch has no uncommitted change.
    pub(crate) async fn staging_is_empty(
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
