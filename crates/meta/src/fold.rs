//! Folding: a branch's staged changes moved into a tree of their own, the branch's
//! workspace, without making a commit. Reads then see the staging areas over that tree
//! instead of over the head's, so a listing passes a block of deleted paths the way it
//! passes any absent path: without stepping over each one (a Spark overwrite stages
//! exactly such a block).
//!
//! A fold is a commit that stops short of the commit: it seals the staging areas (writes
//! from then on go to a fresh one), builds the tree, and swaps the branch record, all by
//! compare-and-swap, so it is right under concurrent writes from several sidecars. It is
//! also optional: it gives way to any commit, merge or reset that moves the record first.
//!
//! Folds start in the background, when this process has staged [`FOLD_AFTER`] deletions
//! on a branch, or when a listing of it stepped over that many hidden paths; one runs at a
//! time per engine, so that their memory does not add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::branch::{BranchRecord, CAS_ATTEMPTS, backoff};
use crate::diff::TreeDiff;
use crate::engine::Engine;
use crate::error::{ErrorKind, Result};
use crate::keys;
use crate::kv::{KvExt, WriteBatch};
use crate::repo::Repository;
use crate::staging::{MergedStaging, new_token};
use crate::tree::AppliedTree;

/// Deletions staged on a branch (or hidden paths one listing stepped over) that start a
/// background fold. Stepping over this many costs a listing about 10 ms.
pub const FOLD_AFTER: u64 = 10_000;

/// A branch record whose staging areas have been sealed, and the tree they build.
pub(crate) struct Sealed {
    /// The record as it was before sealing.
    pub before: BranchRecord,
    /// The record as sealed: a fresh open token, the old ones sealed.
    pub sealed: BranchRecord,
    /// `sealed`, encoded: the condition of the write that ends the operation.
    pub sealed_bytes: Vec<u8>,
    /// The tokens sealed, newest first.
    pub tokens: Vec<String>,
}

impl Engine {
    /// Seal the staging areas of `record` (read as `bytes`): one compare-and-swap. `None`
    /// when the record changed since it was read.
    pub(crate) async fn seal(
        &self,
        repo: &Repository,
        branch: &str,
        bytes: &[u8],
        record: BranchRecord,
    ) -> Result<Option<Sealed>> {
        let tokens = record.tokens();
        let sealed = BranchRecord {
            head: record.head.clone(),
            staging: new_token(),
            sealed: tokens.clone(),
            workspace: record.workspace.clone(),
            resets: record.resets,
        };
        let sealed_bytes = sealed.encode();
        let key = keys::branch(&repo.instance, branch);
        if !self
            .inner
            .kv
            .compare_and_swap(&key, Some(bytes), Some(&sealed_bytes))
            .await?
        {
            return Ok(None);
        }
        Ok(Some(Sealed {
            before: record,
            sealed,
            sealed_bytes,
            tokens,
        }))
    }

    /// The tree the sealed changes make: the staging areas applied, streamed, to the folded
    /// tree if there is one, else to the head's. Its records are not written yet.
    pub(crate) async fn build_sealed(
        &self,
        repo: &Repository,
        sealed: &Sealed,
    ) -> Result<AppliedTree> {
        let base = match &sealed.before.workspace {
            Some(tree) => tree.clone(),
            None => self.commit_tree(repo, &sealed.before.head).await?,
        };
        let staged = MergedStaging::new(self.inner.kv.as_ref(), &repo.instance, &sealed.tokens);
        self.inner
            .trees
            .apply_staged(&repo.instance, &base, staged)
            .await
    }

    /// `onto` with the differences from tree `from` to tree `to` under `prefix` applied:
    /// folded changes carried over to a new head, or taken back under a prefix. The
    /// differences are held in memory while they are applied.
    pub(crate) async fn replay_tree_diff(
        &self,
        repo: &Repository,
        from: &str,
        to: &str,
        onto: &str,
        prefix: &str,
    ) -> Result<AppliedTree> {
        let mut walk =
            TreeDiff::new(&self.inner.trees, &repo.instance, from, to, prefix, None).await?;
        let mut changes = Vec::new();
        while let Some(d) = walk.next().await? {
            changes.push((d.path, d.right));
        }
        self.inner.trees.apply(&repo.instance, onto, &changes).await
    }

    /// Fold a branch's staged changes into its workspace tree now. What the branch shows
    /// does not change. Returns whether a fold took place: there may be nothing staged, or
    /// a commit (or another fold) under way, which a fold never competes with.
    pub async fn fold(&self, repo: &str, branch: &str) -> Result<bool> {
        let repo = self.repository(repo).await?;
        self.fold_in(&repo, branch).await
    }

