//! Multipart uploads: state kept in the metadata store, so uploads in progress survive a
//! restart; parts are physical objects at fresh addresses until completion joins them.

use std::collections::BTreeMap;
use std::ops::Range;

use bytes::Bytes;
use futures::{Stream, TryStreamExt};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use crate::encoding;
use crate::engine::Engine;
use crate::entry::{Entry, PartSpan};
use crate::error::{Error, ErrorKind, Result};
use crate::keys;
use crate::kv::{KvExt, WriteBatch};
use crate::object::{PutOptions, WriteCondition, md5_etag, validate_path};
use crate::repo::Repository;

/// The largest part number S3 allows.
pub const MAX_PART_NUMBER: u32 = 10_000;

/// How long a completed upload stays answerable, in milliseconds: a client whose first
/// Complete answer was lost retries it (the AWS SDKs do), and S3 answers the repeat with
/// success and the same ETag. As long as the garbage collector's default grace period.
pub const COMPLETED_UPLOAD_TTL_MS: i64 = 6 * 3600 * 1000;

/// What a completed upload leaves behind, so that a repeated Complete gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedUpload {
    /// The branch the object landed on.
    pub branch: String,
    /// The object's path.
    pub path: String,
    /// The parts the completion listed, by number and ETag.
    pub parts: Vec<(u32, String)>,
    /// The completed object's ETag.
    pub etag: String,
    /// Its size.
    pub size: u64,
    /// When the upload was completed, milliseconds since the Unix epoch.
    pub completed_ms: i64,
}

/// `m/{repo}/{upload id}` -> the record of a completed upload. (A family of its own: the
/// upload and part families are scanned and decoded as uploads and parts.)
fn completed_key(repo: &str, id: &str) -> Vec<u8> {
    format!("m/{repo}/{id}").into_bytes()
}

fn completed_prefix(repo: &str) -> Vec<u8> {
    format!("m/{repo}/").into_bytes()
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    /// The upload id.
    pub id: String,
    /// The branch the object lands on.
    pub branch: String,
    /// The object's path.
    pub path: String,
    /// When the upload started, milliseconds since the Unix epoch.
    pub created_ms: i64,
    /// The MIME type to record.
    pub content_type: Option<String>,
    /// User metadata to record.
    pub metadata: BTreeMap<String, String>,
}

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// Its number, 1 to 10,000.
    pub number: u32,
    /// Where its bytes are.
    pub address: String,
    /// Its size.
    pub size: u64,
    /// Hex MD5 of its bytes.
    pub etag: String,
    /// When it was uploaded.
    pub last_modified_ms: i64,
    /// Checksums the caller verified over the part, by algorithm.
    pub checksums: BTreeMap<String, String>,
}

impl Engine {
    /// Start an upload of `path` to `branch`.
    pub async fn create_upload(
        &self,
        repo: &str,
        branch: &str,
        path: &str,
        options: PutOptions,
    ) -> Result<Upload> {
        validate_path(path)?;
        let repo = self.repository(repo).await?;
        self.branch_record(&repo, branch).await?;
        self.check_unprotected(&repo, branch, "write to").await?;
        let upload = Upload {
            id: uuid::Uuid::new_v4().simple().to_string(),
            branch: branch.to_string(),
            path: path.to_string(),
            created_ms: self.now_ms(),
            content_type: options.content_type,
            metadata: options.metadata,
        };
        self.inner
            .kv
            .put(
                &keys::upload(&repo.instance, &upload.id),
                &encoding::encode(&upload),
            )
            .await?;
        Ok(upload)
    }

    /// The record of an upload completed less than [`COMPLETED_UPLOAD_TTL_MS`] ago.
    pub async fn completed_upload(&self, repo: &str, id: &str) -> Result<CompletedUpload> {
        let repo = self.repository(repo).await?;
        let done: CompletedUpload = match self
            .inner
            .kv
            .get(&completed_key(&repo.instance, id))
            .await?
        {
            Some(bytes) => encoding::decode(&bytes, "completed upload")?,
            None => return Err(Error::not_found(format!("upload {id:?}"))),
        };
        if self.now_ms() - done.completed_ms > COMPLETED_UPLOAD_TTL_MS {
            return Err(Error::not_found(format!("upload {id:?}")));
        }
        Ok(done)
    }

    /// An upload in progress.
    pub async fn upload(&self, repo: &str, id: &str) -> Result<Upload> {
        let repo = self.repository(repo).await?;
        self.upload_of(&repo, id).await
    }

