//! Objects that live outside every storage namespace: the sources of an import. An
//! imported entry's address is the object's own URI, `s3://BUCKET/KEY` or
//! `file:///ABSOLUTE/PATH`, and its bytes are read from there. Garbage collection lists
//! only namespaces, so it never deletes them; a local file is read only while it sits
//! under a folder the configuration allows ([`EngineBuilder::with_import_roots`]).
//!
//! [`EngineBuilder::with_import_roots`]: crate::EngineBuilder::with_import_roots

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::storage::{Mapping, Storage, read_file};

/// Where an external object (or a folder of them) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A key, or a key prefix, in a bucket.
    S3 {
        /// The bucket.
        bucket: String,
        /// The key or prefix (no leading slash).
        key: String,
    },
    /// A local file or folder, by absolute path.
    File(PathBuf),
}

impl Location {
    /// Parse `s3://BUCKET/KEY`, `file:///PATH` or `local:///PATH` (lakeFS's spelling for
    /// local storage; the path must be absolute).
    pub fn parse(uri: &str) -> Result<Self> {
        if let Some(rest) = uri.strip_prefix("s3://").or(uri.strip_prefix("s3a://")) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::invalid(format!("{uri:?} names no bucket")));
            }
            return Ok(Self::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        }
        if let Some(path) = uri.strip_prefix("file://").or(uri.strip_prefix("local://")) {
            let path = FsPath::new(path);
            if !path.is_absolute() {
                return Err(Error::invalid(format!(
                    "{uri:?} is not an absolute path (write file:///PATH)"
                )));
            }
            if path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(Error::invalid(format!("{uri:?} contains '..'")));
            }
            return Ok(Self::File(path.to_path_buf()));
        }
        Err(Error::invalid(format!(
            "cannot import from {uri:?}: give an s3://BUCKET/PREFIX or file:///PATH"
        )))
    }

    /// The URI an entry records as its address.
    pub fn uri(&self) -> String {
        match self {
            Self::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
            Self::File(path) => format!("file://{}", path.display()),
        }
    }
}

/// Whether an entry's address is an external object (and not a namespace's own).
pub(crate) fn is_external(address: &str) -> bool {
    address.starts_with("s3://") || address.starts_with("file://")
}

/// One object found under a source.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// Its URI (the entry's address).
    pub uri: String,
    /// Its key relative to the source: empty for a single object.
    pub relative: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag without quotes: the store's, or the hex MD5 of a local file.
    pub etag: String,
    /// Last modification, milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

impl Storage {
    /// Refuse a local path outside the allowed roots (after resolving links), so that an
    /// import cannot read the server's own files.
    fn allowed_file(&self, path: &FsPath) -> Result<PathBuf> {
        let real = std::fs::canonicalize(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::not_found(format!("{}", path.display()))
            } else {
                Error::from(e)
            }
        })?;
        if self.import_roots.is_empty() {
            return Err(Error::forbidden(
                "importing local files is off: list the folders that may be imported in the \
                 config's [storage] import_roots",
            ));
        }
        if !self.import_roots.iter().any(|root| real.starts_with(root)) {
            return Err(Error::forbidden(format!(
                "{} is outside the folders that may be imported ([storage] import_roots)",
                path.display()
            )));
        }
        if let Ok(data) = std::fs::canonicalize(self.local_root())
            && (real.starts_with(&data) || data.starts_with(&real))
        {
            return Err(Error::forbidden(format!(
                "{} overlaps Sluice's own storage",
                path.display()
            )));
        }
        Ok(real)
    }

    /// Check that `location` may be imported from, before any work starts.
    pub(crate) fn check_source(&self, location: &Location) -> Result<()> {
        match location {
            Location::File(path) => self.allowed_file(path).map(|_| ()),
            Location::S3 { bucket, .. } => self.bucket(bucket).map(|_| ()),
        }
    }

    /// The bytes of an external object, all or a range.
    pub(crate) async fn read_external(
        &self,
        address: &str,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        match Location::parse(address)? {
            Location::File(path) => {
                let real = self.allowed_file(&path)?;
                // A source outside Sluice may change under us: never mapped.
                read_file(real, range, Mapping::ReadOnly).await
            }
            Location::S3 { bucket, key } => {
                let store = self.bucket(&bucket)?;
                let opts = GetOptions {
                    range: range.map(GetRange::Bounded),
                    ..Default::default()
                };
                let got = store.get_opts(&Path::from(key.as_str()), opts).await?;
                Ok(got.into_stream().map_err(Error::from).boxed())
            }
        }
    }

    /// Every object under `location` (a prefix, or with `single` exactly one object), in
    /// key order, as a stream.
    pub(crate) fn list_external(
        &self,
        location: &Location,
        single: bool,
    ) -> BoxStream<'static, Result<Found>> {
        match location.clone() {
            Location::File(path) => match self.allowed_file(&path) {
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                Ok(real) => list_files(real, single),
            },
            Location::S3 { bucket, key } => match self.bucket(&bucket) {
                Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                Ok(store) => list_keys(store, bucket, key, single),
            },
        }
    }
}

