//! Retention rules (lakeFS's garbage collection rules): how many days of each branch's
//! history keep their objects. Without rules, every commit reachable from a branch or a tag
//! is kept. With them, garbage collection keeps, for each branch, its head and the
//! ancestors created within the branch's retention period (its own rule, or the default);
//! a tagged commit keeps its own objects. Objects only older commits reach are collected.

use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::KvExt;

/// A repository's retention rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRules {
    /// Days of history kept on a branch without a rule of its own.
    pub default_retention_days: u32,
    /// Branches with their own period.
    pub branches: Vec<BranchRetention>,
}

/// One branch's retention period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchRetention {
    /// The branch.
    pub branch_id: String,
    /// Days of its history kept.
    pub retention_days: u32,
}

impl RetentionRules {
    /// The retention period of `branch`, in days.
    pub fn days_for(&self, branch: &str) -> u32 {
        self.branches
            .iter()
            .find(|b| b.branch_id == branch)
            .map(|b| b.retention_days)
            .unwrap_or(self.default_retention_days)
    }
}

impl Engine {
    /// The repository's retention rules, if set.
    pub async fn retention_rules(&self, repo: &str) -> Result<Option<RetentionRules>> {
        let repo = self.repository(repo).await?;
        match self.inner.kv.get(&keys::retention(&repo.instance)).await? {
            Some(bytes) => Ok(Some(encoding::decode(&bytes, "retention rules")?)),
            None => Ok(None),
        }
    }

    /// Replace the repository's retention rules.
    pub async fn set_retention_rules(&self, repo: &str, rules: &RetentionRules) -> Result<()> {
        let repo = self.repository(repo).await?;
        let mut seen = std::collections::HashSet::new();
        for b in &rules.branches {
            if b.branch_id.is_empty() {
                return Err(Error::invalid("a branch retention rule needs a branch_id"));
            }
            if !seen.insert(&b.branch_id) {
                return Err(Error::invalid(format!(
                    "branch {:?} has two retention rules",
                    b.branch_id
                )));
            }
        }
        self.inner
            .kv
            .put(&keys::retention(&repo.instance), &encoding::encode(rules))
            .await
    }

    /// Remove the repository's retention rules: every reachable commit is kept again.
    pub async fn delete_retention_rules(&self, repo: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        self.inner.kv.delete(&keys::retention(&repo.instance)).await
    }
}
