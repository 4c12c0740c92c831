//! Which objects under a prefix are data files, by Spark's rules, and how to find them on
//! a ref or in the change between two refs.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use sluice_meta::{ChangeKind, DiffEntry, DiffOptions, Engine, Entry, ListItem, ListOptions};

use crate::delta::{self, DeltaTable};
use crate::error::{QueryError, Result};
use crate::ref_store::RefStore;

/// A Parquet data file on a ref.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// Its logical path.
    pub path: String,
    /// Its entry (size, ETag, physical address).
    pub entry: Entry,
    /// Set when the file is a live file of a Delta table.
    pub delta: Option<DeltaFile>,
}

/// What a Delta table's log says of one of its live files.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaFile {
    /// The table's folder.
    pub table: String,
    /// Rows of the file that the table's deletion vector removes.
    pub deleted_rows: u64,
    /// Whether the table maps column names (the file's columns are not the table's names).
    pub column_mapping: bool,
}

impl DataFile {
    /// A data file outside any Delta table.
    pub fn plain(path: String, entry: Entry) -> Self {
        Self {
            path,
            entry,
            delta: None,
        }
    }

    /// Rows of the file that its table does not hold (deleted by a deletion vector).
    pub fn deleted_rows(&self) -> u64 {
        self.delta.as_ref().map_or(0, |d| d.deleted_rows)
    }

    /// Refuse, for `what` (a check that reads rows), a file whose rows are not the table's
    /// rows as they stand: deletion vectors and column mapping are not read yet.
    pub fn require_plain_rows(&self, what: &str) -> Result<()> {
        match &self.delta {
            Some(d) if d.deleted_rows > 0 => Err(QueryError::delta(
                &d.table,
                format!(
                    "{what} does not read Delta deletion vectors yet (counts do); {} has one. \
                     Purge them first (REORG TABLE ... APPLY (PURGE), or OPTIMIZE)",
                    self.path
                ),
            )),
            Some(d) if d.column_mapping => Err(QueryError::delta(
                &d.table,
                format!("{what} does not read tables with column mapping yet (counts do)"),
            )),
            _ => Ok(()),
        }
    }
}

/// [`DataFile::require_plain_rows`] for every file.
pub fn require_plain_rows<'a>(
    files: impl IntoIterator<Item = &'a DataFile>,
    what: &str,
) -> Result<()> {
    files
        .into_iter()
        .try_for_each(|f| f.require_plain_rows(what))
}

/// Whether `path` (under `prefix`) is a Parquet data file as Spark reads a folder: a
/// component below the prefix that starts with `_` (but is no `k=v` partition folder) or
/// `.` hides what is under it (`_SUCCESS`, `_committed_*`, `_temporary/`, `.crc` files,
/// `_sluice_actions/`), and only `.parquet` / `.parq` files hold rows.
pub fn is_data_file(prefix: &str, path: &str) -> bool {
    let below = match path.strip_prefix(prefix) {
        // The prefix names the file itself: judge its name alone.
        Some("") | None => path.rsplit('/').next().unwrap_or(path),
        Some(rest) => rest,
    };
    let hidden = below.split('/').any(|part| {
        part.starts_with('.')
            || (part.starts_with('_') && !part.contains('='))
            || part.ends_with("._COPYING_")
    });
    if hidden {
        return false;
    }
    let name = below
        .rsplit('/')
        .next()
        .unwrap_or(below)
        .to_ascii_lowercase();
    name.ends_with(".parquet") || name.ends_with(".parq")
}

/// A prefix as a folder: `reviews` means `reviews/` (not `reviews_old/`); a prefix that
/// names a Parquet file itself stays as it is.
pub fn folder_prefix(prefix: &str) -> String {
    let p = prefix.trim_start_matches('/');
    if p.is_empty() || p.ends_with('/') || is_data_file("", p) {
        p.to_string()
    } else {
        format!("{p}/")
    }
}

/// Every item under `prefix` on a ref, page after page, in path order; with a delimiter,
/// common prefixes too.
/// What a reader reads: a ref, or a tree no commit names yet (the tree a merge would
/// produce, for the checks that judge it before it is committed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// A branch (with its uncommitted changes), a tag, a commit, any ref expression.
    Ref(String),
    /// A tree by its root range id.
    Tree(String),
}

