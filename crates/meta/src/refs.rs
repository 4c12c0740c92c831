//! Ref expressions: a branch, a tag, a full or unique-prefix commit id, optionally followed
//! by `~N` (N first-parent steps back) and `^N` (the N-th parent), any number of times.
//! A bare branch name reads the branch with its uncommitted changes; `branch@` reads only
//! its committed state, as in lakeFS.

use crate::commit::CommitId;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::prefix_end;
use crate::repo::Repository;

/// What a ref expression names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRef {
    /// The commit.
    pub commit: CommitId,
    /// The branch, when the expression is a bare branch name (reads include its staging).
    pub branch: Option<String>,
    /// The staging tokens to read over the commit, in precedence order.
    pub(crate) tokens: Vec<String>,
    /// The branch's folded tree, read under the tokens instead of the commit's tree.
    pub(crate) workspace: Option<String>,
    /// The branch record these were read from, for reads to check that it still stands.
    pub(crate) record: Option<Vec<u8>>,
}

impl ResolvedRef {
    /// A bare branch, from its record as stored.
    pub(crate) fn branch(name: &str, bytes: Vec<u8>) -> Result<Self> {
        let record = crate::branch::BranchRecord::decode(&bytes)?;
        Ok(Self::of_record(name, &record, bytes))
    }

    /// A bare branch, from its record decoded and as stored.
    pub(crate) fn of_record(
        name: &str,
        record: &crate::branch::BranchRecord,
        bytes: Vec<u8>,
    ) -> Self {
        Self {
            commit: record.head.clone(),
            branch: Some(name.to_string()),
            tokens: record.tokens(),
            workspace: record.workspace.clone(),
            record: Some(bytes),
        }
    }
}

/// One `~N` or `^N` step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Follow the first parent N times.
    Ancestor(usize),
    /// Take the N-th parent (1-based); `^0` is the commit itself.
    Parent(usize),
}

fn parse(expr: &str) -> Result<(&str, Vec<Step>)> {
    let bad = || Error::invalid(format!("invalid ref expression {expr:?}"));
    let split = expr.find(['~', '^']).unwrap_or(expr.len());
    let (base, mut rest) = expr.split_at(split);
    if base.is_empty() {
        return Err(bad());
    }
    let mut steps = Vec::new();
    while let Some(op) = rest.chars().next() {
        // Only `~` and `^` start a step; anything else (any character, of any width) is
        // refused before the text is cut.
        if op != '~' && op != '^' {
            return Err(bad());
        }
        rest = &rest[op.len_utf8()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n = if digits == 0 {
            1
        } else {
            rest[..digits].parse().map_err(|_| bad())?
        };
        rest = &rest[digits..];
        steps.push(match op {
            '~' => Step::Ancestor(n),
            '^' => Step::Parent(n),
            _ => return Err(bad()),
        });
    }
    Ok((base, steps))
}

fn is_hex(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl Engine {
    /// Resolve a ref expression in a repository.
    pub async fn resolve_ref(&self, repo: &str, expr: &str) -> Result<ResolvedRef> {
        let repo = self.repository(repo).await?;
        self.resolve(&repo, expr).await
    }

    /// The same branch as `resolved`, read again when its record changed since; `None`
    /// when it stands (or `resolved` is no bare branch, or the branch is gone). Commits and
    /// folds delete the staging areas they turned into a tree right after swapping the
    /// record, so a read that resolved the old record and then looked into an area may
    /// have missed what it held: such a read is done again on the new record.
    pub(crate) async fn re_resolved(
        &self,
        repo: &Repository,
        resolved: &ResolvedRef,
    ) -> Result<Option<ResolvedRef>> {
        let (Some(branch), Some(bytes)) = (&resolved.branch, &resolved.record) else {
            return Ok(None);
        };
        match self
            .inner
            .kv
            .get(&keys::branch(&repo.instance, branch))
            .await?
        {
            Some(now) if now != *bytes => Ok(Some(ResolvedRef::branch(branch, now)?)),
            _ => Ok(None),
        }
    }

    pub(crate) async fn resolve(&self, repo: &Repository, expr: &str) -> Result<ResolvedRef> {
        let (base, steps) = parse(expr)?;
        let (committed_only, base) = match base.strip_suffix('@') {
            Some(b) => (true, b),
            None => (false, base),
        };
        let mut resolved = self.resolve_base(repo, base).await?;
        if committed_only {
            resolved.branch = None;
            resolved.tokens.clear();
            resolved.workspace = None;
            resolved.record = None;
        }
        if steps.is_empty() {
            return Ok(resolved);
        }
        let mut commit = resolved.commit;
        for step in steps {
            commit = match step {
                Step::Parent(0) => commit,
                Step::Parent(n) => {
                    let c = self.commit_record(repo, &commit).await?;
                    c.parents
                        .get(n - 1)
                        .cloned()
                        .ok_or_else(|| Error::not_found(format!("parent {n} of commit {commit}")))?
                }
                Step::Ancestor(n) => {
                    for _ in 0..n {
                        let c = self.commit_record(repo, &commit).await?;
                        commit = c.parents.first().cloned().ok_or_else(|| {
                            Error::not_found(format!("ref {expr:?}: history is shorter"))
                        })?;
                    }
                    commit
                }
            };
        }
        Ok(ResolvedRef {
            commit,
            branch: None,
            tokens: vec![],
            workspace: None,
            record: None,
        })
    }

    async fn resolve_base(&self, repo: &Repository, name: &str) -> Result<ResolvedRef> {
        let kv = &self.inner.kv;
        if let Some(bytes) = kv.get(&keys::branch(&repo.instance, name)).await? {
            return ResolvedRef::branch(name, bytes);
        }
        if let Some(bytes) = kv.get(&keys::tag(&repo.instance, name)).await? {
            return Ok(ResolvedRef {
                commit: String::from_utf8(bytes).map_err(|_| Error::corrupt("tag target"))?,
                branch: None,
                tokens: vec![],
                workspace: None,
                record: None,
            });
        }
        if is_hex(name) && name.len() >= 4 {
            let prefix = keys::commit(&repo.instance, name);
            let rows = kv.scan(&prefix, &prefix_end(&prefix), 2).await?;
            let start = keys::commit_prefix(&repo.instance).len();
            match rows.as_slice() {
                [(k, _)] => {
                    return Ok(ResolvedRef {
                        commit: String::from_utf8_lossy(&k[start..]).into_owned(),
                        branch: None,
                        tokens: vec![],
                        workspace: None,
                        record: None,
                    });
                }
                [_, _] => {
                    return Err(Error::invalid(format!(
                        "commit id prefix {name:?} is ambiguous"
                    )));
                }
                _ => {}
            }
        }
        Err(Error::not_found(format!(
            "ref {name:?} (no branch, tag or commit by that name)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_modifiers() {
        assert_eq!(parse("main").unwrap(), ("main", vec![]));
        assert_eq!(
            parse("main~2^2~").unwrap(),
            (
                "main",
                vec![Step::Ancestor(2), Step::Parent(2), Step::Ancestor(1)]
            )
        );
        assert_eq!(parse("abc^").unwrap(), ("abc", vec![Step::Parent(1)]));
        assert!(parse("~1").is_err());
        assert!(parse("main~x").is_err());
        // A wide character after a step is refused, not cut in the middle (found by
        // gateway/tests/protocol_fuzz.rs: it panicked the request's task).
        assert!(parse("main~\u{10087}").is_err());
        assert!(parse("main^2é").is_err());
        assert!(parse("main~~é").is_err());
    }
}
