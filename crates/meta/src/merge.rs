//! Merges: the merge base, three-way reconciliation with conflict strategies, the pre-merge
//! hook point, and revert (a three-way apply of a commit's inverse).

use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use crate::branch::{CAS_ATTEMPTS, backoff};
use crate::commit::{Commit, CommitId, CommitRequest};
use crate::diff::TreeDiff;
use crate::engine::Engine;
use crate::error::{Error, ErrorDetail, ErrorKind, Result};
use crate::keys;
use crate::kv::WriteBatch;
use crate::repo::Repository;
use crate::tree::{Change, TreeCursor};

/// What to do with a path changed differently on both sides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MergeStrategy {
    /// Refuse the merge and list the conflicts.
    #[default]
    Fail,
    /// Take the source's version.
    SourceWins,
    /// Keep the destination's version.
    DestWins,
}

/// A merge request.
#[derive(Debug, Clone, Default)]
pub struct MergeRequest {
    /// The merge commit's message; a default names the refs.
    pub message: Option<String>,
    /// Who merges.
    pub committer: String,
    /// The merge commit's metadata.
    pub metadata: std::collections::BTreeMap<String, String>,
    /// The conflict strategy.
    pub strategy: MergeStrategy,
    /// Make a merge commit even when the source brings nothing new.
    pub allow_empty: bool,
    /// Squash: the commit's only parent is the destination's head (lakeFS's `squash_merge`),
    /// so the source's history does not become the destination's.
    pub squash: bool,
}

/// What a pre-merge hook sees.
#[derive(Debug, Clone)]
pub struct MergeContext {
    /// The repository.
    pub repository: String,
    /// The source ref as the caller named it.
    pub source_ref: String,
    /// The destination branch.
    pub destination_branch: String,
    /// The source commit.
    pub source: CommitId,
    /// The destination's head.
    pub destination: CommitId,
    /// The merge base.
    pub base: CommitId,
    /// The root range id of the tree the merge would produce (readable with
    /// [`Engine::list_tree`]).
    pub merged_tree: String,
}

/// Why a hook refused a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRefusal {
    /// One line for people.
    pub reason: String,
    /// The figures behind it, for clients.
    pub report: serde_json::Value,
}

/// A check that runs before every merge and may refuse it; the destination stays untouched.
#[async_trait]
pub trait MergeHook: Send + Sync + 'static {
    /// Accept (`Ok`) or refuse the merge described by `context`. A hook that cannot decide
    /// (a backend is down) should return an error, which also refuses the merge.
    async fn pre_merge(&self, engine: &Engine, context: &MergeContext) -> Result<(), MergeRefusal>;
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Queued(u64, CommitId);

impl Engine {
    /// The best common ancestor of two commits: the common ancestor of highest generation.
    pub async fn merge_base(&self, repo: &str, a: &str, b: &str) -> Result<Option<CommitId>> {
        let repo = self.repository(repo).await?;
        let a = self.resolve(&repo, a).await?.commit;
        let b = self.resolve(&repo, b).await?.commit;
        self.merge_base_of(&repo, &a, &b).await
    }

    pub(crate) async fn merge_base_of(
        &self,
        repo: &Repository,
        a: &str,
        b: &str,
    ) -> Result<Option<CommitId>> {
        if a == b {
            return Ok(Some(a.to_string()));
        }
        // Paint ancestors of `a` with 1 and of `b` with 2, highest generation first: a
        // commit's flags are complete when it is popped, because every descendant has a
        // higher generation and was popped before it.
        let mut flags: HashMap<CommitId, u8> = HashMap::new();
        let mut heap = BinaryHeap::new();
        for (id, flag) in [(a, 1u8), (b, 2u8)] {
            let c = self.commit_record(repo, id).await?;
            flags.insert(id.to_string(), flag);
            heap.push(Queued(c.generation, id.to_string()));
        }
        while let Some(Queued(_, id)) = heap.pop() {
            let f = flags[&id];
            if f == 3 {
                return Ok(Some(id));
            }
            let c = self.commit_record(repo, &id).await?;
            for p in &c.parents {
                let entry = flags.entry(p.clone()).or_insert(0);
                let before = *entry;
                *entry |= f;
                if before == 0 {
                    let pc = self.commit_record(repo, p).await?;
                    heap.push(Queued(pc.generation, p.clone()));
                }
            }
        }
        Ok(None)
    }

