//! The physical side: object bytes in a repository's storage namespace, through the
//! `object_store` crate. Every write goes to a fresh address and is never overwritten.
//!
//! `object_store` does not fsync local files; for `local://` namespaces this module syncs the
//! file and its folders before a write is acknowledged, so acknowledged data survives a crash.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart,
};

use crate::error::{Error, Result};
use crate::repo::Namespace;

/// Bodies up to this size are written in one request; larger ones stream in parts.
const SINGLE_PUT_LIMIT: usize = 8 * 1024 * 1024;
/// The folder under a namespace that holds object data.
pub(crate) const DATA_PREFIX: &str = "data";

/// What a write stored.
#[derive(Debug, Clone)]
pub struct Written {
    /// The fresh address inside the namespace.
    pub address: String,
    /// Bytes written.
    pub size: u64,
    /// MD5 of the bytes.
    pub md5: [u8; 16],
}

/// Opens the object store of each namespace once and keeps it.
pub(crate) struct Storage {
    local_root: PathBuf,
    open: Mutex<HashMap<String, Arc<NamespaceStore>>>,
}

/// One namespace's object store.
pub struct NamespaceStore {
    store: Arc<dyn ObjectStore>,
    /// For local namespaces, the store itself, to find files to fsync.
    local: Option<Arc<LocalFileSystem>>,
}

impl std::fmt::Debug for NamespaceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamespaceStore({})", self.store)
    }
}

impl Storage {
    pub fn new(local_root: impl Into<PathBuf>) -> Self {
        Self {
            local_root: local_root.into(),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The store for `namespace`, opened on first use.
    pub fn namespace(&self, namespace: &str) -> Result<Arc<NamespaceStore>> {
        if let Some(s) = self.open.lock().expect("storage lock").get(namespace) {
            return Ok(s.clone());
        }
        let opened = Arc::new(match Namespace::parse(namespace)? {
            Namespace::Local(name) => {
                let dir = self.local_root.join(name);
                std::fs::create_dir_all(dir.join(DATA_PREFIX))?;
                sync_dir(&self.local_root)?;
                let fs = Arc::new(LocalFileSystem::new_with_prefix(&dir)?);
                NamespaceStore {
                    store: fs.clone(),
                    local: Some(fs),
                }
            }
            Namespace::S3 { .. } => {
                return Err(Error::invalid(format!(
                    "storage namespace {namespace}: S3 namespaces are not available in this build yet"
                )));
            }
        });
        self.open
            .lock()
            .expect("storage lock")
            .insert(namespace.to_string(), opened.clone());
        Ok(opened)
    }
}

fn sync_dir(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// A fresh address: random, and spread over 256 folders.
fn fresh_address() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{DATA_PREFIX}/{}/{id}", &id[..2])
}

impl NamespaceStore {
    /// The underlying object store, for readers such as DataFusion.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Stream `body` to a fresh address; durable when this returns.
    pub async fn write<S>(&self, body: S) -> Result<Written>
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
        self.sync(&location).await?;
        Ok(Written {
            address,
            size,
            md5: md5.finalize().into(),
        })
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
        let opts = GetOptions {
            range: range.map(GetRange::Bounded),
            ..Default::default()
        };
        let result = self.store.get_opts(&Path::from(address), opts).await?;
        Ok(result.into_stream().map_err(Error::from).boxed())
    }

    /// All the bytes at `address`.
    pub async fn read_all(&self, address: &str) -> Result<Bytes> {
        Ok(self.store.get(&Path::from(address)).await?.bytes().await?)
    }

    /// Remove the object at `address`; absent is fine.
    pub async fn delete(&self, address: &str) -> Result<()> {
        match self.store.delete(&Path::from(address)).await {
            Ok(()) => Ok(()),
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every stored data object, for garbage collection.
    pub(crate) fn list_data(&self) -> BoxStream<'static, Result<ObjectMeta>> {
        self.store
            .list(Some(&Path::from(DATA_PREFIX)))
            .map_err(Error::from)
            .boxed()
    }

    /// Make a local write durable: the file, then the folders that name it.
    async fn sync(&self, location: &Path) -> Result<()> {
        let Some(local) = &self.local else {
            return Ok(());
        };
        let file = local.path_to_filesystem(location)?;
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::File::open(&file)?.sync_all()?;
            let mut dir = file.parent();
            for _ in 0..2 {
                if let Some(d) = dir {
                    sync_dir(d)?;
                    dir = d.parent();
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(format!("fsync task failed: {e}")))??;
        Ok(())
    }
}
