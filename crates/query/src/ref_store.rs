//! One ref of one repository as a read-only `ObjectStore`, so that DataFusion's listing
//! tables and the Parquet reader run on a branch, a tag or a commit as on a folder.
//!
//! Reads go through [`Engine::read_object`] straight to the physical objects (single,
//! assembled from multipart parts, or inline in the metadata store); no byte is copied into
//! an intermediate buffer. Entries seen by a listing are remembered, so the many small
//! ranged reads of a Parquet reader cost no further metadata lookups.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use sluice_meta::{Engine, Entry, ErrorKind, ListItem};

use crate::files::View;

const STORE_NAME: &str = "sluice";

/// A read-only view of `repo` at a ref (or at a tree no commit names yet).
#[derive(Clone)]
pub struct RefStore {
    engine: Engine,
    repo: String,
    view: View,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    /// When set, listings show only these paths (and the folders above them).
    visible: Option<Arc<BTreeSet<String>>>,
}

impl RefStore {
    /// A view of `repo` at `reference` (a branch with its uncommitted changes, a tag, a
    /// commit id, or any ref expression the engine resolves).
    pub fn new(engine: Engine, repo: impl Into<String>, reference: impl Into<String>) -> Self {
        Self::over(engine, repo, View::Ref(reference.into()))
    }

    /// A view of `repo` at `view` (a ref, or a tree such as the one a merge would produce).
    pub fn over(engine: Engine, repo: impl Into<String>, view: View) -> Self {
        Self {
            engine,
            repo: repo.into(),
            view,
            entries: Arc::default(),
            visible: None,
        }
    }

    /// The same view, whose listings show only `files` (with their entries remembered): a
    /// folder listed by DataFusion then holds exactly the data files of its table, not the
    /// files a Delta table removed, its log's checkpoints or a job's leftovers.
    pub fn showing_only(mut self, files: &[crate::files::DataFile]) -> Self {
        for f in files {
            self.remember(&f.path, &f.entry);
        }
        self.visible = Some(Arc::new(files.iter().map(|f| f.path.clone()).collect()));
        self
    }

    /// The repository.
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// What it views.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// The engine behind the view.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Remember `entry` at `path` (found by a listing), so reads need no lookup.
    pub fn remember(&self, path: &str, entry: &Entry) {
        self.entries
            .lock()
            .expect("entry cache poisoned")
            .insert(path.to_string(), entry.clone());
    }

    /// The object store path of a logical path.
    pub fn location(path: &str) -> Path {
        Path::from_iter(path.split('/'))
    }

    async fn entry(&self, path: &str) -> object_store::Result<Entry> {
        if let Some(e) = self.entries.lock().expect("entry cache poisoned").get(path) {
            return Ok(e.clone());
        }
        let entry = match &self.view {
            View::Ref(reference) => self
                .engine
                .stat_object(&self.repo, reference, path)
                .await
                .map_err(|e| meta_error(path, e))?,
            View::Tree(_) => self
                .list_all(path, false)
                .await?
                .into_iter()
                .find_map(|item| match item {
                    ListItem::Object(p, e) if p == path => Some(e),
                    _ => None,
                })
                .ok_or_else(|| object_store::Error::NotFound {
                    path: path.to_string(),
                    source: format!("{path} is not in the tree").into(),
                })?,
        };
        self.remember(path, &entry);
        Ok(entry)
    }

    /// Every page of a listing under `prefix`, with or without a delimiter.
    async fn list_all(&self, prefix: &str, delimiter: bool) -> object_store::Result<Vec<ListItem>> {
        let delimiter = delimiter.then_some("/");
        let items =
            crate::files::list_view_items(&self.engine, &self.repo, &self.view, prefix, delimiter)
                .await
                .map_err(|e| meta_error(prefix, e))?;
        for item in &items {
            if let ListItem::Object(path, entry) = item {
                self.remember(path, entry);
            }
        }
        let Some(visible) = &self.visible else {
            return Ok(items);
        };
        Ok(items
            .into_iter()
            .filter(|item| match item {
                ListItem::Object(path, _) => visible.contains(path),
                ListItem::Prefix(folder) => visible
                    .range::<str, _>((Bound::Included(folder.as_str()), Bound::Unbounded))
                    .next()
                    .is_some_and(|p| p.starts_with(folder.as_str())),
            })
            .collect())
    }
}

