//! Import without copying (lakeFS's `importStart` / `importStatus` / `importCancel`): the
//! objects under a source prefix (`s3://BUCKET/PREFIX`, or a local folder under an allowed
//! root) become entries that point at the source itself, and land on a branch as one
//! commit. No byte is copied, and garbage collection never deletes a source (see
//! `external.rs`).
//!
//! As in lakeFS, whatever the branch held under a prefix's destination is replaced by what
//! the import found; the branch's uncommitted changes stay uncommitted, on top of the
//! import's commit. An import runs in the background: its status record in the metadata
//! store says how far it got, and a cancel is a compare-and-swap on that record, so the
//! commit and a cancel can never both win, whichever sidecar serves either.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::commit::{CommitId, CommitRequest};
use crate::encoding;
use crate::engine::Engine;
use crate::entry::Entry;
use crate::error::{Error, ErrorKind, Result};
use crate::external::Location;
use crate::keys;
use crate::kv::{KvExt, WriteBatch};
use crate::object::validate_path;
use crate::repo::{Namespace, Repository};
use crate::view::{ListItem, ListOptions};

/// What a source names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// Every object whose key starts with the source (lakeFS's `common_prefix`).
    CommonPrefix,
    /// Exactly one object.
    Object,
}

/// One source and where its objects land.
#[derive(Debug, Clone)]
pub struct ImportLocation {
    /// A prefix or one object.
    pub kind: ImportKind,
    /// `s3://BUCKET/PREFIX` or `file:///PATH`.
    pub source: String,
    /// For a prefix, the path prefix its objects land under (the source prefix is replaced
    /// by it); for an object, its path.
    pub destination: String,
}

/// An import: its sources and the commit it makes.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The sources.
    pub locations: Vec<ImportLocation>,
    /// Message, committer and metadata of the commit.
    pub commit: CommitRequest,
}

/// How far an import got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportStatus {
    /// The branch it imports to.
    pub branch: String,
    /// The commit landed.
    pub completed: bool,
    /// Objects found so far.
    pub ingested: u64,
    /// When the record last changed (the worker touches it as it goes), ms since the epoch.
    pub update_ms: i64,
    /// The commit, once completed.
    pub commit: Option<CommitId>,
    /// The commit's tree (lakeFS's metarange id), once completed.
    pub tree: Option<String>,
    /// Why it stopped without completing.
    pub error: Option<String>,
}

/// An import whose record has not moved for this long lost its worker (its sidecar
/// stopped): its status says so.
pub const IMPORT_STALLED_AFTER: Duration = Duration::from_secs(120);
/// How often the worker writes its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// Entries read from the branch's tree per step, to find what the import replaces.
const REPLACE_PAGE: usize = 1000;

/// The message of a cancelled import's status.
const CANCELLED: &str = "import canceled";

impl Engine {
    /// Check an import and start it in the background; its id, for
    /// [`import_status`](Self::import_status) and [`cancel_import`](Self::cancel_import).
    pub async fn start_import(
        &self,
        repo: &str,
        branch: &str,
        request: ImportRequest,
    ) -> Result<String> {
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, "import to").await?;
        self.branch_record(&repo, branch).await?;
        if request.locations.is_empty() {
            return Err(Error::invalid("an import needs at least one source path"));
        }
        for location in &request.locations {
            let source = Location::parse(&location.source)?;
            if location.kind == ImportKind::Object {
                validate_path(&location.destination)?;
            }
            self.check_outside_namespaces(&source).await?;
            self.inner.storage.check_source(&source)?;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let status = ImportStatus {
            branch: branch.to_string(),
            completed: false,
            ingested: 0,
            update_ms: self.now_ms(),
            commit: None,
            tree: None,
            error: None,
        };
        let key = keys::import(&repo.instance, &id);
        self.inner.kv.put(&key, &encoding::encode(&status)).await?;
        let engine = self.clone();
        let branch = branch.to_string();
        tokio::spawn(async move {
            let mut progress = Progress {
                engine: &engine,
                key,
                stored: encoding::encode(&status),
                status,
                last_write: std::time::Instant::now(),
            };
            if let Err(e) = engine
                .run_import(&repo, &branch, &request, &mut progress)
                .await
            {
                progress.fail(e.to_string()).await;
            }
        });
        Ok(id)
    }

    /// The status of import `id` on `branch`.
    pub async fn import_status(&self, repo: &str, branch: &str, id: &str) -> Result<ImportStatus> {
        let repo = self.repository(repo).await?;
        let (_, mut status) = self.import_record(&repo, branch, id).await?;
        let idle = self.now_ms() - status.update_ms;
        if !status.completed
            && status.error.is_none()
            && idle > IMPORT_STALLED_AFTER.as_millis() as i64
        {
            status.error = Some(format!(
                "the import stopped making progress {} s ago (its sidecar stopped?); start it again",
                idle / 1000
            ));
        }
        Ok(status)
    }

