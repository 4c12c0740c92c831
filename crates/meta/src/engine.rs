//! The engine: one handle over the metadata store, the trees, the physical storage, the
//! clock and the pre-merge hooks. Each concept's operations live in that concept's module
//! as `impl Engine` blocks; this module holds construction and the shared lookups.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use quick_cache::sync::Cache;

use crate::branch::BranchRecord;
use crate::clock::{Clock, SystemClock};
use crate::commit::{Commit, CommitId};
use crate::encoding;
use crate::error::{Error, Result};
use crate::keys;
use crate::kv::Kv;
use crate::kv::embedded::EmbeddedKv;
use crate::merge::MergeHook;
use crate::repo::Repository;
use crate::storage::{NamespaceStore, S3Settings, Storage};
use crate::tree::TreeStore;

/// The smallest part S3 accepts in a multipart upload, but for the last one.
pub const S3_MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The versioned metadata engine. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub kv: Arc<dyn Kv>,
    pub trees: TreeStore,
    pub storage: Storage,
    pub clock: Arc<dyn Clock>,
    pub hooks: Vec<Arc<dyn MergeHook>>,
    pub commits: Cache<CommitId, Arc<Commit>>,
    pub handles: crate::handles::Handles,
    pub folds: crate::fold::Folds,
    pub min_part_size: u64,
    pub default_namespace_prefix: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
pub struct EngineBuilder {
    kv: Arc<dyn Kv>,
    local_root: PathBuf,
    s3: S3Settings,
    injected: std::collections::HashMap<String, Arc<dyn object_store::ObjectStore>>,
    clock: Arc<dyn Clock>,
    hooks: Vec<Arc<dyn MergeHook>>,
    min_part_size: u64,
    range_average: u64,
    default_namespace_prefix: String,
    import_roots: Vec<PathBuf>,
}

impl EngineBuilder {
    /// An engine over `kv`, with `local://` namespaces as folders under `local_root`.
    pub fn new(kv: Arc<dyn Kv>, local_root: impl Into<PathBuf>) -> Self {
        Self {
            kv,
            local_root: local_root.into(),
            s3: S3Settings::default(),
            injected: Default::default(),
            clock: Arc::new(SystemClock),
            hooks: Vec::new(),
            min_part_size: S3_MIN_PART_SIZE,
            range_average: crate::range::DEFAULT_AVERAGE_ITEMS,
            default_namespace_prefix: "local://".into(),
            import_roots: Vec::new(),
        }
    }

    /// Cut trees into ranges of this many items on average (default 32). Every engine
    /// sharing a store should use the same value, or equal trees get different names.
    pub fn with_range_size(mut self, average_entries: u64) -> Self {
        self.range_average = average_entries.max(1);
        self
    }

    /// How `s3://` namespaces reach S3 (settings left out come from the AWS variables).
    pub fn with_s3(mut self, settings: S3Settings) -> Self {
        self.s3 = settings;
        self
    }

    /// Serve S3 bucket `bucket` (namespaces `s3://BUCKET/...`) from `store` instead of S3:
    /// an in-memory store, or one that fails on command, in tests.
    pub fn with_bucket_store(
        mut self,
        bucket: &str,
        store: Arc<dyn object_store::ObjectStore>,
    ) -> Self {
        self.injected.insert(bucket.to_string(), store);
        self
    }

    /// Where repositories created without a storage namespace (an S3 CreateBucket, the UI's
    /// default) keep their objects: this prefix and the repository's name
    /// (`local://` by default; `s3://BUCKET/PREFIX/` for a shared deployment).
    pub fn with_default_namespace_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.default_namespace_prefix = prefix.into();
        self
    }

    /// Use `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Run `hook` before every merge.
    pub fn with_merge_hook(mut self, hook: Arc<dyn MergeHook>) -> Self {
        self.hooks.push(hook);
        self
    }

    /// The minimum size of every multipart part but the last (S3: 5 MiB).
    pub fn with_min_part_size(mut self, bytes: u64) -> Self {
        self.min_part_size = bytes;
        self
    }

    /// Local folders whose files may be imported (see `import.rs`); none by default, so
    /// that an import can never read the server's own files unless allowed.
    pub fn with_import_roots(mut self, roots: Vec<PathBuf>) -> Self {
        self.import_roots = roots;
        self
    }

    /// The engine.
    pub fn build(self) -> Engine {
        let mut storage = Storage::new(self.local_root, self.s3, self.injected);
        // Compare canonical paths: a root given through a symbolic link still matches.
        storage.import_roots = self
            .import_roots
            .iter()
            .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
            .collect();
        Engine {
            inner: Arc::new(Inner {
                trees: TreeStore::new(self.kv.clone(), self.range_average),
                kv: self.kv,
                storage,
                clock: self.clock,
                hooks: self.hooks,
                commits: Cache::new(16_384),
                handles: Default::default(),
                folds: Default::default(),
                min_part_size: self.min_part_size,
                default_namespace_prefix: self.default_namespace_prefix,
            }),
        }
    }
}

