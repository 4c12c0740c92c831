//! Delta Lake tables inside a ref. A folder that holds a `_delta_log/` is a table: its rows
//! are those of the files its log names live at the ref's snapshot, not every Parquet file
//! in the folder (an overwrite or a delete leaves the removed files in place until VACUUM).
//!
//! The log is replayed by the Delta protocol's own kernel, reading through a [`RefStore`],
//! so the snapshot is the table exactly as the ref (or the tree a merge would produce)
//! holds it: checkpoints, deletion vectors and table features as the protocol defines them.

use std::collections::HashMap;
use std::sync::Arc;

use delta_kernel::Snapshot;
use delta_kernel::scan::state::ScanFile;
use delta_kernel::table_features::ColumnMappingMode;
use delta_kernel_default_engine::DefaultEngineBuilder;
use serde::Serialize;
use sluice_meta::{Engine, ListOptions};

use crate::error::{QueryError, Result};
use crate::files::View;
use crate::ref_store::RefStore;

/// The folder in which a Delta table keeps its log.
pub const LOG_FOLDER: &str = "_delta_log/";

/// One Delta table as a ref holds it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeltaTable {
    /// The table's folder (ending in `/`, or empty for a table at the repository's root).
    pub path: String,
    /// The table version the ref holds.
    pub version: u64,
    /// Live data files by logical path, with the rows each one's deletion vector removes.
    #[serde(skip)]
    pub live: HashMap<String, u64>,
    /// Whether the table maps column names to physical ones (column mapping `name` or `id`):
    /// its Parquet files then name columns differently from the table.
    #[serde(skip)]
    pub column_mapping: bool,
    /// Partition columns, in the order of the folders of its files (`day=.../kind=...`).
    #[serde(skip)]
    pub partition_columns: Vec<String>,
}

/// The folder of the Delta table whose log holds `path`, if `path` is in a `_delta_log/`.
pub fn root_of_log_path(path: &str) -> Option<&str> {
    if path.starts_with(LOG_FOLDER) {
        return Some("");
    }
    path.find("/_delta_log/").map(|i| &path[..=i])
}

/// Whether `folder` (empty, or ending in `/`) holds a Delta log on the view.
pub async fn is_table(engine: &Engine, repo: &str, view: &View, folder: &str) -> Result<bool> {
    let options = ListOptions {
        prefix: format!("{folder}{LOG_FOLDER}"),
        delimiter: None,
        after: None,
        limit: 1,
    };
    let page = match view {
        View::Ref(reference) => engine.list_objects(repo, reference, &options).await?,
        View::Tree(tree) => engine.list_tree(repo, tree, &options).await?,
    };
    Ok(!page.items.is_empty())
}

/// The Delta table that encloses `prefix` from above (the prefix is one of its partition
/// folders, say), if any: the nearest ancestor folder with a log.
pub async fn enclosing_table(
    engine: &Engine,
    repo: &str,
    view: &View,
    prefix: &str,
) -> Result<Option<String>> {
    let mut ancestors = Vec::new();
    let mut end = 0;
    // "a/b/c/" has the proper ancestors "", "a/", "a/b/".
    while let Some(i) = prefix[end..].find('/') {
        ancestors.push(&prefix[..end]);
        end += i + 1;
    }
    for folder in ancestors.into_iter().rev() {
        if is_table(engine, repo, view, folder).await? {
            return Ok(Some(folder.to_string()));
        }
    }
    Ok(None)
}

/// Replay the log of the table in `root` as `store` sees it.
pub async fn read_table(store: &RefStore, root: &str) -> Result<DeltaTable> {
    let mut url = url::Url::parse("sluice://ref/").expect("a constant URL");
    url.set_path(&format!("/{root}"));
    let objects: Arc<dyn object_store::ObjectStore> = Arc::new(store.clone());
    let folder = root.to_string();
    // The kernel's API is blocking (it runs its reads on its own executor thread).
    tokio::task::spawn_blocking(move || replay(objects, url, folder))
        .await
        .map_err(|e| QueryError::Internal(format!("Delta log replay: {e}")))?
}

fn replay(
    objects: Arc<dyn object_store::ObjectStore>,
    url: url::Url,
    root: String,
) -> Result<DeltaTable> {
    let kernel_error = |e: delta_kernel::KernelError| QueryError::delta(&root, e);
    let engine = DefaultEngineBuilder::new(objects).build();
    let snapshot = Snapshot::builder_for(url.as_str())
        .build(&engine)
        .map_err(kernel_error)?;
    let version = snapshot.version();
    let column_mapping = !matches!(
        snapshot.table_properties().column_mapping_mode,
        None | Some(ColumnMappingMode::None)
    );
    let scan = snapshot.scan_builder().build().map_err(kernel_error)?;
    let mut found: Vec<ScanFile> = Vec::new();
    for metadata in scan.scan_metadata(&engine).map_err(kernel_error)? {
        found = metadata
            .map_err(kernel_error)?
            .visit_scan_files(found, |found: &mut Vec<ScanFile>, file| found.push(file))
            .map_err(kernel_error)?;
    }
    let partition_columns = partition_order(&found);
    let mut live = HashMap::with_capacity(found.len());
    for file in found {
        // The log names files by relative, percent-encoded URI; a file elsewhere (a shallow
        // clone's) is not in this ref.
        if file.path.contains("://") || file.path.starts_with('/') {
            return Err(QueryError::delta(
                &root,
                format!("the log names {}, outside the table's folder", file.path),
            ));
        }
        let relative = percent_encoding::percent_decode_str(&file.path)
            .decode_utf8()
            .map_err(|e| QueryError::delta(&root, format!("{}: {e}", file.path)))?;
        let deleted = file
            .dv_info
            .cardinality()
            .map_err(kernel_error)?
            .unwrap_or(0);
        live.insert(format!("{root}{relative}"), deleted);
    }
    Ok(DeltaTable {
        path: root,
        version,
        live,
        column_mapping,
        partition_columns,
    })
}

/// A table's partition columns in the order its writer nests their folders, read from a
/// live file's path (`day=2024-01-01/kind=a/part-0.parquet`); columns not in the path keep
/// the order of their names.
fn partition_order(files: &[ScanFile]) -> Vec<String> {
    let Some(file) = files.iter().find(|f| !f.partition_values.is_empty()) else {
        return Vec::new();
    };
    let decoded = percent_encoding::percent_decode_str(&file.path).decode_utf8_lossy();
    let mut columns: Vec<(usize, String)> = file
        .partition_values
        .keys()
        .map(|k| {
            let at = decoded
                .split('/')
                .position(|part| {
                    part.strip_prefix(k.as_str())
                        .is_some_and(|v| v.starts_with('='))
                })
                .unwrap_or(usize::MAX);
            (at, k.clone())
        })
        .collect();
    columns.sort();
    columns.into_iter().map(|(_, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_name_their_table() {
        assert_eq!(
            root_of_log_path("t/_delta_log/00000000000000000000.json"),
            Some("t/")
        );
        assert_eq!(root_of_log_path("_delta_log/0.json"), Some(""));
        assert_eq!(
            root_of_log_path("a/b/_delta_log/_last_checkpoint"),
            Some("a/b/")
        );
        assert_eq!(root_of_log_path("t/part-0.parquet"), None);
        assert_eq!(root_of_log_path("t/x_delta_log/0.json"), None);
    }
}