    /// Cancel import `id`: it commits nothing from now on. Refused once it completed.
    pub async fn cancel_import(&self, repo: &str, branch: &str, id: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        loop {
            let (bytes, mut status) = self.import_record(&repo, branch, id).await?;
            if status.completed {
                return Err(Error::conflict(format!("import {id} already completed")));
            }
            if status.error.is_some() {
                return Ok(());
            }
            status.error = Some(CANCELLED.into());
            status.update_ms = self.now_ms();
            let key = keys::import(&repo.instance, id);
            if self
                .inner
                .kv
                .compare_and_swap(&key, Some(&bytes), Some(&encoding::encode(&status)))
                .await?
            {
                return Ok(());
            }
        }
    }

    async fn import_record(
        &self,
        repo: &Repository,
        branch: &str,
        id: &str,
    ) -> Result<(Vec<u8>, ImportStatus)> {
        let bytes = self
            .inner
            .kv
            .get(&keys::import(&repo.instance, id))
            .await?
            .ok_or_else(|| Error::not_found(format!("import {id:?}")))?;
        let status: ImportStatus = encoding::decode(&bytes, "import status")?;
        if status.branch != branch {
            return Err(Error::not_found(format!(
                "import {id:?} on branch {branch:?}"
            )));
        }
        Ok((bytes, status))
    }

