//! Branch protection: branches whose names match a repository's rules change only by merge.
//! Direct writes, commits, resets, reverts and deletion are refused, by S3 and API alike,
//! because every one of them goes through the checks here.

use std::sync::Arc;

use crate::encoding;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::KvExt;
use crate::repo::Repository;

/// Does `name` match the glob `pattern` (`*` is any run of characters, `?` one)?
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative matching with backtracking to the last '*'.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Engine {
    /// The repository's protection rules (glob patterns of branch names).
    pub async fn branch_protection(&self, repo: &str) -> Result<Vec<String>> {
        let repo = self.repository(repo).await?;
        self.rules_of(&repo).await
    }

    /// Replace the repository's protection rules.
    pub async fn set_branch_protection(&self, repo: &str, patterns: Vec<String>) -> Result<()> {
        let repo = self.repository(repo).await?;
        if patterns.iter().any(|p| p.is_empty()) {
            return Err(Error::invalid("a protection rule needs a pattern"));
        }
        self.inner
            .kv
            .put(
                &keys::protection(&repo.instance),
                &encoding::encode(&patterns),
            )
            .await?;
        self.inner
            .handles
            .remember_protection(&repo.instance, Arc::new(patterns));
        Ok(())
    }

    /// Served from the repository handles within [`HANDLE_TTL`](crate::HANDLE_TTL): a rule
    /// set through another sidecar applies here within that time.
    async fn rules_of(&self, repo: &Repository) -> Result<Vec<String>> {
        if let Some(rules) = self.inner.handles.protection(&repo.instance) {
            return Ok(rules.as_ref().clone());
        }
        let rules: Vec<String> = match self.inner.kv.get(&keys::protection(&repo.instance)).await? {
            Some(bytes) => encoding::decode(&bytes, "branch protection rules")?,
            None => Vec::new(),
        };
        self.inner
            .handles
            .remember_protection(&repo.instance, Arc::new(rules.clone()));
        Ok(rules)
    }

    /// Refuse `action` on a protected branch.
    pub(crate) async fn check_unprotected(
        &self,
        repo: &Repository,
        branch: &str,
        action: &str,
    ) -> Result<()> {
        let rules = self.rules_of(repo).await?;
        if let Some(rule) = rules.iter().find(|p| glob_matches(p, branch)) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "cannot {action} protected branch {branch:?} (rule {rule:?}); it changes only by merge"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs() {
        assert!(glob_matches("main", "main"));
        assert!(!glob_matches("main", "main2"));
        assert!(glob_matches("release-*", "release-1.2"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("r?l*-x", "rel-9-x"));
        assert!(!glob_matches("release-*", "dev"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXbYY"));
    }
}