impl std::fmt::Display for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ref(r) => f.write_str(r),
            Self::Tree(t) => write!(f, "tree:{t}"),
        }
    }
}

/// Every item under `prefix` of a ref (see [`list_view_items`]).
pub async fn list_items(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
    delimiter: Option<&str>,
) -> sluice_meta::Result<Vec<ListItem>> {
    list_view_items(
        engine,
        repo,
        &View::Ref(reference.to_string()),
        prefix,
        delimiter,
    )
    .await
}

/// Every item under `prefix` of a view, paging through the listing.
pub async fn list_view_items(
    engine: &Engine,
    repo: &str,
    view: &View,
    prefix: &str,
    delimiter: Option<&str>,
) -> sluice_meta::Result<Vec<ListItem>> {
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let options = ListOptions {
            prefix: prefix.to_string(),
            delimiter: delimiter.map(str::to_string),
            after: after.clone(),
            limit: 1000,
        };
        let page = match view {
            View::Ref(reference) => engine.list_objects(repo, reference, &options).await?,
            View::Tree(tree) => engine.list_tree(repo, tree, &options).await?,
        };
        after = page.items.last().map(|i| i.key().to_string());
        items.extend(page.items);
        if !page.has_more {
            return Ok(items);
        }
    }
}

/// Every object under `prefix` on a ref, in path order.
pub async fn list_all(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
) -> Result<Vec<(String, Entry)>> {
    let items = list_items(engine, repo, reference, prefix, None).await?;
    Ok(items
        .into_iter()
        .filter_map(|item| match item {
            ListItem::Object(path, entry) => Some((path, entry)),
            ListItem::Prefix(_) => None,
        })
        .collect())
}

/// The data files under a prefix of a view, as a reader of tables sees them.
#[derive(Debug, Default)]
pub struct DataListing {
    /// The data files: Parquet files by Spark's rules, and in a Delta table its live files.
    pub files: Vec<DataFile>,
    /// Objects under the prefix passed over: markers, hidden files, logs, and files a Delta
    /// table no longer holds.
    pub skipped: u64,
    /// The Delta tables in (or around) the prefix, as the view holds them.
    pub tables: Vec<DeltaTable>,
    /// Files a Delta log holds live that the view does not have.
    pub missing: Vec<String>,
}

/// The data files under `prefix` on a ref (see [`list_view_data_files`]).
pub async fn list_data_files(
    engine: &Engine,
    repo: &str,
    reference: &str,
    prefix: &str,
) -> Result<DataListing> {
    list_view_data_files(engine, repo, &View::Ref(reference.to_string()), prefix).await
}

/// The data files under `prefix` of a view. A folder with a `_delta_log/` is a Delta table,
/// whose data files are the ones its log holds live at the view; a prefix inside a table (a
/// partition folder) is read through the table too. Elsewhere Spark's rules apply.
pub async fn list_view_data_files(
    engine: &Engine,
    repo: &str,
    view: &View,
    prefix: &str,
) -> Result<DataListing> {
    let objects: Vec<(String, Entry)> = list_view_items(engine, repo, view, prefix, None)
        .await?
        .into_iter()
        .filter_map(|item| match item {
            ListItem::Object(path, entry) => Some((path, entry)),
            ListItem::Prefix(_) => None,
        })
        .collect();
    let total = objects.len() as u64;
    let mut roots: BTreeSet<String> = objects
        .iter()
        .filter_map(|(path, _)| delta::root_of_log_path(path))
        .map(str::to_string)
        .collect();
    if !roots.contains(prefix)
        && let Some(root) = delta::enclosing_table(engine, repo, view, prefix).await?
    {
        roots.insert(root);
    }
    let store = RefStore::over(engine.clone(), repo, view.clone());
    let mut tables = Vec::with_capacity(roots.len());
    for root in &roots {
        tables.push(delta::read_table(&store, root).await?);
    }
    let mut held = HashSet::new();
    let mut files = Vec::new();
    for (path, entry) in objects {
        // A file belongs to the deepest table whose folder holds it.
        let table = tables
            .iter()
            .filter(|t| path.starts_with(&t.path))
            .max_by_key(|t| t.path.len());
        match table {
            Some(t) => {
                if let Some(&deleted_rows) = t.live.get(&path) {
                    held.insert(path.clone());
                    files.push(DataFile {
                        path,
                        entry,
                        delta: Some(DeltaFile {
                            table: t.path.clone(),
                            deleted_rows,
                            column_mapping: t.column_mapping,
                        }),
                    });
                }
            }
            None if is_data_file(prefix, &path) => files.push(DataFile::plain(path, entry)),
            None => {}
        }
    }
    let mut missing: Vec<String> = tables
        .iter()
        .flat_map(|t| t.live.keys())
        .filter(|p| p.starts_with(prefix) && !held.contains(*p))
        .cloned()
        .collect();
    missing.sort();
    let skipped = total - files.len() as u64;
    Ok(DataListing {
        files,
        skipped,
        tables,
        missing,
    })
}

