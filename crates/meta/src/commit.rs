//! Commits: immutable, named by the hash of their content.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::encoding;

/// A commit's id: lowercase hex of the BLAKE3 hash of its encoded content.
pub type CommitId = String;

/// A commit as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// 0 parents (the first commit), 1, or 2 (a merge: destination first, then source).
    pub parents: Vec<CommitId>,
    /// The id of the root range of the commit's tree.
    pub tree: String,
    /// The commit message.
    pub message: String,
    /// Who committed.
    pub committer: String,
    /// Commit time, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// 1 + the largest generation of the parents (1 for a root); orders history walks.
    pub generation: u64,
}

impl Commit {
    /// Encode the commit and compute its id.
    pub(crate) fn encode_with_id(&self) -> (CommitId, Vec<u8>) {
        let bytes = encoding::encode(self);
        (encoding::content_id(&bytes), bytes)
    }
}

/// What a caller supplies to make a commit.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// The message.
    pub message: String,
    /// Who commits.
    pub committer: String,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Make the commit even when nothing changed.
    pub allow_empty: bool,
    /// The commit's creation time instead of now, ms since the epoch (lakeFS's `date`).
    pub created_ms: Option<i64>,
}

impl CommitRequest {
    /// A request with a message and committer.
    pub fn new(message: impl Into<String>, committer: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            committer: committer.into(),
            ..Default::default()
        }
    }
}

mod ops {
    use std::sync::Arc;

    use super::{Commit, CommitId, CommitRequest};
    use crate::branch::{BranchRecord, CAS_ATTEMPTS, backoff};
    use crate::engine::Engine;
    use crate::error::{Error, ErrorKind, Result};
    use crate::keys;
    use crate::kv::{KvExt, WriteBatch};

    impl Engine {
        /// Commit a branch's uncommitted changes. Atomic: the staging area is sealed first,
        /// so writes that arrive meanwhile go to a fresh one and into the next commit.
        /// Refused when nothing changed, unless `allow_empty`.
        pub async fn commit(
            &self,
            repo: &str,
            branch: &str,
            request: CommitRequest,
        ) -> Result<(CommitId, Arc<Commit>)> {
            let repo = self.repository(repo).await?;
            self.check_unprotected(&repo, branch, "commit to").await?;
            let key = keys::branch(&repo.instance, branch);
            let kv = &self.inner.kv;
            for attempt in 0..CAS_ATTEMPTS {
                if attempt > 0 {
                    backoff(attempt).await;
                }
                let (bytes, record) = self.branch_record(&repo, branch).await?;
                // Nothing staged: say so without touching the record, which would make
                // writes in flight retry.
                if !request.allow_empty && self.nothing_uncommitted(&repo, &record).await? {
                    return Err(Error::invalid(format!(
                        "no changes to commit on branch {branch:?}"
                    )));
                }
                // Seal: new writes go to a fresh token from here on.
                let Some(sealed) = self.seal(&repo, branch, &bytes, record).await? else {
                    continue;
                };
                let applied = self.build_sealed(&repo, &sealed).await?;
                let record = &sealed.before;
                let base_commit = self.commit_record(&repo, &record.head).await?;
                if applied.id == base_commit.tree && !request.allow_empty {
                    // Nothing to commit: reopen the branch with the fresh token and drop
                    // the sealed ones, whose changes (folded ones too) were all no-ops.
                    let reopened = BranchRecord {
                        sealed: vec![],
                        workspace: None,
                        ..sealed.sealed.clone()
                    };
                    if kv
                        .compare_and_swap(
                            &key,
                            Some(&sealed.sealed_bytes),
                            Some(&reopened.encode()),
                        )
                        .await?
                    {
                        self.drop_staging(&repo, &sealed.tokens).await?;
                    }
                    return Err(Error::invalid(format!(
                        "no changes to commit on branch {branch:?}"
                    )));
                }

                let commit = self
                    .new_commit(&repo, vec![record.head.clone()], applied.id, &request)
                    .await?;
                let (commit_id, commit_bytes) = commit.encode_with_id();
                let done = BranchRecord {
                    head: commit_id.clone(),
                    staging: sealed.sealed.staging.clone(),
                    sealed: vec![],
                    workspace: None,
                    resets: record.resets,
                };
                let mut batch = WriteBatch::new();
                for (k, v) in applied.records {
                    batch.put(k, v);
                }
                batch.put(keys::commit(&repo.instance, &commit_id), commit_bytes);
                batch.require(key.clone(), Some(sealed.sealed_bytes));
                batch.put(key.clone(), done.encode());
                match kv.write(batch).await {
                    Ok(()) => {
                        self.drop_staging(&repo, &sealed.tokens).await?;
                        let commit = Arc::new(commit);
                        self.inner.commits.insert(commit_id.clone(), commit.clone());
                        return Ok((commit_id, commit));
                    }
                    // Another commit sealed on top of ours, or the branch was reset or
                    // merged into: our tokens are in its hands now, or gone. Start over.
                    Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                    Err(e) => return Err(e),
                }
            }
            Err(Error::conflict(format!(
                "branch {branch:?} kept changing during the commit; try again"
            )))
        }

        /// A commit by ref expression.
        pub async fn get_commit(
            &self,
            repo: &str,
            reference: &str,
        ) -> Result<(CommitId, Arc<Commit>)> {
            let repo = self.repository(repo).await?;
            let id = self.resolve(&repo, reference).await?.commit;
            let c = self.commit_record(&repo, &id).await?;
            Ok((id, c))
        }
    }
}