    /// A source inside a repository's namespace would be deleted by that repository's
    /// garbage collection, which knows nothing of the import: refuse it.
    async fn check_outside_namespaces(&self, source: &Location) -> Result<()> {
        let Location::S3 { bucket, key } = source else {
            return Ok(());
        };
        let repos = self.list_repositories(&crate::PageRequest::all()).await?;
        for r in repos.items {
            if let Ok(Namespace::S3 {
                bucket: b,
                prefix: p,
            }) = Namespace::parse(&r.storage_namespace)
            {
                let inside = p.is_empty() || key.starts_with(&p) || p.starts_with(key.as_str());
                if b == *bucket && inside {
                    return Err(Error::invalid(format!(
                        "{} overlaps the storage namespace of repository {:?}; import from \
                         outside every repository's namespace",
                        source.uri(),
                        r.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// List every source, then commit what was found on the branch in one commit.
    async fn run_import(
        &self,
        repo: &Repository,
        branch: &str,
        request: &ImportRequest,
        progress: &mut Progress<'_>,
    ) -> Result<()> {
        let mut imported: BTreeMap<String, Entry> = BTreeMap::new();
        let mut replaced_prefixes = Vec::new();
        for location in &request.locations {
            let source = Location::parse(&location.source)?;
            let single = location.kind == ImportKind::Object;
            if !single {
                replaced_prefixes.push(location.destination.clone());
            }
            let mut found = self.inner.storage.list_external(&source, single);
            while let Some(object) = found.next().await {
                let object = object?;
                // Folder markers (`prefix/`, empty) are no objects.
                if !single && (object.relative.is_empty() || object.relative.ends_with('/')) {
                    continue;
                }
                let path = if single {
                    location.destination.clone()
                } else {
                    format!("{}{}", location.destination, object.relative)
                };
                validate_path(&path)?;
                let mut entry = Entry::new(object.uri, object.size, object.etag);
                entry.last_modified_ms = object.modified_ms;
                imported.insert(path, entry);
                progress.status.ingested += 1;
                progress.tick().await?;
            }
        }
        progress.tick().await?;
        self.commit_import(
            repo,
            branch,
            request,
            imported,
            &replaced_prefixes,
            progress,
        )
        .await
    }

    /// Commit the imported entries on `branch`, replacing what its head holds under the
    /// prefixes; the import's status record is marked completed in the same atomic write.
    async fn commit_import(
        &self,
        repo: &Repository,
        branch: &str,
        request: &ImportRequest,
        imported: BTreeMap<String, Entry>,
        replaced_prefixes: &[String],
        progress: &mut Progress<'_>,
    ) -> Result<()> {
        let key = keys::branch(&repo.instance, branch);
        for attempt in 0..crate::branch::CAS_ATTEMPTS {
            if attempt > 0 {
                crate::branch::backoff(attempt).await;
            }
            self.check_unprotected(repo, branch, "import to").await?;
            let (bytes, record) = self.branch_record(repo, branch).await?;
            let head_tree = self.commit_tree(repo, &record.head).await?;
            let mut changes: BTreeMap<String, Option<Entry>> = BTreeMap::new();
            for prefix in replaced_prefixes {
                for path in self.paths_under(repo, &head_tree, prefix).await? {
                    if !imported.contains_key(&path) {
                        changes.insert(path, None);
                    }
                }
            }
            changes.extend(imported.iter().map(|(p, e)| (p.clone(), Some(e.clone()))));
            let changes: Vec<_> = changes.into_iter().collect();
            let applied = self
                .inner
                .trees
                .apply(&repo.instance, &head_tree, &changes)
                .await?;
            let commit = self
                .new_commit(
                    repo,
                    vec![record.head.clone()],
                    applied.id.clone(),
                    &request.commit,
                )
                .await?;
            let (commit_id, commit_bytes) = commit.encode_with_id();
            let mut done = progress.status.clone();
            done.completed = true;
            done.commit = Some(commit_id.clone());
            done.tree = Some(applied.id.clone());
            done.update_ms = self.now_ms();
            let mut moved = record.clone();
            moved.head = commit_id.clone();
            let mut batch = WriteBatch::new();
            let mut ranges = applied.records;
            // Folded changes stay uncommitted over the import, as staged ones do. The
            // carrying reads the imported tree, whose ranges must be stored for that (a
            // large apply keeps none in the cache); unreferenced, they are harmless.
            if let Some(workspace) = &record.workspace {
                let mut ahead = WriteBatch::new();
                for (k, v) in ranges.drain(..) {
                    ahead.put(k, v);
                }
                self.inner.kv.write(ahead).await?;
                let carried = self
                    .replay_tree_diff(repo, &head_tree, workspace, &applied.id, "")
                    .await?;
                moved.workspace = (carried.id != applied.id).then(|| carried.id.clone());
                ranges = carried.records;
            }
            for (k, v) in ranges {
                batch.put(k, v);
            }
            batch.put(keys::commit(&repo.instance, &commit_id), commit_bytes);
            batch.require(key.clone(), Some(bytes));
            batch.put(key.clone(), moved.encode());
            batch.require(progress.key.clone(), Some(progress.stored.clone()));
            batch.put(progress.key.clone(), encoding::encode(&done));
            match self.inner.kv.write(batch).await {
                Ok(()) => {
                    self.inner
                        .commits
                        .insert(commit_id, std::sync::Arc::new(commit));
                    return Ok(());
                }
                // The branch moved, or the record changed (a cancel): look again.
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                    progress.reload().await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(Error::conflict(format!(
            "branch {branch:?} kept changing during the import; try again"
        )))
    }

    /// Every path under `prefix` in a tree.
    async fn paths_under(
        &self,
        repo: &Repository,
        tree: &str,
        prefix: &str,
    ) -> Result<Vec<String>> {
        let mut paths = Vec::new();
        let mut after = None;
        loop {
            let options = ListOptions {
                prefix: prefix.to_string(),
                delimiter: None,
                after: after.clone(),
                limit: REPLACE_PAGE,
            };
            let page = self.list_tree(&repo.name, tree, &options).await?;
            for item in page.items {
                if let ListItem::Object(path, _) = item {
                    after = Some(path.clone());
                    paths.push(path);
                }
            }
            if !page.has_more {
                return Ok(paths);
            }
        }
    }
}

/// The worker's hold on its status record: progress written now and then, a cancel seen.
struct Progress<'e> {
    engine: &'e Engine,
    key: Vec<u8>,
    /// The record's bytes as last written or read (for compare-and-swap).
    stored: Vec<u8>,
    status: ImportStatus,
    last_write: std::time::Instant,
}

impl Progress<'_> {
    /// Write the progress when it is due; an error once the import was cancelled.
    async fn tick(&mut self) -> Result<()> {
        if self.last_write.elapsed() < PROGRESS_EVERY {
            return Ok(());
        }
        let mut next = self.status.clone();
        next.update_ms = self.engine.now_ms();
        let bytes = encoding::encode(&next);
        if self
            .engine
            .inner
            .kv
            .compare_and_swap(&self.key, Some(&self.stored), Some(&bytes))
            .await?
        {
            self.stored = bytes;
            self.status = next;
            self.last_write = std::time::Instant::now();
            return Ok(());
        }
        self.reload().await
    }

    /// Read the record again after a failed compare-and-swap: only a cancel changes it.
    async fn reload(&mut self) -> Result<()> {
        let bytes = self
            .engine
            .inner
            .kv
            .get(&self.key)
            .await?
            .ok_or_else(|| Error::not_found("import status"))?;
        let stored: ImportStatus = encoding::decode(&bytes, "import status")?;
        if let Some(e) = stored.error {
            return Err(Error::conflict(e));
        }
        self.status.update_ms = stored.update_ms;
        self.stored = bytes;
        Ok(())
    }

    /// Record why the import stopped (unless a cancel already said so).
    async fn fail(&mut self, message: String) {
        for _ in 0..16 {
            let Ok(Some(bytes)) = self.engine.inner.kv.get(&self.key).await else {
                return;
            };
            let Ok(mut status) = encoding::decode::<ImportStatus>(&bytes, "import status") else {
                return;
            };
            if status.error.is_some() || status.completed {
                return;
            }
            status.error = Some(message.clone());
            status.ingested = self.status.ingested;
            status.update_ms = self.engine.now_ms();
            match self
                .engine
                .inner
                .kv
                .compare_and_swap(&self.key, Some(&bytes), Some(&encoding::encode(&status)))
                .await
            {
                Ok(true) | Err(_) => return,
                Ok(false) => continue,
            }
        }
    }
}