/// What a ref changed under a prefix since a commit: each touched data path with its entry
/// before (at the base) and after (on the ref, including a branch's uncommitted changes).
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// Data files on the ref that are new or differ from the base.
    pub added: Vec<DataFile>,
    /// Data files at the base that the ref removed or replaced.
    pub removed: Vec<DataFile>,
}

impl Change {
    /// Every touched path (added or removed).
    pub fn touched(&self) -> impl Iterator<Item = &str> {
        self.added
            .iter()
            .chain(&self.removed)
            .map(|f| f.path.as_str())
    }
}

/// The change from commit `base` to `reference` under `prefix`. The walk follows the size of
/// the change: shared ranges of the two trees are passed over unread.
pub async fn change_since(
    engine: &Engine,
    repo: &str,
    base: &str,
    reference: &str,
    prefix: &str,
) -> Result<Change> {
    let resolved = engine.resolve_ref(repo, reference).await?;
    // path -> (before, after)
    let mut touched: BTreeMap<String, (Option<Entry>, Option<Entry>)> = BTreeMap::new();
    let head = resolved.commit.as_str();
    let committed = all_diffs(prefix, |options| async move {
        engine.diff(repo, base, head, &options).await
    })
    .await?;
    for d in committed {
        touched.insert(d.path, (d.left, d.right));
    }
    if let Some(branch) = &resolved.branch {
        let staged = all_diffs(prefix, |options| async move {
            engine.diff_uncommitted(repo, branch, &options).await
        })
        .await?;
        for d in staged {
            let right = match d.kind {
                ChangeKind::Removed => None,
                _ => d.right,
            };
            match touched.get_mut(&d.path) {
                Some(pair) => pair.1 = right,
                // Untouched by commits: the head's entry is the base's.
                None => {
                    touched.insert(d.path, (d.left, right));
                }
            }
        }
    }
    let roots = delta_roots_touched(engine, repo, base, reference, prefix, &touched).await?;
    let mut change = Change::default();
    for (path, (before, after)) in touched {
        if before == after || !is_data_file(prefix, &path) {
            continue;
        }
        if let Some(entry) = before {
            change.removed.push(DataFile::plain(path.clone(), entry));
        }
        if let Some(entry) = after {
            change.added.push(DataFile::plain(path, entry));
        }
    }
    for root in roots {
        delta_change(engine, repo, base, reference, prefix, &root, &mut change).await?;
    }
    Ok(change)
}

/// The Delta tables whose folders the change touched: the log's own folder, or any folder
/// above a touched Parquet file (up to the repository's root) that holds a log on either side.
async fn delta_roots_touched<T>(
    engine: &Engine,
    repo: &str,
    base: &str,
    reference: &str,
    prefix: &str,
    touched: &BTreeMap<String, T>,
) -> Result<BTreeSet<String>> {
    let mut roots = BTreeSet::new();
    let mut folders = BTreeSet::new();
    for path in touched.keys() {
        if let Some(root) = delta::root_of_log_path(path) {
            roots.insert(root.to_string());
        } else if is_data_file(prefix, path) {
            let mut end = 0;
            while let Some(i) = path[end..].find('/') {
                folders.insert(path[..end].to_string());
                end += i + 1;
            }
            folders.insert(path[..end].to_string());
        }
    }
    let sides = [
        View::Ref(base.to_string()),
        View::Ref(reference.to_string()),
    ];
    // A prefix inside a table: its log (outside the prefix) may have changed alone.
    for side in &sides {
        if let Some(root) = delta::enclosing_table(engine, repo, side, prefix).await? {
            roots.insert(root);
        }
    }
    for folder in folders.difference(&roots.clone()) {
        for side in &sides {
            if delta::is_table(engine, repo, side, folder).await? {
                roots.insert(folder.clone());
                break;
            }
        }
    }
    Ok(roots)
}