impl Engine {
    /// A builder over `kv`, with local namespaces under `local_root`.
    pub fn builder(kv: Arc<dyn Kv>, local_root: impl Into<PathBuf>) -> EngineBuilder {
        EngineBuilder::new(kv, local_root)
    }

    /// The embedded default: metadata in `DATA_DIR/meta.redb`, local namespaces under
    /// `DATA_DIR/storage`. Must be called inside a tokio runtime.
    pub fn open_embedded(data_dir: impl AsRef<Path>) -> Result<EngineBuilder> {
        let dir = data_dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let kv = EmbeddedKv::open(dir.join("meta.redb"))?;
        Ok(EngineBuilder::new(Arc::new(kv), dir.join("storage")))
    }

    /// The storage namespace of a repository created without one.
    pub fn default_namespace(&self, repo: &str) -> String {
        format!("{}{repo}", self.inner.default_namespace_prefix)
    }

    /// The prefix of [`default_namespace`](Self::default_namespace).
    pub fn default_namespace_prefix(&self) -> &str {
        &self.inner.default_namespace_prefix
    }

    /// The metadata store.
    pub fn kv(&self) -> &Arc<dyn Kv> {
        &self.inner.kv
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// The physical store of a repository's namespace.
    pub async fn namespace_store(&self, repo: &str) -> Result<Arc<NamespaceStore>> {
        let r = self.repository(repo).await?;
        self.inner.storage.namespace(&r.storage_namespace)
    }

    pub(crate) fn storage_of(&self, repo: &Repository) -> Result<Arc<NamespaceStore>> {
        self.inner.storage.namespace(&repo.storage_namespace)
    }

    /// The branch record and its exact stored bytes (for compare-and-swap).
    pub(crate) async fn branch_record(
        &self,
        repo: &Repository,
        branch: &str,
    ) -> Result<(Vec<u8>, BranchRecord)> {
        let bytes = self
            .inner
            .kv
            .get(&keys::branch(&repo.instance, branch))
            .await?
            .ok_or_else(|| Error::not_found(format!("branch {branch:?}")))?;
        let record = BranchRecord::decode(&bytes)?;
        Ok((bytes, record))
    }

    /// The tree a resolved ref reads under its staging areas: the branch's folded tree when
    /// it has one, else its commit's.
    pub(crate) async fn view_tree(
        &self,
        repo: &Repository,
        resolved: &crate::refs::ResolvedRef,
    ) -> Result<String> {
        match &resolved.workspace {
            Some(tree) => Ok(tree.clone()),
            None => self.commit_tree(repo, &resolved.commit).await,
        }
    }

    /// A commit by full id.
    pub(crate) async fn commit_record(&self, repo: &Repository, id: &str) -> Result<Arc<Commit>> {
        if let Some(c) = self.inner.commits.get(id) {
            return Ok(c);
        }
        let bytes = self
            .inner
            .kv
            .get(&keys::commit(&repo.instance, id))
            .await?
            .ok_or_else(|| Error::not_found(format!("commit {id}")))?;
        let c = Arc::new(encoding::decode::<Commit>(&bytes, "commit")?);
        self.inner.commits.insert(id.to_string(), c.clone());
        Ok(c)
    }

    /// The tree of a commit.
    pub(crate) async fn commit_tree(&self, repo: &Repository, id: &str) -> Result<String> {
        Ok(self.commit_record(repo, id).await?.tree.clone())
    }

    /// Build a commit record with the generation derived from its parents.
    pub(crate) async fn new_commit(
        &self,
        repo: &Repository,
        parents: Vec<CommitId>,
        tree: String,
        request: &crate::commit::CommitRequest,
    ) -> Result<Commit> {
        let mut generation = 0;
        for p in &parents {
            generation = generation.max(self.commit_record(repo, p).await?.generation);
        }
        Ok(Commit {
            parents,
            tree,
            message: request.message.clone(),
            committer: request.committer.clone(),
            created_ms: request.created_ms.unwrap_or_else(|| self.now_ms()),
            metadata: request.metadata.clone(),
            generation: generation + 1,
        })
    }
}