/// The logical path of an object store path (the inverse of [`RefStore::location`]).
fn logical(location: &Path) -> String {
    location
        .parts()
        .map(|p| {
            percent_encoding::percent_decode_str(p.as_ref())
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A listing prefix: object_store prefixes match whole path segments.
fn folder(prefix: Option<&Path>) -> String {
    match prefix.map(logical) {
        Some(p) if !p.is_empty() => format!("{p}/"),
        _ => String::new(),
    }
}

fn object_meta(path: &str, entry: &Entry) -> ObjectMeta {
    ObjectMeta {
        location: RefStore::location(path),
        last_modified: chrono::DateTime::from_timestamp_millis(entry.last_modified_ms)
            .unwrap_or_default(),
        size: entry.size,
        e_tag: Some(format!("\"{}\"", entry.etag)),
        version: None,
    }
}

fn meta_error(path: &str, e: sluice_meta::Error) -> object_store::Error {
    match e.kind() {
        ErrorKind::NotFound => object_store::Error::NotFound {
            path: path.to_string(),
            source: Box::new(e),
        },
        _ => object_store::Error::Generic {
            store: STORE_NAME,
            source: Box::new(e),
        },
    }
}

fn read_only() -> object_store::Error {
    object_store::Error::NotSupported {
        source: "a Sluice ref is read-only here; write through the S3 API".into(),
    }
}

impl fmt::Display for RefStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sluice://{}/{}", self.repo, self.view)
    }
}

impl fmt::Debug for RefStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RefStore({self})")
    }
}

#[async_trait]
impl ObjectStore for RefStore {
    async fn put_opts(
        &self,
        _: &Path,
        _: PutPayload,
        _: PutOptions,
    ) -> object_store::Result<PutResult> {
        Err(read_only())
    }

    async fn put_multipart_opts(
        &self,
        _: &Path,
        _: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        Err(read_only())
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        let path = logical(location);
        let entry = self.entry(&path).await?;
        let meta = object_meta(&path, &entry);
        options.check_preconditions(&meta)?;
        let range = match &options.range {
            Some(r) => r
                .as_range(entry.size)
                .map_err(|e| object_store::Error::Generic {
                    store: STORE_NAME,
                    source: Box::new(e),
                })?,
            None => 0..entry.size,
        };
        let payload = if options.head || range.is_empty() {
            stream::empty::<object_store::Result<bytes::Bytes>>().boxed()
        } else {
            let path = path.clone();
            self.engine
                .read_object(&self.repo, &entry, Some(range.clone()))
                .await
                .map_err(|e| meta_error(&path, e))?
                .map_err(move |e| meta_error(&path, e))
                .boxed()
        };
        Ok(GetResult {
            payload: GetResultPayload::Stream(payload),
            meta,
            range,
            attributes: Default::default(),
        })
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        locations.map(|_| Err(read_only())).boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        let store = self.clone();
        let prefix = folder(prefix);
        stream::once(async move { store.list_all(&prefix, false).await })
            .map_ok(|items| {
                stream::iter(items.into_iter().filter_map(|item| match item {
                    ListItem::Object(path, entry) => Some(Ok(object_meta(&path, &entry))),
                    ListItem::Prefix(_) => None,
                }))
            })
            .try_flatten()
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        let items = self.list_all(&folder(prefix), true).await?;
        let mut result = ListResult {
            common_prefixes: Vec::new(),
            objects: Vec::new(),
        };
        for item in items {
            match item {
                ListItem::Object(path, entry) => result.objects.push(object_meta(&path, &entry)),
                ListItem::Prefix(p) => result
                    .common_prefixes
                    .push(RefStore::location(p.trim_end_matches('/'))),
            }
        }
        Ok(result)
    }

    async fn copy_opts(&self, _: &Path, _: &Path, _: CopyOptions) -> object_store::Result<()> {
        Err(read_only())
    }
}
