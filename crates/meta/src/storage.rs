//! The physical side: object bytes in a repository's storage namespace, through the
//! `object_store` crate. Every write goes to a fresh address and is never overwritten.
//!
//! `local://` namespaces are read and written here directly, in megabyte steps on the blocking
//! pool: `object_store`'s local store neither fsyncs nor streams in large steps. A local write
//! goes to a temporary file that is synced, renamed into place and its folder synced before
//! it is acknowledged, so acknowledged data survives a crash. `s3://BUCKET/PREFIX`
//! namespaces go through `object_store`'s S3 client, with [`S3Settings`] over the standard
//! AWS variables. Tests may serve a bucket from any `ObjectStore` (in memory, or failing on
//! command) with [`EngineBuilder::with_bucket_store`](crate::EngineBuilder::with_bucket_store).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

use crate::error::{Error, Result};
use crate::repo::Namespace;

/// Bodies up to this size are written in one request; larger ones stream in parts.
const SINGLE_PUT_LIMIT: usize = 8 * 1024 * 1024;
/// The folder under a namespace that holds object data.
pub(crate) const DATA_PREFIX: &str = "data";

/// Objects up to this size may live in the metadata store beside their entry (see
/// [`NamespaceStore::write_or_inline`]).
pub const INLINE_MAX: usize = 32 * 1024;
/// The address prefix of objects kept in the metadata store.
pub(crate) const INLINE_PREFIX: &str = "kv/";

/// What a write stored.
#[derive(Debug, Clone)]
pub struct Written {
    /// The fresh address: inside the namespace, or `kv/...` for an inline object.
    pub address: String,
    /// Bytes written.
    pub size: u64,
    /// MD5 of the bytes.
    pub md5: [u8; 16],
    /// The bytes of a small object not written to storage: the caller stores them in the
    /// metadata store, in the same atomic write as the entry that points at them.
    pub inline: Option<Bytes>,
}

/// How `s3://` namespaces reach their object store. A setting left out here is read from
/// the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, ...) as `object_store` reads them.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// The S3 endpoint (MinIO, Ceph, R2, a local server); AWS when absent.
    pub endpoint: Option<String>,
    /// The region [AWS default: us-east-1].
    pub region: Option<String>,
    /// The access key.
    pub access_key_id: Option<String>,
    /// The secret key.
    pub secret_access_key: Option<String>,
    /// Allow plain `http://` endpoints.
    pub allow_http: Option<bool>,
    /// Address buckets as `BUCKET.endpoint` instead of `endpoint/BUCKET`.
    pub virtual_hosted_style: Option<bool>,
}

impl S3Settings {
    pub(crate) fn open(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.open_s3(bucket)?)
    }

    fn open_s3(&self, bucket: &str) -> Result<Arc<AmazonS3>> {
        // A request fails over to the client (503) within seconds when S3 cannot be reached,
        // instead of object_store's default of retrying for three minutes.
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: std::time::Duration::from_secs(20),
            ..Default::default()
        };
        let client = object_store::ClientOptions::new()
            .with_connect_timeout(std::time::Duration::from_secs(5));
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(retry)
            .with_client_options(client);
        if let Some(v) = &self.endpoint {
            b = b.with_endpoint(v);
        }
        if let Some(v) = &self.region {
            b = b.with_region(v);
        }
        if let Some(v) = &self.access_key_id {
            b = b.with_access_key_id(v);
        }
        if let Some(v) = &self.secret_access_key {
            b = b.with_secret_access_key(v);
        }
        if let Some(v) = self.allow_http {
            b = b.with_allow_http(v);
        }
        if let Some(v) = self.virtual_hosted_style {
            b = b.with_virtual_hosted_style_request(v);
        }
        let store = b.build().map_err(|e| {
            Error::invalid(format!("S3 settings for bucket {bucket:?}")).with_source(e)
        })?;
        Ok(Arc::new(store))
    }
}

/// Opens the object store of each namespace once and keeps it.
pub(crate) struct Storage {
    local_root: PathBuf,
    s3: S3Settings,
    /// Stores given by the embedder for some buckets (tests: in memory, failing).
    injected: HashMap<String, Arc<dyn ObjectStore>>,
    open: Mutex<HashMap<String, Arc<NamespaceStore>>>,
    /// Local folders whose files may be imported (canonical paths); none by default.
    pub(crate) import_roots: Vec<PathBuf>,
    /// Whole buckets opened for imported objects, by name.
    buckets: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

/// One namespace's object store.
pub struct NamespaceStore {
    store: Arc<dyn ObjectStore>,
    /// For local namespaces, the folder: reads and writes go straight to files there.
    local: Option<PathBuf>,
    /// The namespace's URI (`s3://bucket/prefix`, `local://name`), without a trailing slash.
    uri: String,
    /// For S3 namespaces, what signs URLs that reach an object without the sidecar: the
    /// bucket's client and the namespace's key prefix.
    signer: Option<(Arc<AmazonS3>, String)>,
}

impl std::fmt::Debug for NamespaceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamespaceStore({})", self.store)
    }
}

