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
        self.set_branch_protection_if(repo, patterns, None)
            .await
            .map(|_| ())
    }

    /// The repository's protection rules, read from the store (never the handle cache),
    /// with their version: an ETag that changes whenever the rules do.
    pub async fn branch_protection_versioned(&self, repo: &str) -> Result<(Vec<String>, String)> {
        let repo = self.repository(repo).await?;
        let raw = self.inner.kv.get(&keys::protection(&repo.instance)).await?;
        let rules = match &raw {
            Some(bytes) => encoding::decode(bytes, "branch protection rules")?,
            None => Vec::new(),
        };
        Ok((rules, protection_etag(raw.as_deref())))
    }

    /// Replace the rules when their version is still `if_match` (lakeFS's `If-Match`; any
    /// version when `None`), atomically: a concurrent change in between makes this fail
    /// with [`ErrorKind::PreconditionFailed`] rather than be lost. Returns the new version.
    pub async fn set_branch_protection_if(
        &self,
        repo: &str,
        patterns: Vec<String>,
        if_match: Option<&str>,
    ) -> Result<String> {
        let repo = self.repository(repo).await?;
        if patterns.iter().any(|p| p.is_empty()) {
            return Err(Error::invalid("a protection rule needs a pattern"));
        }
        let key = keys::protection(&repo.instance);
        let new = encoding::encode(&patterns);
        loop {
            let current = self.inner.kv.get(&key).await?;
            if let Some(tag) = if_match
                && tag.trim_matches('"') != protection_etag(current.as_deref())
            {
                return Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    "the branch protection rules changed since they were read (If-Match)",
                ));
            }
            if self
                .inner
                .kv
                .compare_and_swap(&key, current.as_deref(), Some(&new))
                .await?
            {
                break;
            }
            // Changed in between: with If-Match that is a refusal (checked above on the
            // next turn); without, write over the newer rules as asked.
        }
        self.inner
            .handles
            .remember_protection(&repo.instance, Arc::new(patterns));
        Ok(protection_etag(Some(&new)))
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

/// The version of stored protection rules (none stored: the empty list's).
fn protection_etag(raw: Option<&[u8]>) -> String {
    let empty = encoding::encode(&Vec::<String>::new());
    let bytes = raw.unwrap_or(&empty);
    blake3::hash(bytes).to_hex()[..32].to_string()
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