    async fn upload_of(&self, repo: &Repository, id: &str) -> Result<Upload> {
        let bytes = self
            .inner
            .kv
            .get(&keys::upload(&repo.instance, id))
            .await?
            .ok_or_else(|| Error::not_found(format!("upload {id:?}")))?;
        encoding::decode(&bytes, "upload")
    }

    /// Store part `number` of an upload from a stream; a part uploaded again replaces it.
    pub async fn upload_part<S>(
        &self,
        repo: &str,
        upload_id: &str,
        number: u32,
        body: S,
        checksums: BTreeMap<String, String>,
    ) -> Result<Part>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        if !(1..=MAX_PART_NUMBER).contains(&number) {
            return Err(Error::invalid(format!(
                "part number {number} is outside 1..={MAX_PART_NUMBER}"
            )));
        }
        let repo = self.repository(repo).await?;
        self.upload_of(&repo, upload_id).await?;
        let written = self.storage_of(&repo)?.write(body).await?;
        let part = Part {
            number,
            address: written.address,
            size: written.size,
            etag: md5_etag(&written.md5),
            last_modified_ms: self.now_ms(),
            checksums,
        };
        // Record the part only while the upload exists, so an abort racing this loses nothing
        // that anyone could still complete.
        let mut batch = WriteBatch::new();
        let upload_key = keys::upload(&repo.instance, upload_id);
        let current = self.inner.kv.get(&upload_key).await?;
        if current.is_none() {
            return Err(Error::not_found(format!("upload {upload_id:?}")));
        }
        batch.require(upload_key, current);
        batch.put(
            keys::part(&repo.instance, upload_id, number),
            encoding::encode(&part),
        );
        match self.inner.kv.write(batch).await {
            Err(e) if e.kind() == ErrorKind::PreconditionFailed => {
                Err(Error::not_found(format!("upload {upload_id:?}")))
            }
            other => other.map(|()| part),
        }
    }

    /// Store part `number` from (a range of) an existing object of the same repository.
    pub async fn upload_part_copy(
        &self,
        repo: &str,
        upload_id: &str,
        number: u32,
        source: &Entry,
        range: Option<Range<u64>>,
    ) -> Result<Part> {
        if let Some(r) = &range
            && (r.start > r.end || r.end > source.size)
        {
            return Err(Error::invalid(format!(
                "copy range {}-{} is outside the source's {} bytes",
                r.start, r.end, source.size
            )));
        }
        let body = self
            .read_object(repo, source, range)
            .await?
            .map_err(|e| std::io::Error::other(e.to_string()));
        self.upload_part(repo, upload_id, number, body, BTreeMap::new())
            .await
    }

    /// The parts of an upload, by number.
    pub async fn list_parts(&self, repo: &str, upload_id: &str) -> Result<Vec<Part>> {
        let repo = self.repository(repo).await?;
        self.upload_of(&repo, upload_id).await?;
        self.parts_of(&repo, upload_id).await
    }

    async fn parts_of(&self, repo: &Repository, upload_id: &str) -> Result<Vec<Part>> {
        self.inner
            .kv
            .scan_prefix(&keys::part_prefix(&repo.instance, upload_id), 1000)
            .await?
            .iter()
            .map(|(_, v)| encoding::decode(v, "part"))
            .collect()
    }

    /// Uploads in progress whose path starts with `prefix`, ordered by path then id.
    pub async fn list_uploads(&self, repo: &str, prefix: &str) -> Result<Vec<Upload>> {
        let repo = self.repository(repo).await?;
        let mut uploads: Vec<Upload> = self
            .inner
            .kv
            .scan_prefix(&keys::upload_prefix(&repo.instance), 1000)
            .await?
            .iter()
            .map(|(_, v)| encoding::decode::<Upload>(v, "upload"))
            .collect::<Result<_>>()?;
        uploads.retain(|u| u.path.starts_with(prefix));
        uploads.sort_by(|a, b| (&a.path, a.created_ms, &a.id).cmp(&(&b.path, b.created_ms, &b.id)));
        Ok(uploads)
    }

    /// Join the listed parts (ascending numbers, matching ETags) into the object and stage
    /// it on the upload's branch. S3's rules: every part but the last at least the minimum
    /// part size; the ETag is the MD5 of the parts' MD5s, dash, the part count.
    pub async fn complete_upload(
        &self,
        repo: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<Entry> {
        let repo = self.repository(repo).await?;
        let upload = self.upload_of(&repo, upload_id).await?;
        if parts.is_empty() {
            return Err(Error::invalid("a multipart upload needs at least one part"));
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::invalid("parts must be listed in ascending order"));
        }
        let stored: BTreeMap<u32, Part> = self
            .parts_of(&repo, upload_id)
            .await?
            .into_iter()
            .map(|p| (p.number, p))
            .collect();
        let mut chosen = Vec::with_capacity(parts.len());
        for (i, (number, etag)) in parts.iter().enumerate() {
            let part = stored
                .get(number)
                .filter(|p| p.etag == etag.trim_matches('"'))
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "part {number} was not uploaded or its ETag does not match"
                    ))
                })?;
            if i + 1 < parts.len() && part.size < self.inner.min_part_size {
                return Err(Error::new(
                    ErrorKind::Invalid,
                    format!(
                        "part {number} is {} bytes; every part but the last must be at least {}",
                        part.size, self.inner.min_part_size
                    ),
                ));
            }
            chosen.push(part.clone());
        }
        let mut md5s = Md5::new();
        for p in &chosen {
            let raw = hex::decode(&p.etag).map_err(|_| Error::corrupt("part etag"))?;
            md5s.update(&raw);
        }
        let etag = format!("{}-{}", hex::encode(md5s.finalize()), chosen.len());

        // The object is the chosen parts in order: completion moves no bytes.
        let entry = Entry {
            address: String::new(),
            parts: chosen
                .iter()
                .map(|p| PartSpan {
                    address: p.address.clone(),
                    size: p.size,
                })
                .collect(),
            size: chosen.iter().map(|p| p.size).sum(),
            etag,
            last_modified_ms: self.now_ms(),
            content_type: upload.content_type.clone(),
            metadata: upload.metadata.clone(),
            checksums: BTreeMap::new(),
        };
        self.write_staged(
            &repo,
            &upload.branch,
            &upload.path,
            Some(entry.clone()),
            &WriteCondition::Always,
        )
        .await?;
        let kept: Vec<&str> = chosen.iter().map(|p| p.address.as_str()).collect();
        let done = CompletedUpload {
            branch: upload.branch.clone(),
            path: upload.path.clone(),
            parts: parts
                .iter()
                .map(|(n, e)| (*n, e.trim_matches('"').to_string()))
                .collect(),
            etag: entry.etag.clone(),
            size: entry.size,
            completed_ms: entry.last_modified_ms,
        };
        self.forget_upload(&repo, upload_id, stored.values(), &kept, Some(&done))
            .await?;
        Ok(entry)
    }

    /// Abandon an upload and delete its parts.
    pub async fn abort_upload(&self, repo: &str, upload_id: &str) -> Result<()> {
        let repo = self.repository(repo).await?;
        self.upload_of(&repo, upload_id).await?;
        let parts = self.parts_of(&repo, upload_id).await?;
        self.forget_upload(&repo, upload_id, parts.iter(), &[], None)
            .await
    }

    /// Drop an upload's records, and the part objects that `kept` (the completed object's
    /// pieces) does not name; record its completion `done`, and drop completion records
    /// that have expired.
    async fn forget_upload<'p>(
        &self,
        repo: &Repository,
        upload_id: &str,
        parts: impl Iterator<Item = &'p Part>,
        kept: &[&str],
        done: Option<&CompletedUpload>,
    ) -> Result<()> {
        let mut batch = WriteBatch::new();
        batch.delete(keys::upload(&repo.instance, upload_id));
        if let Some(done) = done {
            batch.put(
                completed_key(&repo.instance, upload_id),
                encoding::encode(done),
            );
            // A few expired records go with each completion, so they never pile up.
            let cutoff = self.now_ms() - COMPLETED_UPLOAD_TTL_MS;
            let prefix = completed_prefix(&repo.instance);
            for (k, v) in self
                .inner
                .kv
                .scan(&prefix, &crate::kv::prefix_end(&prefix), 100)
                .await?
            {
                let expired = !encoding::decode::<CompletedUpload>(&v, "completed upload")
                    .is_ok_and(|c| c.completed_ms >= cutoff);
                if expired {
                    batch.delete(k);
                }
            }
        }
        let parts: Vec<&Part> = parts.collect();
        for p in &parts {
            batch.delete(keys::part(&repo.instance, upload_id, p.number));
        }
        self.inner.kv.write(batch).await?;
        // The part objects are unreachable now; deleting them here saves a GC pass, and a
        // failure leaves them for GC.
        let store = self.storage_of(repo)?;
        for p in parts.iter().filter(|p| !kept.contains(&p.address.as_str())) {
            let _ = store.delete(&p.address).await;
        }
        Ok(())
    }
}
