//! Objects on a ref: writes (staged on a branch), reads and listings on any ref.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};

use crate::branch::{BranchRecord, CAS_ATTEMPTS, backoff};
use crate::encoding::{decode_blob, encode_blob};
use crate::engine::Engine;
use crate::entry::Entry;
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::WriteBatch;
use crate::refs::ResolvedRef;
use crate::repo::Repository;
use crate::staging::{StagedValue, decode_staged, encode_staged};
use crate::storage::INLINE_PREFIX;
use crate::view::{ListOptions, ListPage, ViewCursor, list};

/// The longest key S3 allows, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// A condition on the current state of a path, checked atomically with a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    /// Write whatever is there.
    #[default]
    Always,
    /// Write only when the path holds no object (`If-None-Match: *`).
    IfAbsent,
    /// Write only when the path holds an object with this ETag (`If-Match`).
    IfETag(String),
}

/// Options of an object write.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// The MIME type to record.
    pub content_type: Option<String>,
    /// User metadata to record.
    pub metadata: BTreeMap<String, String>,
    /// The condition on the current object.
    pub condition: WriteCondition,
    /// Checksums the caller verified over the body, to record with the entry.
    pub checksums: BTreeMap<String, String>,
}

pub(crate) fn validate_path(path: &str) -> Result<()> {
    if path.is_empty() {
        return Err(Error::invalid("object path is empty"));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(Error::invalid(format!(
            "object path is {} bytes long; at most {MAX_PATH_BYTES} are allowed",
            path.len()
        )));
    }
    Ok(())
}

/// The hex MD5 ETag of a single-part object.
pub(crate) fn md5_etag(md5: &[u8; 16]) -> String {
    hex::encode(md5)
}

/// What a staging write may carry besides its entry.
#[derive(Default)]
struct StagingExtras {
    /// An inline object's bytes (key, value), stored in the same atomic write as its entry.
    blob: Option<(Vec<u8>, Vec<u8>)>,
    /// The branch record the write's check read.
    checked: Option<CheckedBranch>,
}

/// What [`Engine::check_writable`] read of the branch: handed to
/// [`Engine::stage_written`], it spares the staging write a second read of the branch
/// record when nothing changed in between (the write still checks it atomically).
#[derive(Debug, Clone)]
pub struct CheckedBranch {
    bytes: Vec<u8>,
    record: BranchRecord,
}