    async fn fold_in(&self, repo: &Repository, branch: &str) -> Result<bool> {
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(repo, branch).await?;
            if !record.sealed.is_empty() || self.staged_nothing(repo, &record).await? {
                return Ok(false);
            }
            let Some(sealed) = self.seal(repo, branch, &bytes, record).await? else {
                continue;
            };
            let applied = self.build_sealed(repo, &sealed).await?;
            let head_tree = self.commit_tree(repo, &sealed.before.head).await?;
            let done = BranchRecord {
                head: sealed.before.head.clone(),
                staging: sealed.sealed.staging.clone(),
                sealed: vec![],
                workspace: (applied.id != head_tree).then(|| applied.id.clone()),
                resets: sealed.before.resets,
            };
            let key = keys::branch(&repo.instance, branch);
            let mut batch = WriteBatch::new();
            for (k, v) in applied.records {
                batch.put(k, v);
            }
            batch.require(key.clone(), Some(sealed.sealed_bytes));
            batch.put(key, done.encode());
            return match self.inner.kv.write(batch).await {
                Ok(()) => {
                    self.drop_staging(repo, &sealed.tokens).await?;
                    Ok(true)
                }
                // A commit, merge or reset moved the record on: the sealed tokens are in
                // its hands now, or gone.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => Ok(false),
                Err(e) => Err(e),
            };
        }
        Ok(false)
    }

    /// Count `deletions` staged on `branch` by this process; start a background fold when
    /// they reach [`FOLD_AFTER`] since the last one.
    pub(crate) fn note_deletions(&self, repo: &Repository, branch: &str, deletions: u64) {
        if deletions == 0 {
            return;
        }
        let key = (repo.name.clone(), branch.to_string());
        let due = {
            let mut count = self.inner.folds.deletions.entry(key.clone()).or_insert(0);
            *count += deletions;
            *count >= FOLD_AFTER
        };
        if due {
            // The entry goes, so that the map holds only branches part-way to a fold.
            self.inner.folds.deletions.remove(&key);
            self.fold_in_background(&repo.name, branch);
        }
    }

    /// Start a fold of `branch`; when one is already running or waiting, it folds once
    /// more when done, so that changes staged after it sealed are not left behind. Outside
    /// a tokio runtime, do nothing.
    pub(crate) fn fold_in_background(&self, repo: &str, branch: &str) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let key = (repo.to_string(), branch.to_string());
        let folds = self.inner.folds.clone();
        match folds.running.entry(key.clone()) {
            dashmap::Entry::Occupied(mut again) => {
                *again.get_mut() = true;
                return;
            }
            dashmap::Entry::Vacant(slot) => {
                slot.insert(false);
            }
        }
        folds.in_flight.fetch_add(1, Ordering::SeqCst);
        let engine = self.clone();
        // Whatever ends the task (a panic, a runtime shutting down), the branch is free
        // to fold again and the count of folds in flight is right.
        let guard = RunningFold {
            folds: folds.clone(),
            key: key.clone(),
            removed: false,
        };
        runtime.spawn(async move {
            // Moved in whole (a closure would capture only the field it sets).
            let mut guard = guard;
            loop {
                // One background fold at a time: each holds up to a commit's memory.
                let permit = folds.one_at_a_time.acquire().await;
                match engine.fold(&key.0, &key.1).await {
                    Ok(true) => {
                        tracing::info!(repo = %key.0, branch = %key.1, "folded the branch's staged changes into its workspace tree");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(repo = %key.0, branch = %key.1, error = %e, "background fold failed");
                    }
                }
                drop(permit);
                // Asked again meanwhile: fold again; else done.
                if folds.running.remove_if(&key, |_, again| !*again).is_some() {
                    guard.removed = true;
                    break;
                }
                if let Some(mut again) = folds.running.get_mut(&key) {
                    *again = false;
                }
            }
        });
    }

    /// The tree a branch's older uncommitted changes are folded into, if any.
    pub async fn folded_tree(&self, repo: &str, branch: &str) -> Result<Option<String>> {
        let repo = self.repository(repo).await?;
        Ok(self.branch_record(&repo, branch).await?.1.workspace)
    }

    /// Wait until no background fold is running (tests and benchmarks).
    pub async fn folds_settled(&self) {
        while self.inner.folds.in_flight.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }
}

/// What starts background folds: deletions counted per branch, and the folds running.
pub(crate) struct FoldState {
    /// (repository, branch) → deletions staged by this process since its last fold.
    deletions: DashMap<(String, String), u64>,
    /// The branches being folded (or waiting to be), and whether a fold was asked for
    /// again since.
    running: DashMap<(String, String), bool>,
    in_flight: AtomicUsize,
    one_at_a_time: tokio::sync::Semaphore,
}

impl Default for FoldState {
    fn default() -> Self {
        Self {
            deletions: DashMap::new(),
            running: DashMap::new(),
            in_flight: AtomicUsize::new(0),
            one_at_a_time: tokio::sync::Semaphore::new(1),
        }
    }
}

/// Marks a branch's background fold as running while alive.
struct RunningFold {
    folds: Folds,
    key: (String, String),
    /// The task took its entry out itself (a later one may have put a new one in).
    removed: bool,
}

impl Drop for RunningFold {
    fn drop(&mut self) {
        if !self.removed {
            self.folds.running.remove(&self.key);
        }
        self.folds.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Shared by the engine and its background tasks.
pub(crate) type Folds = Arc<FoldState>;