    /// Three-way: the changes from `base` to `source`, applied where `dest` did not change
    /// the path differently. Cost follows the size of the base-to-source change.
    async fn three_way(
        &self,
        repo: &Repository,
        base: &str,
        source: &str,
        dest: &str,
        strategy: MergeStrategy,
    ) -> Result<(Vec<Change>, Vec<String>)> {
        let trees = &self.inner.trees;
        let mut walk = TreeDiff::new(trees, &repo.instance, base, source, "", None).await?;
        let mut dest_cursor = TreeCursor::open(trees, &repo.instance, dest).await?;
        let mut changes = Vec::new();
        let mut conflicts = Vec::new();
        while let Some(d) = walk.next().await? {
            dest_cursor.seek(d.path.as_bytes()).await?;
            let at_dest = dest_cursor
                .current()
                .filter(|(p, _)| *p == d.path)
                .map(|(_, e)| e);
            if at_dest == d.left.as_ref() {
                changes.push((d.path, d.right));
            } else if at_dest == d.right.as_ref() {
                // Both sides made the same change.
            } else {
                match strategy {
                    MergeStrategy::Fail => conflicts.push(d.path),
                    MergeStrategy::SourceWins => changes.push((d.path, d.right)),
                    MergeStrategy::DestWins => {}
                }
            }
        }
        Ok((changes, conflicts))
    }