impl Storage {
    pub fn new(
        local_root: impl Into<PathBuf>,
        s3: S3Settings,
        injected: HashMap<String, Arc<dyn ObjectStore>>,
    ) -> Self {
        Self {
            local_root: local_root.into(),
            s3,
            injected,
            open: Mutex::new(HashMap::new()),
            import_roots: Vec::new(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The local folder that holds `local://` namespaces.
    pub(crate) fn local_root(&self) -> &FsPath {
        &self.local_root
    }

    /// A whole bucket (for objects imported from it), opened on first use: the store a
    /// test injected for it, else S3 with [`S3Settings`].
    pub(crate) fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        if let Some(s) = self.injected.get(bucket) {
            return Ok(s.clone());
        }
        let mut open = self.buckets.lock().expect("bucket lock");
        if let Some(s) = open.get(bucket) {
            return Ok(s.clone());
        }
        let store = self.s3.open(bucket)?;
        open.insert(bucket.to_string(), store.clone());
        Ok(store)
    }

    /// The store for `namespace`, opened on first use.
    pub fn namespace(&self, namespace: &str) -> Result<Arc<NamespaceStore>> {
        if let Some(s) = self.open.lock().expect("storage lock").get(namespace) {
            return Ok(s.clone());
        }
        let parsed = Namespace::parse(namespace)?;
        let uri = namespace.trim_end_matches('/').to_string();
        let opened = Arc::new(match parsed {
            Namespace::Local(name) => {
                let dir = self.local_root.join(name);
                create_shards(&dir)?;
                sync_dir(&self.local_root)?;
                NamespaceStore {
                    store: Arc::new(LocalFileSystem::new_with_prefix(&dir)?),
                    local: Some(dir),
                    uri,
                    signer: None,
                }
            }
            Namespace::S3 { bucket, prefix } => {
                let (bucket_store, signer): (Arc<dyn ObjectStore>, _) =
                    match self.injected.get(&bucket) {
                        Some(store) => (store.clone(), None),
                        None => {
                            let s3 = self.s3.open_s3(&bucket)?;
                            (s3.clone(), Some((s3, prefix.clone())))
                        }
                    };
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    bucket_store
                } else {
                    Arc::new(PrefixStore::new(bucket_store, prefix.as_str()))
                };
                NamespaceStore {
                    store,
                    local: None,
                    uri,
                    signer,
                }
            }
        });
        self.open
            .lock()
            .expect("storage lock")
            .insert(namespace.to_string(), opened.clone());
        Ok(opened)
    }
}

/// The namespace's data folder, made and synced once at open.
fn create_shards(dir: &FsPath) -> Result<()> {
    let data = dir.join(DATA_PREFIX);
    if !data.is_dir() {
        std::fs::create_dir_all(&data)?;
        sync_dir(&data)?;
        sync_dir(dir)?;
    }
    Ok(())
}

/// Create a file whose shard folder may not exist yet; a new folder is synced into its
/// parent once, so that later writes have only their own file and folder to sync.
fn create_in_shard(path: &FsPath) -> std::io::Result<std::fs::File> {
    match std::fs::File::create(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let shard = path.parent().expect("sharded");
            std::fs::create_dir_all(shard)?;
            sync_dir(shard.parent().expect("in data"))?;
            std::fs::File::create(path)
        }
        other => other,
    }
}

fn sync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A fresh address: random, and spread over 256 folders.
pub(crate) fn fresh_address() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{DATA_PREFIX}/{}/{id}", &id[..2])
}

/// Addresses are ours (`data/xx/hex`); anything else never becomes a file path.
fn local_path(root: &FsPath, address: &str) -> Result<PathBuf> {
    check_address(address)?;
    Ok(root.join(address))
}

/// Whether `address` has the form of the addresses this module hands out (`data/xx/hex`).
fn check_address(address: &str) -> Result<()> {
    let ok = address
        .strip_prefix("data/")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(shard, name)| {
            shard.len() == 2
                && !name.is_empty()
                && shard
                    .bytes()
                    .chain(name.bytes())
                    .all(|b| b.is_ascii_hexdigit())
        });
    if !ok {
        return Err(Error::corrupt(format!(
            "not a storage address: {address:?}"
        )));
    }
    Ok(())
}