/// The files under `root` (or `root` itself with `single`), sorted by relative path, each
/// with the MD5 of its bytes as ETag. Hidden temporary files are included as any other.
fn list_files(root: PathBuf, single: bool) -> BoxStream<'static, Result<Found>> {
    let walk = tokio::task::spawn_blocking(move || -> Result<Vec<(String, PathBuf)>> {
        let mut files = Vec::new();
        if single {
            if !root.is_file() {
                return Err(Error::invalid(format!("{} is not a file", root.display())));
            }
            files.push((String::new(), root));
            return Ok(files);
        }
        if !root.is_dir() {
            return Err(Error::invalid(format!(
                "{} is not a folder (import it as an object)",
                root.display()
            )));
        }
        let mut pending = vec![(String::new(), root)];
        while let Some((prefix, dir)) = pending.pop() {
            for item in std::fs::read_dir(&dir)? {
                let item = item?;
                let name = item.file_name().to_string_lossy().into_owned();
                let kind = item.file_type()?;
                let relative = format!("{prefix}{name}");
                if kind.is_dir() {
                    pending.push((format!("{relative}/"), item.path()));
                } else if kind.is_file() {
                    files.push((relative, item.path()));
                }
            }
        }
        files.sort();
        Ok(files)
    });
    futures::stream::once(async move { walk.await.map_err(crate::storage::blocking_failed)? })
        .map_ok(|files| futures::stream::iter(files.into_iter().map(Ok)))
        .try_flatten()
        // Hash a few files at once: each is read on the blocking pool.
        .map_ok(|(relative, path)| async move {
            tokio::task::spawn_blocking(move || describe_file(relative, path))
                .await
                .map_err(crate::storage::blocking_failed)?
        })
        .try_buffered(4)
        .boxed()
}

fn describe_file(relative: String, path: PathBuf) -> Result<Found> {
    use std::io::Read;
    let mut file = std::fs::File::open(&path)?;
    let meta = file.metadata()?;
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        size += n as u64;
    }
    let modified_ms = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as i64);
    Ok(Found {
        uri: format!("file://{}", path.display()),
        relative,
        size,
        etag: hex::encode(md5.finalize()),
        modified_ms,
    })
}

/// The keys of `bucket` that start with `prefix` (or the one key, with `single`).
fn list_keys(
    store: std::sync::Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
    single: bool,
) -> BoxStream<'static, Result<Found>> {
    let found = move |meta: object_store::ObjectMeta, relative: String| Found {
        uri: format!("s3://{bucket}/{}", meta.location),
        relative,
        size: meta.size,
        etag: meta.e_tag.unwrap_or_default().trim_matches('"').to_string(),
        modified_ms: meta.last_modified.timestamp_millis(),
    };
    if single {
        return futures::stream::once(async move {
            let meta = store.head(&Path::from(prefix.as_str())).await?;
            Ok(found(meta, String::new()))
        })
        .boxed();
    }
    // object_store lists whole path segments: list the folder the prefix is in and keep
    // the keys that start with the prefix as a string, as S3's own prefix does.
    let folder = match prefix.rfind('/') {
        Some(i) => prefix[..i].to_string(),
        None => String::new(),
    };
    let listed = if folder.is_empty() {
        store.list(None)
    } else {
        store.list(Some(&Path::from(folder.as_str())))
    };
    listed
        .map_err(Error::from)
        .try_filter_map(move |meta| {
            let key = meta.location.to_string();
            let out = key
                .strip_prefix(prefix.as_str())
                .map(|rest| found(meta.clone(), rest.to_string()));
            async move { Ok(out) }
        })
        .boxed()
}