    /// Merge `source` (a ref; its committed state) into branch `destination`.
    pub async fn merge(
        &self,
        repo: &str,
        source: &str,
        destination: &str,
        request: MergeRequest,
    ) -> Result<(CommitId, Arc<Commit>)> {
        let repo = self.repository(repo).await?;
        let src_resolved = self.resolve(&repo, source).await?;
        if src_resolved.branch.as_deref() == Some(destination) {
            return Err(Error::invalid(format!(
                "cannot merge branch {destination:?} into itself"
            )));
        }
        let src = src_resolved.commit;
        let key = keys::branch(&repo.instance, destination);
        // The merged tree that passed the hooks, and the destination head it was made for:
        // a lost compare-and-swap against the same head (a commit of other staged writes
        // rotates the record, not the head) retries only the pointer move, so checks run
        // and webhooks fire once per (source, destination) pair.
        let mut accepted: Option<(CommitId, String)> = None;
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo, destination).await?;
            if !self.nothing_uncommitted(&repo, &record).await? {
                return Err(Error::conflict(format!(
                    "branch {destination:?} has uncommitted changes; commit or reset them before merging"
                )));
            }
            let merged_tree = match &accepted {
                Some((head, tree)) if *head == record.head => tree.clone(),
                _ => {
                    let tree = self
                        .merge_tree_checked(
                            &repo,
                            source,
                            destination,
                            &src,
                            &record.head,
                            &request,
                        )
                        .await?;
                    accepted = Some((record.head.clone(), tree.clone()));
                    tree
                }
            };
            let commit_request = CommitRequest {
                message: request
                    .message
                    .clone()
                    .unwrap_or_else(|| format!("Merge '{source}' into '{destination}'")),
                committer: request.committer.clone(),
                metadata: request.metadata.clone(),
                allow_empty: true,
                created_ms: None,
            };
            let commit = self
                .new_commit(
                    &repo,
                    if request.squash {
                        vec![record.head.clone()]
                    } else {
                        vec![record.head.clone(), src.clone()]
                    },
                    merged_tree,
                    &commit_request,
                )
                .await?;
            match self
                .install_commit(
                    &repo,
                    &key,
                    bytes,
                    record_with_head(&record, &commit)?,
                    commit,
                )
                .await
            {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                other => return other,
            }
        }
        Err(Error::conflict(format!(
            "branch {destination:?} kept changing during the merge; try again"
        )))
    }

    /// The tree that merging `src` into the branch at `dest_head` makes, stored, after the
    /// hooks accepted it. Fails on conflicts, on nothing to merge, or on a refusal.
    async fn merge_tree_checked(
        &self,
        repo: &Repository,
        source: &str,
        destination: &str,
        src: &str,
        dest_head: &str,
        request: &MergeRequest,
    ) -> Result<String> {
        let base = self
            .merge_base_of(repo, src, dest_head)
            .await?
            .ok_or_else(|| Error::conflict("the refs have no common ancestor"))?;
        if base == src && !request.allow_empty {
            return Err(Error::invalid(format!(
                "no changes: {source:?} has nothing that {destination:?} does not have"
            )));
        }
        let base_tree = self.commit_tree(repo, &base).await?;
        let src_tree = self.commit_tree(repo, src).await?;
        let dest_tree = self.commit_tree(repo, dest_head).await?;
        let merged_tree = self
            .merged_tree(
                repo,
                source,
                destination,
                &base_tree,
                &src_tree,
                &dest_tree,
                request,
            )
            .await?;

        let context = MergeContext {
            repository: repo.name.clone(),
            source_ref: source.to_string(),
            destination_branch: destination.to_string(),
            source: src.to_string(),
            destination: dest_head.to_string(),
            base: base.clone(),
            merged_tree: merged_tree.clone(),
        };
        for hook in &self.inner.hooks {
            if let Err(refusal) = hook.pre_merge(self, &context).await {
                return Err(Error::new(
                    ErrorKind::PreconditionFailed,
                    format!("merge refused: {}", refusal.reason),
                )
                .with_detail(ErrorDetail::MergeRefused(refusal.report)));
            }
        }

        Ok(merged_tree)
    }

    /// The tree of a merge, stored. When one side has not changed since the base, the
    /// three-way result is the other side's tree itself (trees are named by content, so
    /// applying base-to-source onto the base gives the source's id): no walk, no write.
    #[allow(clippy::too_many_arguments)]
    async fn merged_tree(
        &self,
        repo: &Repository,
        source: &str,
        destination: &str,
        base_tree: &str,
        src_tree: &str,
        dest_tree: &str,
        request: &MergeRequest,
    ) -> Result<String> {
        if dest_tree == base_tree {
            return Ok(src_tree.to_string());
        }
        if src_tree == base_tree {
            return Ok(dest_tree.to_string());
        }
        let (changes, conflicts) = self
            .three_way(repo, base_tree, src_tree, dest_tree, request.strategy)
            .await?;
        if !conflicts.is_empty() {
            return Err(Error::conflict(format!(
                "merge of {source:?} into {destination:?} has {} conflicting path(s): {}",
                conflicts.len(),
                conflicts
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .with_detail(ErrorDetail::Conflicts(conflicts)));
        }
        let applied = self
            .inner
            .trees
            .apply(&repo.instance, dest_tree, &changes)
            .await?;
        // Store the would-be tree first, so that hooks can read it; unreferenced, it
        // is harmless if the merge is refused.
        if !applied.records.is_empty() {
            let mut tree_batch = WriteBatch::new();
            for (k, v) in applied.records {
                tree_batch.put(k, v);
            }
            self.inner.kv.write(tree_batch).await?;
        }
        Ok(applied.id)
    }

    /// Revert `commit` on `branch`: a new commit that undoes its changes, relative to
    /// `parent` (1-based; required for merge commits).
    pub async fn revert(
        &self,
        repo: &str,
        branch: &str,
        commit: &str,
        parent: Option<usize>,
        request: CommitRequest,
    ) -> Result<(CommitId, Arc<Commit>)> {
        self.replay(repo, branch, commit, parent, request, Replay::Revert)
            .await
    }

    /// Cherry-pick `commit` onto `branch`: a new commit that applies its changes (relative
    /// to `parent`, 1-based, required for merge commits) to the branch's head. The new
    /// commit takes the picked commit's message and metadata unless `request` gives its own.
    pub async fn cherry_pick(
        &self,
        repo: &str,
        branch: &str,
        commit: &str,
        parent: Option<usize>,
        request: CommitRequest,
    ) -> Result<(CommitId, Arc<Commit>)> {
        self.replay(repo, branch, commit, parent, request, Replay::CherryPick)
            .await
    }

    /// A commit's change (against one parent) applied to a branch's head, forwards
    /// (cherry-pick) or backwards (revert), as a three-way merge: a path the branch changed
    /// since is a conflict.
    async fn replay(
        &self,
        repo: &str,
        branch: &str,
        commit: &str,
        parent: Option<usize>,
        request: CommitRequest,
        how: Replay,
    ) -> Result<(CommitId, Arc<Commit>)> {
        let verb = how.verb();
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, &format!("{verb} on"))
            .await?;
        let target = self.resolve(&repo, commit).await?.commit;
        let target_commit = self.commit_record(&repo, &target).await?;
        let parent_id = match (target_commit.parents.len(), parent) {
            (0, _) => {
                return Err(Error::invalid(format!(
                    "cannot {verb} a commit that has no parent"
                )));
            }
            (1, None | Some(1)) => target_commit.parents[0].clone(),
            (n, Some(p)) if p >= 1 && p <= n => target_commit.parents[p - 1].clone(),
            (_, None) => {
                return Err(Error::invalid(format!(
                    "commit is a merge: say which parent to {verb} against"
                )));
            }
            (_, Some(p)) => return Err(Error::invalid(format!("commit has no parent {p}"))),
        };
        // Revert goes from the commit back to its parent; cherry-pick from the parent to it.
        let (from, to) = match how {
            Replay::Revert => (target.clone(), parent_id.clone()),
            Replay::CherryPick => (parent_id.clone(), target.clone()),
        };
        let key = keys::branch(&repo.instance, branch);
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo, branch).await?;
            if !self.nothing_uncommitted(&repo, &record).await? {
                return Err(Error::conflict(format!(
                    "branch {branch:?} has uncommitted changes; commit or reset them before {}",
                    how.gerund()
                )));
            }
            let head_tree = self.commit_tree(&repo, &record.head).await?;
            let (changes, conflicts) = self
                .three_way(
                    &repo,
                    &self.commit_tree(&repo, &from).await?,
                    &self.commit_tree(&repo, &to).await?,
                    &head_tree,
                    MergeStrategy::Fail,
                )
                .await?;
            if !conflicts.is_empty() {
                return Err(Error::conflict(format!(
                    "{verb} of {target} conflicts with changes on {branch:?}"
                ))
                .with_detail(ErrorDetail::Conflicts(conflicts)));
            }
            let applied = self
                .inner
                .trees
                .apply(&repo.instance, &head_tree, &changes)
                .await?;
            let head_commit = self.commit_record(&repo, &record.head).await?;
            if applied.id == head_commit.tree && !request.allow_empty {
                return Err(Error::invalid(match how {
                    Replay::Revert => {
                        format!("nothing to revert: {branch:?} has none of the changes of {target}")
                    }
                    Replay::CherryPick => format!(
                        "nothing to cherry-pick: {branch:?} has every change of {target} already"
                    ),
                }));
            }
            let mut req = request.clone();
            if req.message.is_empty() {
                req.message = match how {
                    Replay::Revert => format!("Revert {target}"),
                    Replay::CherryPick => target_commit.message.clone(),
                };
            }
            if how == Replay::CherryPick && req.metadata.is_empty() {
                req.metadata = target_commit.metadata.clone();
            }
            let new = self
                .new_commit(&repo, vec![record.head.clone()], applied.id.clone(), &req)
                .await?;
            let mut batch = WriteBatch::new();
            for (k, v) in applied.records {
                batch.put(k, v);
            }
            self.inner.kv.write(batch).await?;
            match self
                .install_commit(&repo, &key, bytes, record_with_head(&record, &new)?, new)
                .await
            {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                other => return other,
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during the {verb}; try again"
        )))
    }

    /// Store `commit` and move the branch to it, if the branch record is still `expected`.
    async fn install_commit(
        &self,
        repo: &Repository,
        branch_key: &[u8],
        expected: Vec<u8>,
        new_record: Vec<u8>,
        commit: Commit,
    ) -> Result<(CommitId, Arc<Commit>)> {
        let (id, bytes) = commit.encode_with_id();
        let mut batch = WriteBatch::new();
        batch.put(keys::commit(&repo.instance, &id), bytes);
        batch.require(branch_key.to_vec(), Some(expected));
        batch.put(branch_key.to_vec(), new_record);
        self.inner.kv.write(batch).await?;
        let commit = Arc::new(commit);
        self.inner.commits.insert(id.clone(), commit.clone());
        Ok((id, commit))
    }

    /// List the entries of a tree by root range id (for hooks that inspect a would-be tree).
    pub async fn list_tree(
        &self,
        repo: &str,
        tree: &str,
        options: &crate::view::ListOptions,
    ) -> Result<crate::view::ListPage> {
        let repo = self.repository(repo).await?;
        let mut cursor = crate::view::ViewCursor::open(
            self.inner.kv.as_ref(),
            &self.inner.trees,
            &repo.instance,
            tree,
            &[],
        )
        .await?;
        crate::view::list(&mut cursor, options).await
    }
}

/// Which way [`Engine::replay`] applies a commit's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    Revert,
    CherryPick,
}

impl Replay {
    fn verb(self) -> &'static str {
        match self {
            Replay::Revert => "revert",
            Replay::CherryPick => "cherry-pick",
        }
    }

    fn gerund(self) -> &'static str {
        match self {
            Replay::Revert => "reverting",
            Replay::CherryPick => "cherry-picking",
        }
    }
}

/// The branch record with its head moved to `commit`, staging kept. The caller found
/// nothing uncommitted, so a folded tree there is the old head's and goes.
fn record_with_head(record: &crate::branch::BranchRecord, commit: &Commit) -> Result<Vec<u8>> {
    let (id, _) = commit.encode_with_id();
    let mut r = record.clone();
    r.head = id;
    r.workspace = None;
    Ok(r.encode())
}