/// Bytes a local write gathers before handing them to the file.
const WRITE_BUFFER: usize = 1024 * 1024;
/// Largest read of a local file in one step.
const READ_CHUNK: u64 = 1024 * 1024;
/// Mapped reads hand out windows of this many bytes: large enough that a Parquet range
/// read is one piece, small enough that a huge GET does not map the whole file at once.
const MAP_WINDOW: u64 = 64 * 1024 * 1024;

pub(crate) fn blocking_failed(e: tokio::task::JoinError) -> Error {
    Error::internal(format!("file task failed: {e}"))
}

impl NamespaceStore {
    /// The physical address of `address` as clients see it: the namespace's URI and it.
    pub fn physical_address(&self, address: &str) -> String {
        format!("{}/{address}", self.uri)
    }

    /// The address inside this namespace of a physical address it handed out; anything
    /// else (another namespace, a path of the client's choosing) is refused.
    pub fn address_of(&self, physical: &str) -> Result<String> {
        let address = physical
            .strip_prefix(&self.uri)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "physical address {physical:?} is not in this repository's namespace {}",
                    self.uri
                ))
            })?;
        check_address(address).map_err(|_| {
            Error::invalid(format!(
                "physical address {physical:?} was not handed out by this server"
            ))
        })?;
        Ok(address.to_string())
    }

    /// A URL that lets its holder `method` (GET, PUT) the object at `address` straight from
    /// the backing store for `expires`, without the sidecar; `None` where the namespace
    /// cannot sign (local folders, stores injected in tests).
    pub async fn presign(
        &self,
        method: http::Method,
        address: &str,
        expires: std::time::Duration,
    ) -> Result<Option<String>> {
        let Some((s3, prefix)) = &self.signer else {
            return Ok(None);
        };
        let key = if prefix.is_empty() {
            address.to_string()
        } else {
            format!("{prefix}/{address}")
        };
        let url = s3.signed_url(method, &Path::from(key), expires).await?;
        Ok(Some(url.to_string()))
    }

    /// Whether the namespace can hand out pre-signed URLs.
    pub fn can_presign(&self) -> bool {
        self.signer.is_some()
    }

    /// The stored object's size and ETag (as the backing store reports it).
    pub async fn head(&self, address: &str) -> Result<(u64, Option<String>)> {
        let meta = self.store.head(&Path::from(address)).await?;
        Ok((meta.size, meta.e_tag))
    }

    /// The underlying object store, for readers such as DataFusion.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Stream `body` to a fresh address; durable when this returns. Memory stays bounded
    /// (about one megabyte per write) whatever the body's size.
    pub async fn write<S>(&self, body: S) -> Result<Written>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        match &self.local {
            Some(root) => self.write_local(root, body).await,
            None => self.write_remote(body).await,
        }
    }

    async fn write_local<S>(&self, root: &FsPath, body: S) -> Result<Written>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        let address = fresh_address();
        let path = local_path(root, &address)?;
        let tmp = path.with_file_name(format!(
            ".tmp-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        ));
        let mut file = {
            let tmp = tmp.clone();
            tokio::task::spawn_blocking(move || create_in_shard(&tmp))
                .await
                .map_err(blocking_failed)??
        };
        let mut body = std::pin::pin!(body);
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut buffer: Vec<u8> = Vec::new();
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk
                    .map_err(|e| Error::invalid("request body could not be read").with_source(e))?;
                md5.update(&chunk);
                size += chunk.len() as u64;
                buffer.extend_from_slice(&chunk);
                if buffer.len() >= WRITE_BUFFER {
                    let full = std::mem::take(&mut buffer);
                    file = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
                        use std::io::Write;
                        file.write_all(&full)?;
                        Ok(file)
                    })
                    .await
                    .map_err(blocking_failed)??;
                }
            }
            let (tmp, path) = (tmp.clone(), path.clone());
            tokio::task::spawn_blocking(move || -> std::io::Result<()> {
                use std::io::Write;
                file.write_all(&buffer)?;
                file.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                sync_dir(path.parent().expect("sharded"))
            })
            .await
            .map_err(blocking_failed)??;
            Ok(())
        }
        .await;
        if let Err(e) = outcome {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        Ok(Written {
            address,
            size,
            md5: md5.finalize().into(),
            inline: None,
        })
    }

    async fn write_remote<S>(&self, body: S) -> Result<Written>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        let address = fresh_address();
        let location = Path::from(address.as_str());
        let mut body = std::pin::pin!(body);
        let mut md5 = Md5::new();
        let mut size = 0u64;
        let mut buffered: Vec<Bytes> = Vec::new();
        let mut buffered_len = 0usize;
        let mut upload: Option<WriteMultipart> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    if let Some(u) = upload {
                        let _ = u.abort().await;
                    }
                    return Err(Error::invalid("request body could not be read").with_source(e));
                }
            };
            md5.update(&chunk);
            size += chunk.len() as u64;
            match upload.as_mut() {
                Some(u) => {
                    u.wait_for_capacity(4).await?;
                    u.put(chunk);
                }
                None => {
                    buffered_len += chunk.len();
                    buffered.push(chunk);
                    if buffered_len > SINGLE_PUT_LIMIT {
                        let mut u = WriteMultipart::new(self.store.put_multipart(&location).await?);
                        for b in buffered.drain(..) {
                            u.put(b);
                        }
                        upload = Some(u);
                    }
                }
            }
        }
        match upload {
            Some(u) => {
                u.finish().await?;
            }
            None => {
                let payload: PutPayload = buffered.into_iter().collect();
                self.store.put(&location, payload).await?;
            }
        }
        Ok(Written {
            address,
            size,
            md5: md5.finalize().into(),
            inline: None,
        })
    }

    /// Like [`write`](Self::write), but a body that ends within [`INLINE_MAX`] bytes is
    /// returned in memory instead ([`Written::inline`]): a small object then costs one
    /// grouped metadata commit instead of a file, its sync and its folder's sync.
    pub async fn write_or_inline<S>(&self, body: S) -> Result<Written>
    where
        S: Stream<Item = std::io::Result<Bytes>> + Send,
    {
        let mut body = Box::pin(body);
        let mut head: Vec<Bytes> = Vec::new();
        let mut len = 0usize;
        loop {
            match body.next().await {
                None => {
                    let bytes: Bytes = head.concat().into();
                    let mut md5 = Md5::new();
                    md5.update(&bytes);
                    return Ok(Written {
                        address: format!("{INLINE_PREFIX}{}", uuid::Uuid::new_v4().simple()),
                        size: bytes.len() as u64,
                        md5: md5.finalize().into(),
                        inline: Some(bytes),
                    });
                }
                Some(chunk) => {
                    let chunk = chunk.map_err(|e| {
                        Error::invalid("request body could not be read").with_source(e)
                    })?;
                    len += chunk.len();
                    head.push(chunk);
                    if len > INLINE_MAX {
                        break;
                    }
                }
            }
        }
        let rest = futures::stream::iter(head.into_iter().map(Ok)).chain(body);
        self.write(rest).await
    }

    /// Write `bytes` to a fresh address.
    pub async fn write_bytes(&self, bytes: Bytes) -> Result<Written> {
        self.write(futures::stream::once(async move { Ok(bytes) }))
            .await
    }

    /// The bytes at `address`, all or a range, as a stream.
    pub async fn read(
        &self,
        address: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let Some(root) = &self.local else {
            let opts = GetOptions {
                range: range.map(GetRange::Bounded),
                ..Default::default()
            };
            let result = self.store.get_opts(&Path::from(address), opts).await?;
            return Ok(result.into_stream().map_err(Error::from).boxed());
        };
        read_file(local_path(root, address)?, range, Mapping::ObjectFile).await
    }

    /// All the bytes at `address`.
    pub async fn read_all(&self, address: &str) -> Result<Bytes> {
        let chunks: Vec<Bytes> = self.read(address, None).await?.try_collect().await?;
        Ok(chunks.concat().into())
    }

    /// Remove the object at `address`; absent is fine.
    pub async fn delete(&self, address: &str) -> Result<()> {
        match self.store.delete(&Path::from(address)).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored data object (and write left over by a crash), for garbage collection.
    pub(crate) fn list_data(&self) -> BoxStream<'static, Result<ObjectMeta>> {
        self.store
            .list(Some(&Path::from(DATA_PREFIX)))
            .map_err(Error::from)
            .boxed()
    }
}