/// Replace what `change` says of the Delta table in `root` by the change of its live files:
/// files it added or removed in its log, whatever else moved in its folder.
async fn delta_change(
    engine: &Engine,
    repo: &str,
    base: &str,
    reference: &str,
    prefix: &str,
    root: &str,
    change: &mut Change,
) -> Result<()> {
    // The part of the table under the prefix (the prefix may be inside the table, or hold it).
    let scope = if prefix.starts_with(root) {
        prefix
    } else {
        root
    };
    change.added.retain(|f| !f.path.starts_with(scope));
    change.removed.retain(|f| !f.path.starts_with(scope));
    let before = list_data_files(engine, repo, base, scope).await?.files;
    let after = list_data_files(engine, repo, reference, scope).await?.files;
    let before_by_path: HashMap<&str, &DataFile> =
        before.iter().map(|f| (f.path.as_str(), f)).collect();
    let after_by_path: HashMap<&str, &DataFile> =
        after.iter().map(|f| (f.path.as_str(), f)).collect();
    for f in &after {
        if before_by_path.get(f.path.as_str()) != Some(&f) {
            change.added.push(f.clone());
        }
    }
    for f in &before {
        if after_by_path.get(f.path.as_str()) != Some(&f) {
            change.removed.push(f.clone());
        }
    }
    change.added.sort_by(|a, b| a.path.cmp(&b.path));
    change.removed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(())
}

/// Every page of a diff under `prefix`.
async fn all_diffs<F, Fut>(prefix: &str, mut page: F) -> Result<Vec<DiffEntry>>
where
    F: FnMut(DiffOptions) -> Fut,
    Fut: std::future::Future<Output = sluice_meta::Result<sluice_meta::DiffPage>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let options = DiffOptions {
            prefix: prefix.to_string(),
            after: after.clone(),
            limit: 1000,
        };
        let p = page(options).await?;
        after = p.changes.last().map(|d| d.path.clone());
        out.extend(p.changes);
        if !p.has_more {
            return Ok(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spark_rules() {
        let p = "t/";
        assert!(is_data_file(p, "t/part-0000.snappy.parquet"));
        assert!(is_data_file(p, "t/date=2024-01-01/part-0.parquet"));
        assert!(is_data_file(p, "t/_col=1/part-0.parquet"));
        assert!(is_data_file(p, "t/x.PARQ"));
        assert!(!is_data_file(p, "t/_SUCCESS"));
        assert!(!is_data_file(p, "t/_committed_123"));
        assert!(!is_data_file(p, "t/_temporary/0/part-0.parquet"));
        assert!(!is_data_file(p, "t/.part-0.parquet.crc"));
        assert!(!is_data_file(p, "t/.hidden/part-0.parquet"));
        assert!(!is_data_file(p, "t/part-0.csv"));
        assert!(!is_data_file(p, "t/part-0.parquet._COPYING_"));
        // Only what is below the prefix counts: a hidden prefix itself may be asked for.
        assert!(is_data_file("_staging/", "_staging/a.parquet"));
        assert!(is_data_file("t/a.parquet", "t/a.parquet"));
    }

    #[test]
    fn prefixes_are_folders() {
        assert_eq!(folder_prefix(""), "");
        assert_eq!(folder_prefix("reviews"), "reviews/");
        assert_eq!(folder_prefix("/reviews/"), "reviews/");
        assert_eq!(folder_prefix("reviews/a.parquet"), "reviews/a.parquet");
    }
}