impl Engine {
    /// Stream `body` into the repository's storage and stage it at `path` on `branch`.
    /// With the repository handle cached, two metadata round trips: the branch read of
    /// the check, and the staging write.
    pub async fn put_object<S>(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        body: S,
        options: PutOptions,
    ) -> Result<Entry>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        // Fail before moving bytes when the write is bound to be refused.
        let checked = self
            .check_writable_in(&repo, branch, path, &options.condition)
            .await?;
        let written = self.storage_of(&repo)?.write_or_inline(body).await?;
        self.stage_written_in(&repo, branch, path, written, options, Some(checked))
            .await
    }

    /// Check, before any byte moves, that a write of `path` on `branch` would be accepted
    /// now: the branch exists, is not protected, and `condition` holds. The write itself
    /// checks again atomically; this only spares storage the bytes of a doomed write.
    pub async fn check_writable(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        condition: &WriteCondition,
    ) -> Result<CheckedBranch> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        self.check_writable_in(&repo, branch, path, condition).await
    }

    async fn check_writable_in(
        &self,
        repo: &Repository,
        branch: &str,
        path: &str,
        condition: &WriteCondition,
    ) -> Result<CheckedBranch> {
        self.check_unprotected(repo, branch, "write to").await?;
        let (bytes, record) = self.branch_record(repo, branch).await?;
        if *condition != WriteCondition::Always {
            let current = self.visible(repo, branch, (&bytes, &record), path).await?;
            check_condition(condition, current.as_ref(), path)?;
        }
        Ok(CheckedBranch { bytes, record })
    }

    /// Stage bytes already written with
    /// [`NamespaceStore::write_or_inline`](crate::storage::NamespaceStore::write_or_inline)
    /// at `path` on `branch` (for callers that learn the options, such as checksums sent in
    /// trailers, only once the body has been read). An inline object's bytes are stored in
    /// the same atomic write as its entry.
    pub async fn stage_written(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        written: crate::storage::Written,
        options: PutOptions,
        checked: Option<CheckedBranch>,
    ) -> Result<Entry> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        self.stage_written_in(&repo, branch, path, written, options, checked)
            .await
    }

    async fn stage_written_in(
        &self,
        repo: &Repository,
        branch: &str,
        path: &str,
        written: crate::storage::Written,
        options: PutOptions,
        checked: Option<CheckedBranch>,
    ) -> Result<Entry> {
        let now = self.now_ms();
        let blob = match (&written.inline, written.address.strip_prefix(INLINE_PREFIX)) {
            (Some(bytes), Some(id)) => {
                Some((keys::blob(&repo.instance, id), encode_blob(bytes, now)))
            }
            _ => None,
        };
        let inline = written.inline.is_some();
        let entry = Entry {
            address: written.address,
            parts: Vec::new(),
            size: written.size,
            etag: md5_etag(&written.md5),
            last_modified_ms: now,
            content_type: options.content_type,
            metadata: options.metadata,
            checksums: options.checksums,
        };
        let staged = self
            .write_staged_with(
                repo,
                branch,
                path,
                Some(entry.clone()),
                &options.condition,
                StagingExtras { blob, checked },
            )
            .await;
        if let Err(e) = staged {
            // A refusal (not an outage, whose write may have landed) leaves the bytes at a
            // fresh address nothing points at: remove them now rather than leave them to GC.
            let refused = matches!(
                e.kind(),
                ErrorKind::PreconditionFailed
                    | ErrorKind::NotFound
                    | ErrorKind::Forbidden
                    | ErrorKind::Invalid
                    | ErrorKind::Conflict
            );
            if refused
                && !inline
                && let Ok(store) = self.storage_of(repo)
                && let Err(cleanup) = store.delete(&entry.address).await
            {
                tracing::warn!(address = %entry.address, error = %cleanup, "could not remove the bytes of a refused write");
            }
            return Err(e);
        }
        Ok(entry)
    }

    /// [`put_object`](Self::put_object) of bytes in memory.
    pub async fn put_bytes(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        bytes: impl Into<Bytes>,
        options: PutOptions,
    ) -> Result<Entry> {
        let bytes = bytes.into();
        self.put_object(
            repo,
            branch,
            path,
            futures::stream::once(async move { Ok(bytes) }),
            options,
        )
        .await
    }

    /// Stage an entry whose physical object exists already (a metadata copy, an import).
    pub async fn stage_entry(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        entry: Entry,
        condition: &WriteCondition,
    ) -> Result<()> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        self.write_staged(&repo, branch, path, Some(entry), condition)
            .await
    }

    /// Replace the user metadata of the object at `path` on `branch` (lakeFS's
    /// `updateObjectUserMetadata`): a staged entry with the same bytes and the new
    /// metadata, written only if the object is still the one read (its ETag).
    pub async fn update_object_metadata(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        metadata: std::collections::BTreeMap<String, String>,
    ) -> Result<Entry> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        let (bytes, record) = self.branch_record(&repo, branch).await?;
        let current = self
            .visible(&repo, branch, (&bytes, &record), path)
            .await?
            .ok_or_else(|| Error::not_found(format!("object {path:?}")))?;
        let condition = WriteCondition::IfETag(current.etag.clone());
        let updated = Entry {
            metadata,
            ..current
        };
        self.write_staged(&repo, branch, path, Some(updated.clone()), &condition)
            .await?;
        Ok(updated)
    }

    /// Stage many entries and deletions in one atomic write.
    pub async fn stage_entries(
        &self,
        repo: &str,
        branch: &str,
        changes: Vec<(String, Option<Entry>)>,
    ) -> Result<()> {
        for (p, _) in &changes {
            validate_path(p)?;
        }
        let repo = self.repository(repo).await?;
        self.check_unprotected(&repo, branch, "write to").await?;
        let encoded: Vec<(String, Vec<u8>)> = changes
            .iter()
            .map(|(p, v)| (p.clone(), encode_staged(v)))
            .collect();
        let deletions = changes.iter().filter(|(_, v)| v.is_none()).count() as u64;
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let (bytes, record) = self.branch_record(&repo, branch).await?;
            let mut batch = WriteBatch::new();
            batch.require(keys::branch(&repo.instance, branch), Some(bytes));
            for (p, v) in &encoded {
                batch.put(
                    keys::staged(&repo.instance, &record.staging, p.as_bytes()),
                    v.clone(),
                );
            }
            match self.inner.kv.write(batch).await {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    self.note_deletions(&repo, branch, deletions);
                    return Ok(());
                }
            }
        }
        Err(busy(branch))
    }

    /// Delete `path` on `branch`. Returns whether an object was there.
    pub async fn delete_object(&self, repo: &str, branch: &str, path: &str) -> Result<bool> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        let existed = {
            let (bytes, record) = self.branch_record(&repo, branch).await?;
            self.visible(&repo, branch, (&bytes, &record), path)
                .await?
                .is_some()
        };
        if existed {
            self.write_staged(&repo, branch, path, None, &WriteCondition::Always)
                .await?;
        }
        Ok(existed)
    }

    /// The entry at `path` on a ref.
    pub async fn stat_object(&self, repo: &str, reference: &str, path: &str) -> Result<Entry> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        let resolved = self.resolve(&repo, reference).await?;
        self.lookup(&repo, &resolved, path)
            .await?
            .ok_or_else(|| Error::not_found(format!("object {path:?}")))
    }

    /// Bytes of an entry of `repo`, whole or a range; an object made of parts is read
    /// part after part, each opened only when the reader gets to it.
    pub async fn read_object(
        &self,
        repo: &str,
        entry: &Entry,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let want = range.unwrap_or(0..entry.size);
        if let Some(id) = entry.address.strip_prefix(INLINE_PREFIX) {
            let repo = self.repository(repo).await?;
            let raw = self
                .inner
                .kv
                .get(&keys::blob(&repo.instance, id))
                .await?
                .ok_or_else(|| Error::corrupt(format!("inline object {id} is missing")))?;
            let bytes = decode_blob(&raw, "inline object")?.bytes;
            let (start, end) = (
                want.start.min(bytes.len() as u64),
                want.end.min(bytes.len() as u64),
            );
            let slice = bytes.slice(start as usize..end as usize);
            return Ok(futures::stream::once(async move { Ok(slice) }).boxed());
        }
        if crate::external::is_external(&entry.address) {
            return self
                .inner
                .storage
                .read_external(&entry.address, Some(want))
                .await;
        }
        let store = self.namespace_store(repo).await?;
        if entry.parts.is_empty() {
            return store.read(&entry.address, Some(want)).await;
        }
        let pieces: Vec<(String, Range<u64>)> = entry
            .spans()
            .into_iter()
            .filter(|(_, start, end)| *start < want.end && *end > want.start)
            .map(|(address, start, end)| {
                let from = want.start.max(start) - start;
                let to = want.end.min(end) - start;
                (address.to_string(), from..to)
            })
            .collect();
        let stream = futures::stream::iter(pieces)
            .then(move |(address, r)| {
                let store = store.clone();
                async move { store.read(&address, Some(r)).await }
            })
            .try_flatten();
        Ok(stream.boxed())
    }

    /// A page of the objects on a ref.
    pub async fn list_objects(
        &self,
        repo: &str,
        reference: &str,
        options: &ListOptions,
    ) -> Result<ListPage> {
        let repo = self.repository(repo).await?;
        let mut resolved = self.resolve(&repo, reference).await?;
        for _ in 0..CAS_ATTEMPTS {
            let tree = self.view_tree(&repo, &resolved).await?;
            let mut cursor = ViewCursor::open(
                self.inner.kv.as_ref(),
                &self.inner.trees,
                &repo.instance,
                &tree,
                &resolved.tokens,
            )
            .await?;
            let page = list(&mut cursor, options).await?;
            // A listing that stepped over a block of deletions: fold them, so that the
            // next one passes them by.
            if cursor.hidden >= crate::fold::FOLD_AFTER
                && let Some(branch) = &resolved.branch
            {
                self.fold_in_background(&repo.name, branch);
            }
            // The staging areas read may have been emptied into a tree meanwhile.
            match self.re_resolved(&repo, &resolved).await? {
                None => return Ok(page),
                Some(next) => resolved = next,
            }
        }
        Err(changing())
    }

    /// Copy the object at `src_path` on `src_ref` to `dst_path` on branch `dst_branch`:
    /// the new entry points at the same physical object; no byte moves.
    pub async fn copy_object(
        &self,
        repo: &str,
        src_ref: &str,
        src_path: &str,
        dst_branch: &str,
        dst_path: &str,
        replace: Option<PutOptions>,
    ) -> Result<Entry> {
        let mut entry = self.stat_object(repo, src_ref, src_path).await?;
        entry.last_modified_ms = self.now_ms();
        let condition = match replace {
            Some(opts) => {
                entry.content_type = opts.content_type;
                entry.metadata = opts.metadata;
                if !opts.checksums.is_empty() {
                    entry.checksums = opts.checksums;
                }
                opts.condition
            }
            None => WriteCondition::Always,
        };
        self.stage_entry(repo, dst_branch, dst_path, entry.clone(), &condition)
            .await?;
        Ok(entry)
    }

    /// The entry `path` shows on a resolved ref.
    pub(crate) async fn lookup(
        &self,
        repo: &Repository,
        resolved: &ResolvedRef,
        path: &str,
    ) -> Result<Option<Entry>> {
        let mut again: Option<ResolvedRef> = None;
        for _ in 0..CAS_ATTEMPTS {
            let resolved = again.as_ref().unwrap_or(resolved);
            for token in &resolved.tokens {
                if let Some(bytes) = self
                    .inner
                    .kv
                    .get(&keys::staged(&repo.instance, token, path.as_bytes()))
                    .await?
                {
                    // A staged change found is the newest as of the record read.
                    return decode_staged(&bytes);
                }
            }
            let tree = self.view_tree(repo, resolved).await?;
            let found = self.inner.trees.get(&repo.instance, &tree, path).await?;
            // None found staged: the areas may have been emptied into a tree meanwhile.
            match self.re_resolved(repo, resolved).await? {
                None => return Ok(found),
                Some(next) => again = Some(next),
            }
        }
        Err(changing())
    }

    /// What `path` shows on `branch`, whose record was read as `bytes`.
    async fn visible(
        &self,
        repo: &Repository,
        branch: &str,
        (bytes, record): (&[u8], &BranchRecord),
        path: &str,
    ) -> Result<Option<Entry>> {
        let resolved = ResolvedRef::of_record(branch, record, bytes.to_vec());
        self.lookup(repo, &resolved, path).await
    }

    /// Stage one value, atomically with `condition` and with the branch record unchanged,
    /// so that a write racing a commit lands either in it or after it, never lost.
    pub(crate) async fn write_staged(
        &self,
        repo: &Repository,
        branch: &str,
        path: &str,
        value: StagedValue,
        condition: &WriteCondition,
    ) -> Result<()> {
        self.write_staged_with(
            repo,
            branch,
            path,
            value,
            condition,
            StagingExtras::default(),
        )
        .await
    }

    /// [`write_staged`](Self::write_staged), with what [`StagingExtras`] carries.
    async fn write_staged_with(
        &self,
        repo: &Repository,
        branch: &str,
        path: &str,
        value: StagedValue,
        condition: &WriteCondition,
        extras: StagingExtras,
    ) -> Result<()> {
        self.check_unprotected(repo, branch, "write to").await?;
        let encoded = encode_staged(&value);
        let StagingExtras {
            blob: extra,
            checked,
        } = extras;
        let mut known = checked;
        for attempt in 0..CAS_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            // The record the check read, on the first attempt; the write's condition
            // catches any change since.
            let (bytes, record) = match known.take() {
                Some(c) => (c.bytes, c.record),
                None => self.branch_record(repo, branch).await?,
            };
            let staged_key = keys::staged(&repo.instance, &record.staging, path.as_bytes());
            let mut batch = WriteBatch::new();
            if *condition != WriteCondition::Always {
                let current_raw = self.inner.kv.get(&staged_key).await?;
                let current = match &current_raw {
                    Some(raw) => decode_staged(raw)?,
                    None => self.visible(repo, branch, (&bytes, &record), path).await?,
                };
                check_condition(condition, current.as_ref(), path)?;
                batch.require(staged_key.clone(), current_raw);
            }
            batch.require(keys::branch(&repo.instance, branch), Some(bytes));
            batch.put(staged_key, encoded.clone());
            if let Some((k, v)) = &extra {
                batch.put(k.clone(), v.clone());
            }
            match self.inner.kv.write(batch).await {
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
                Ok(()) => {
                    self.note_deletions(repo, branch, u64::from(value.is_none()));
                    return Ok(());
                }
            }
        }
        Err(busy(branch))
    }
}

/// Whether `condition` holds for `current`, the entry a path shows now.
fn check_condition(condition: &WriteCondition, current: Option<&Entry>, path: &str) -> Result<()> {
    let holds = match (condition, current) {
        (WriteCondition::IfAbsent, c) => c.is_none(),
        (WriteCondition::IfETag(etag), Some(c)) => etag == "*" || etag.trim_matches('"') == c.etag,
        (WriteCondition::IfETag(_), None) => {
            return Err(Error::not_found(format!("object {path:?}")));
        }
        (WriteCondition::Always, _) => true,
    };
    if holds {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::PreconditionFailed,
            format!("the condition on {path:?} does not hold"),
        ))
    }
}

/// A read that met a new branch record each of the times it was done.
pub(crate) fn changing() -> Error {
    Error::new(
        ErrorKind::Unavailable,
        "the branch kept changing while it was read; try again",
    )
}

fn busy(branch: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!("branch {branch:?} is changing too fast to write to; try again"),
    )
}