/// Whether a local file may be memory-mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mapping {
    /// One of Sluice's own object files: immutable once visible, so it may be mapped.
    ObjectFile,
    /// Someone else's file (an imported source): it may change or shrink under us, and a
    /// map of a shrunk file faults the whole process, so it is only ever read.
    ReadOnly,
}

/// The bytes of a local file, all or a range, as a stream. Long stretches are memory
/// mapped a window at a time (no copy, see [`crate::mapped`]); the rest is read a megabyte
/// at a time. Each step runs on the blocking pool. A file shorter than the range is an
/// error, not a short read.
pub(crate) async fn read_file(
    path: PathBuf,
    range: Option<Range<u64>>,
    mapping: Mapping,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    let opened = tokio::task::spawn_blocking(move || -> Result<(std::fs::File, u64, u64)> {
        let file = std::fs::File::open(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(format!("physical object {}", path.display()))
            } else {
                Error::from(e)
            }
        })?;
        let len = file.metadata()?.len();
        let (start, end) = match &range {
            Some(r) => (r.start.min(len), r.end.min(len)),
            None => (0, len),
        };
        Ok((file, start, end))
    })
    .await
    .map_err(blocking_failed)??;
    let (file, start, end) = opened;
    let file = Arc::new(file);
    let stream = futures::stream::try_unfold(start, move |at| {
        let file = file.clone();
        async move {
            if at >= end {
                return Ok(None);
            }
            let remaining = end - at;
            let map = mapping == Mapping::ObjectFile && remaining >= crate::mapped::MAP_MIN;
            let want = if map {
                remaining.min(MAP_WINDOW)
            } else {
                remaining.min(READ_CHUNK)
            } as usize;
            let chunk = tokio::task::spawn_blocking(move || -> Result<Bytes> {
                if map {
                    // `end` is at most the length read at open, so the map lies inside.
                    return Ok(crate::mapped::map_range(&file, at, want)?);
                }
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0; want];
                file.read_exact_at(&mut buf, at).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        Error::corrupt(format!(
                            "physical object shorter than recorded: wanted {want} bytes at {at}"
                        ))
                    } else {
                        Error::from(e)
                    }
                })?;
                Ok(Bytes::from(buf))
            })
            .await
            .map_err(blocking_failed)??;
            Ok(Some((chunk, at + want as u64)))
        }
    });
    Ok(stream.boxed())
}

impl crate::Engine {
    /// Check that every S3 bucket a repository (or the default namespace) uses answers, so
    /// that a sidecar started against an unreachable S3 says so at once. Each bucket is
    /// asked once, for a key that never exists.
    pub async fn check_storage(&self) -> Result<()> {
        let mut namespaces = vec![self.default_namespace("probe")];
        let repos = self.list_repositories(&crate::PageRequest::all()).await?;
        namespaces.extend(repos.items.into_iter().map(|r| r.storage_namespace));
        let mut seen = std::collections::HashSet::new();
        for namespace in namespaces {
            let Ok(Namespace::S3 { bucket, .. }) = Namespace::parse(&namespace) else {
                continue;
            };
            if !seen.insert(bucket.clone()) {
                continue;
            }
            let store = match self.inner.storage.injected.get(&bucket) {
                Some(s) => s.clone(),
                None => self.inner.storage.s3.open(&bucket)?,
            };
            match store.head(&Path::from(".sluice-probe")).await {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    return Err(Error::unavailable(format!("S3 bucket {bucket:?}")).with_source(e));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_as(
        path: &FsPath,
        range: Option<Range<u64>>,
        mapping: Mapping,
    ) -> Result<Vec<u8>> {
        let chunks: Vec<Bytes> = read_file(path.to_path_buf(), range, mapping)
            .await?
            .try_collect()
            .await?;
        Ok(chunks.concat())
    }

    async fn read(path: &FsPath, range: Option<Range<u64>>) -> Result<Vec<u8>> {
        let mapped = read_as(path, range.clone(), Mapping::ObjectFile).await?;
        let copied = read_as(path, range, Mapping::ReadOnly).await?;
        assert_eq!(mapped, copied);
        Ok(mapped)
    }

    /// Whole files and ranges read the same bytes whether they are mapped (long) or
    /// copied (short), and a range past the end is cut at the end.
    #[tokio::test]
    async fn local_reads_mapped_or_copied_give_the_file_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        let data: Vec<u8> = (0..2_500_000u32).map(|i| (i * 13 % 241) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        assert_eq!(read(&path, None).await.unwrap(), data);
        for (start, end) in [
            (0, 10),
            (4_095, 4_097),
            (1, crate::mapped::MAP_MIN + 1),
            (100_000, 2_400_000),
            (2_499_990, 2_600_000),
        ] {
            let got = read(&path, Some(start..end)).await.unwrap();
            let end = end.min(data.len() as u64);
            assert_eq!(got, &data[start as usize..end as usize], "{start}..{end}");
        }
        let missing = read(&dir.path().join("nothing"), None).await.unwrap_err();
        assert_eq!(missing.kind(), crate::ErrorKind::NotFound);
    }
}
